package main

import (
	"bytes"
	"errors"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestGuestTestBuiltin runs test-builtin's printing for every device of
// the guest that `udevadm test-builtin NAME` ran for
// (rules/builtin/testdata/guest/NAME) and compares the lines and whether
// it failed.
func TestGuestTestBuiltin(t *testing.T) {
	g := guestHost(t)
	for _, name := range []string{"blkid", "hwdb", "input_id", "net_id", "path_id", "usb_id"} {
		t.Run(name, func(t *testing.T) {
			caps, err := filepath.Glob(filepath.Join(guestBuiltinDir, name, "*.txt"))
			if err != nil || len(caps) == 0 {
				t.Fatalf("no captures: %v", err)
			}
			same := 0
			for _, f := range caps {
				c := readGuestCapture(t, f)
				var stdout, stderr bytes.Buffer
				e := &env{stdout: &stdout, stderr: &stderr, log: slog.New(slog.DiscardHandler)}
				err := testBuiltin(t.Context(), g.host, g.env, g.sysfs, name, c.devpath, "add", e)
				if msg := builtinDiff(c, stdout.String(), err); msg != "" {
					t.Errorf("%s %s: %s%s", name, c.devpath, msg, stderr.String())
					continue
				}
				same++
			}
			t.Logf("%s: %d of %d devices as udevadm test-builtin 252", name, same, len(caps))
		})
	}
}

func builtinDiff(c guestCapture, out string, err error) string {
	if failed := errors.Is(err, errQuietFailure); failed != (c.exit != 0) {
		return "failed: " + errString(err) + ", udevadm's exit " + strconv.Itoa(c.exit)
	}
	var got []string
	if out != "" {
		got = strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	}
	want := c.lines
	if len(want) == 0 || len(want) == 1 && want[0] == "" {
		want = nil
	}
	if diff := cmp.Diff(want, got); diff != "" {
		return "(-udevadm +gudevd):\n" + diff
	}
	return ""
}

func errString(err error) string {
	if err == nil {
		return "none"
	}
	return err.Error()
}

func TestTestBuiltinUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want int
	}{
		{name: "no arguments", args: []string{"gudevd", "test-builtin"}, want: 2},
		{name: "no device", args: []string{"gudevd", "test-builtin", "path_id"}, want: 2},
		{name: "bad action", args: []string{"gudevd", "test-builtin", "--action", "nope", "path_id", "/devices/x"}, want: 2},
		{name: "test without a device", args: []string{"gudevd", "test"}, want: 2},
		{name: "test with a bad action", args: []string{"gudevd", "test", "--action=nope", "/devices/x"}, want: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			e := &env{stdout: &stdout, stderr: &stderr, log: slog.New(slog.DiscardHandler), getenv: func(string) string { return "" }}
			if got := run(t.Context(), tt.args, e); got != tt.want {
				t.Errorf("exit %d, want %d (stderr %q)", got, tt.want, stderr.String())
			}
		})
	}
}
