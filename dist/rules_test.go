package dist

import (
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// ruleLines are a rules file's rules: no comments, no blank lines.
func ruleLines(text string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

var builtinKmod = regexp.MustCompile(`RUN\{builtin\}\+="kmod load ?([^"]*)"`)

// gudevdRule is what a systemd line becomes: none for the MODALIAS line
// (the daemon loads every MODALIAS from its own uevents), and for the
// others the builtin `kmod load ARGS` run as the program `gudevd kmod load
// ARGS`, which does what the builtin does (the blacklist applied, exit 0)
// through the daemon.
func gudevdRule(line string) string {
	if m := builtinKmod.FindStringSubmatch(line); m != nil && strings.TrimSpace(m[1]) == "" {
		return ""
	}
	return builtinKmod.ReplaceAllStringFunc(line, func(m string) string {
		args := builtinKmod.FindStringSubmatch(m)[1]
		return `RUN+="` + strings.TrimSpace("/usr/sbin/gudevd kmod load "+args) + `"`
	})
}

// TestDriversRulesMirrorSystemd: the override has exactly systemd 252's
// rules, in order, each builtin load run as `gudevd kmod load`: one RUN
// per systemd line but the MODALIAS one, and nothing else.
func TestDriversRulesMirrorSystemd(t *testing.T) {
	sys := ruleLines(readFile(t, "testdata/systemd-252/80-drivers.rules"))
	loads := 0
	var want []string
	for _, l := range sys {
		if builtinKmod.MatchString(l) {
			loads++
		}
		if r := gudevdRule(l); r != "" {
			want = append(want, r)
		}
	}
	if loads != 7 {
		t.Fatalf("systemd 252's file has %d builtin loads, want 7: testdata changed?", loads)
	}
	got := ruleLines(readFile(t, "../rules/udev/80-drivers.rules"))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rules/udev/80-drivers.rules (-want +got):\n%s", diff)
	}
	for _, l := range got {
		if strings.Count(l, "RUN") > 1 || strings.Contains(l, "{builtin}") {
			t.Errorf("line %q: want at most one RUN and no builtin", l)
		}
	}
}

func TestGudevdRule(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`ENV{MODALIAS}=="?*", RUN{builtin}+="kmod load"`, ``},
		{`SUBSYSTEM=="i2o", RUN{builtin}+="kmod load i2o_block"`, `SUBSYSTEM=="i2o", RUN+="/usr/sbin/gudevd kmod load i2o_block"`},
		{`SUBSYSTEM=="memstick", RUN{builtin}+="kmod load ms_block mspro_block"`, `SUBSYSTEM=="memstick", RUN+="/usr/sbin/gudevd kmod load ms_block mspro_block"`},
		{`LABEL="drivers_end"`, `LABEL="drivers_end"`},
	} {
		if got := gudevdRule(tt.in); got != tt.want {
			t.Errorf("gudevdRule(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
