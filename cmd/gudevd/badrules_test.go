package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestMain lets this test binary be its own program worker: the session's
// pool starts os.Executable() as `program-worker`, as the daemon starts
// itself, so the bad-rules test runs the real pool and real programs.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "program-worker" {
		os.Exit(run(context.Background(), os.Args, newEnv()))
	}
	os.Exit(m.Run())
}

// badRulesTree is a root with one device per kind of bad rule, and a
// last one whose rules are fine.
func badRulesTree(t *testing.T) string {
	root := t.TempDir()
	rules := strings.Join([]string{
		// A program that never ends: the event's time runs out, the
		// program is killed with its process group, and the event ends
		// there with what it had decided.
		`KERNEL=="hang", ENV{BEFORE}="yes"`,
		`KERNEL=="hang", PROGRAM="/bin/sh -c 'sleep 60'", ENV{HUNG}="matched"`,
		`KERNEL=="hang", ENV{AFTER}="yes"`,
		// A program that floods: its first 16383 bytes are the result,
		// the rest is read and dropped; the whole result does not fit a
		// property (udevd's 512 bytes), which is refused, its first
		// field does.
		`KERNEL=="flood", PROGRAM="/bin/sh -c 'yes | head -c 1000000'", RESULT=="y*", ENV{FLOOD}="%c", ENV{FIRST}="%c{1}"`,
		// Writes that leave /sys are refused, the event goes on.
		`KERNEL=="outside", ATTR{../../../../../etc/passwd}="x", ENV{OUTSIDE}="done"`,
		// A value that names itself is substituted once, never again.
		`KERNEL=="recurse", ENV{SELF}="$$env{SELF}"`,
		`KERNEL=="recurse", ENV{OUT}="$env{SELF}", ENV{TWICE}="$env{OUT}"`,
		`KERNEL=="fine", ENV{FINE}="1", PROGRAM="/bin/echo still running", RESULT=="still running"`,
	}, "\n") + "\n"
	files := map[string]string{"usr/lib/udev/rules.d/50-bad.rules": rules, "sys/class/mem/.keep": ""}
	for _, n := range []string{"hang", "flood", "outside", "recurse", "fine"} {
		files["sys/devices/virtual/mem/"+n+"/uevent"] = "DEVNAME=" + n + "\n"
	}
	writeTree(t, root, files)
	for _, n := range []string{"hang", "flood", "outside", "recurse", "fine"} {
		if err := os.Symlink("../../../../class/mem", filepath.Join(root, "sys/devices/virtual/mem", n, "subsystem")); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// TestBadRulesEventsGoOn runs events one after another through one session
// (one Host, one pool of program workers), as the daemon's worker does:
// each bad rule gives its diagnostic, its event completes or ends at its
// deadline with what it had, and the events after it run as if nothing
// had happened, on the same pool.
func TestBadRulesEventsGoOn(t *testing.T) {
	if testing.Short() {
		t.Skip("runs programs in worker processes")
	}
	root := badRulesTree(t)
	var logs bytes.Buffer
	e := &env{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, log: slog.New(slog.NewTextHandler(&logs, nil)), getenv: func(string) string { return "" }}
	s, err := newRuleSession(t.Context(), e, root, pooledPrograms)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close(context.Background())
	rs, diags := s.loadRules()
	if len(diags) != 0 {
		t.Fatalf("load: %v", diags)
	}
	tests := []struct {
		dev     string
		timeout time.Duration
		wantErr error
		want    []string // lines of the output
		notWant string   // a line prefix that must not be there
		diag    []string // parts of the diagnostics
	}{
		{dev: "hang", timeout: time.Second, wantErr: context.DeadlineExceeded,
			diag: []string{"50-bad.rules:2", "program timed out"}},
		{dev: "flood", want: []string{"FIRST=y"}, notWant: "FLOOD=",
			diag: []string{"50-bad.rules:4", "truncated while substituting", "refusing to add property 'FLOOD'"}},
		{dev: "outside", want: []string{"OUTSIDE=done"},
			diag: []string{"50-bad.rules:5", "'/etc/passwd', outside /sys, refusing"}},
		{dev: "recurse", want: []string{"SELF=$env{SELF}", "OUT=$env{SELF}", "TWICE=$env{SELF}"}},
		{dev: "fine", want: []string{"FINE=1"}},
	}
	for _, tt := range tests {
		ctx := t.Context()
		if tt.timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, tt.timeout)
			defer cancel()
		}
		var diag bytes.Buffer
		start := time.Now()
		out, err := testEvent(ctx, s.host, s.sysfs, rs, "/devices/virtual/mem/"+tt.dev, "add", &diag)
		if took := time.Since(start); took > tt.timeout+10*time.Second {
			t.Errorf("%s: took %v", tt.dev, took)
		}
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: err %v, want %v", tt.dev, err, tt.wantErr)
		}
		lines := strings.Split(out, "\n")
		for _, w := range tt.want {
			if !slices.Contains(lines, w) {
				t.Errorf("%s: no line %.60q in:\n%s", tt.dev, w, out)
			}
		}
		if tt.notWant != "" && strings.Contains("\n"+out, "\n"+tt.notWant) {
			t.Errorf("%s: a line %q in:\n%.2000s", tt.dev, tt.notWant, out)
		}
		for _, d := range tt.diag {
			if !strings.Contains(diag.String(), d) {
				t.Errorf("%s: diagnostics lack %q:\n%s", tt.dev, d, diag.String())
			}
		}
		if tt.diag == nil && diag.Len() > 0 {
			t.Errorf("%s: unexpected diagnostics:\n%s", tt.dev, diag.String())
		}
	}
	st := s.runner.Stats()
	if st.Runs != 3 || st.TimedOut != 1 || st.Truncated != 1 || st.WorkerLost != 0 {
		t.Errorf("runner stats %+v: want 3 runs, 1 timed out, 1 truncated, no worker lost", st)
	}
	if !strings.Contains(logs.String(), "Truncating stdout") {
		t.Errorf("no truncation warning in the log:\n%s", logs.String())
	}
}
