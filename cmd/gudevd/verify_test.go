package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// runVerify runs `gudevd verify args...` in-process, with the process's
// environment but its own output streams.
func runVerify(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	e := newEnv()
	e.stdout, e.stderr, e.log = &out, &errb, slog.New(slog.DiscardHandler)
	code = run(context.Background(), append([]string{"gudevd", "verify"}, args...), e)
	return code, out.String(), errb.String()
}

func TestVerifyCommand(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"etc/group":                             "kvm:x:104:\n",
		"usr/lib/udev/rules.d/50-good.rules":    "KERNEL==\"kvm\", GROUP=\"kvm\", MODE=\"0660\"\n",
		"usr/lib/udev/rules.d/60-warn.rules":    "KERNEL==\"eth0\", NAME+=\"lan0\"\n",
		"etc/udev/rules.d/70-bad.rules":         "KERNEL==\"sda\"\nKERNEL=\"sda\", RUN+=\"x\"\n",
		"usr/lib/udev/rules.d/70-bad.rules":     "RUN+=\"hidden by /etc\"\n",
		"usr/lib/udev/rules.d/80-nogroup.rules": "KERNEL==\"kvm\", GROUP=\"nosuch\"\n",
	})
	rulesDir := filepath.Join(root, "usr/lib/udev/rules.d")
	cases := []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{"standard directories with an error", []string{"--root", root}, 1, "" +
			"warning: /usr/lib/udev/rules.d/60-warn.rules:1: NAME key takes '==', '!=', '=', or ':=' operator, assuming '='.\n" +
			"warning: /etc/udev/rules.d/70-bad.rules:1: The line takes no effect, ignoring.\n" +
			"/etc/udev/rules.d/70-bad.rules:2: Invalid operator for KERNEL.\n" +
			"warning: /usr/lib/udev/rules.d/80-nogroup.rules:1: Unknown group 'nosuch', ignoring\n" +
			"4 files, 3 rules, 1 errors, 3 warnings\n"},
		{"a directory with warnings only", []string{"--root", root, rulesDir}, 0, "" +
			"warning: " + rulesDir + "/60-warn.rules:1: NAME key takes '==', '!=', '=', or ':=' operator, assuming '='.\n" +
			"warning: " + rulesDir + "/80-nogroup.rules:1: Unknown group 'nosuch', ignoring\n" +
			"4 files, 4 rules, 0 errors, 2 warnings\n"},
		{"one clean file", []string{"--root", root, filepath.Join(rulesDir, "50-good.rules")}, 0,
			"1 files, 1 rules, 0 errors, 0 warnings\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errs := runVerify(t, c.args...)
			if code != c.wantCode || out != "" {
				t.Errorf("exit %d, stdout %q; want %d and nothing", code, out, c.wantCode)
			}
			if d := cmp.Diff(c.want, errs); d != "" {
				t.Errorf("stderr (-want +got):\n%s", d)
			}
		})
	}
	t.Run("masked by a link to /dev/null on disk, /lib a link to usr/lib", func(t *testing.T) {
		root := t.TempDir()
		writeTree(t, root, map[string]string{"usr/lib/udev/rules.d/60-warn.rules": "NAME+=\"x\"\n"})
		if err := os.MkdirAll(filepath.Join(root, "etc/udev/rules.d"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("/dev/null", filepath.Join(root, "etc/udev/rules.d/60-warn.rules")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("usr/lib", filepath.Join(root, "lib")); err != nil {
			t.Fatal(err)
		}
		code, _, errs := runVerify(t, "--root", root)
		if d := cmp.Diff("0 files, 0 rules, 0 errors, 0 warnings\n", errs); code != 0 || d != "" {
			t.Errorf("exit %d, stderr (-want +got):\n%s", code, d)
		}
	})
	t.Run("missing argument", func(t *testing.T) {
		code, _, errs := runVerify(t, filepath.Join(root, "nope.rules"))
		if code != 1 || !strings.Contains(errs, "nope.rules") {
			t.Errorf("exit %d, stderr %q; want 1 naming the file", code, errs)
		}
	})
}
