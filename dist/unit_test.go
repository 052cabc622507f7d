package dist

import (
	"bufio"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// unit is a systemd unit file as section -> key -> values in order. Each
// assignment appends (an empty one too, which systemd reads as a reset);
// "#" and ";" start comments; a trailing backslash continues a line.
type unit map[string]map[string][]string

func parseUnit(text string) (unit, error) {
	u := unit{}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		for strings.HasSuffix(line, "\\") && sc.Scan() {
			n++
			line = strings.TrimSuffix(line, "\\") + " " + strings.TrimSpace(sc.Text())
		}
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
		default:
			key, val, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				return nil, fmt.Errorf("line %d: %q is no assignment in a section", n, line)
			}
			key = strings.TrimSpace(key)
			u[section][key] = append(u[section][key], strings.TrimSpace(val))
		}
	}
	return u, sc.Err()
}

// words splits every value of a list setting (Before=, Conflicts=).
func (u unit) words(section, key string) []string {
	var w []string
	for _, v := range u[section][key] {
		w = append(w, strings.Fields(v)...)
	}
	return w
}

func loadUnit(t *testing.T, path string) unit {
	t.Helper()
	u, err := parseUnit(readFile(t, path))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return u
}

func TestParseUnitRejectsGarbage(t *testing.T) {
	for _, text := range []string{"Type=notify\n", "[Service]\nType notify\n"} {
		if _, err := parseUnit(text); err == nil {
			t.Errorf("parseUnit(%q) = nil error", text)
		}
	}
}

// TestGudevdService checks the settings the design rests on: an early
// service ordered before sysinit.target but not before udevd or its
// trigger (whose events its scan makes up for), ready only when it says
// so, stopped cleanly at shutdown, and no RuntimeDirectory= that would
// delete /run/gudevd.
func TestGudevdService(t *testing.T) {
	u := loadUnit(t, "systemd/gudevd.service")
	for _, tt := range []struct{ section, key, want string }{
		{"Unit", "DefaultDependencies", "no"},
		{"Unit", "Conflicts", "shutdown.target"},
		{"Unit", "ConditionPathIsReadWrite", "/sys"},
		{"Service", "Type", "notify"},
		{"Service", "ExecStart", "/usr/sbin/gudevd daemon --coldplug=scan --kernel-modprobe"},
		{"Service", "Restart", "on-failure"},
		{"Service", "KillMode", "mixed"},
		{"Install", "WantedBy", "sysinit.target"},
	} {
		if got := u[tt.section][tt.key]; !slices.Equal(got, []string{tt.want}) {
			t.Errorf("[%s] %s = %q, want %q", tt.section, tt.key, got, tt.want)
		}
	}
	before := u.words("Unit", "Before")
	for _, w := range []string{"sysinit.target", "shutdown.target"} {
		if !slices.Contains(before, w) {
			t.Errorf("Before= %q lacks %s", before, w)
		}
	}
	for _, w := range []string{"systemd-udevd.service", "systemd-udev-trigger.service"} {
		if slices.Contains(before, w) {
			t.Errorf("Before= %q has %s: the daemon's start would hold up the coldplug", before, w)
		}
	}
	for _, key := range []string{"RuntimeDirectory", "After", "Requires", "Wants"} {
		if v, ok := u["Service"][key]; ok {
			t.Errorf("[Service] %s = %q, want none", key, v)
		}
		if v, ok := u["Unit"][key]; ok {
			t.Errorf("[Unit] %s = %q, want none (an early unit waits for nothing)", key, v)
		}
	}
}

// TestModprobeDropIn: the drop-in orders modprobe@ after gudevd and
// replaces the packaged ExecStart by the same command through gudevd.
func TestModprobeDropIn(t *testing.T) {
	pkg := loadUnit(t, "testdata/systemd-252/modprobe@.service")
	drop := loadUnit(t, "systemd/modprobe@.service.d/gudevd.conf")
	exec := pkg["Service"]["ExecStart"]
	if len(exec) != 1 || !strings.Contains(exec[0], "/sbin/modprobe ") {
		t.Fatalf("packaged ExecStart = %q, want one /sbin/modprobe line", exec)
	}
	want := []string{"", strings.Replace(exec[0], "/sbin/modprobe ", "/usr/sbin/gudevd modprobe ", 1)}
	if diff := cmp.Diff(want, drop["Service"]["ExecStart"]); diff != "" {
		t.Errorf("drop-in ExecStart (-want +got):\n%s", diff)
	}
	if got := drop.words("Unit", "After"); !slices.Equal(got, []string{"gudevd.service"}) {
		t.Errorf("After= %q, want gudevd.service", got)
	}
}

// TestInitrdDropIn: in a dracut initrd gudevd.service is stopped before
// switch-root the way systemd 252 stops systemd-udevd: by
// initrd-udevadm-cleanup-db.service's Conflicts= and After=.
func TestInitrdDropIn(t *testing.T) {
	u := loadUnit(t, "dracut/90gudevd/initrd-udevadm-cleanup-db.conf")
	for _, key := range []string{"Conflicts", "After"} {
		if got := u.words("Unit", key); !slices.Equal(got, []string{"gudevd.service"}) {
			t.Errorf("%s= %q, want gudevd.service", key, got)
		}
	}
}
