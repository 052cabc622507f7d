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

// TestGuestTestBuiltinEffects runs the builtins whose effect gudevd does
// not carry out here, and those Env cannot run, on the guest.
func TestGuestTestBuiltinEffects(t *testing.T) {
	g := guestHost(t)
	tests := []struct {
		name, cmd, devpath string
		failed             bool
		stdout             string
		stderr             string // a part of it
	}{
		{
			name: "net_setup_link's properties, its rename not done", cmd: "net_setup_link", devpath: "/devices/pci0000:00/0000:00:01.0/net/enp0s1",
			stdout: "ID_NET_DRIVER=e1000\nID_NET_LINK_FILE=/usr/lib/systemd/network/99-default.link\nID_NET_NAME=enp0s1\n",
			stderr: "net_setup_link: builtin effect not applied",
		},
		{name: "keyboard sets nothing", cmd: "keyboard", devpath: "/devices/platform/i8042/serio0/input/input0/event0"},
		{name: "kmod of the MODALIAS through the loader", cmd: "kmod load", devpath: "/devices/pci0000:00/0000:00:05.0"},
		{name: "kmod without a MODALIAS", cmd: "kmod load", devpath: "/devices/virtual/mem/null", failed: true, stderr: "no MODALIAS"},
		{name: "kmod without load", cmd: "kmod", devpath: "/devices/virtual/mem/null", failed: true, stderr: "expected: load"},
		{name: "btrfs without its check", cmd: "btrfs ready /dev/vda", devpath: "/devices/pci0000:00/0000:00:05.0/virtio2/block/vda", failed: true, stderr: "not available"},
		{name: "a prefix names a builtin", cmd: "path", devpath: "/devices/pci0000:00/0000:00:05.0/virtio2/block/vda", stdout: "ID_PATH=pci-0000:00:05.0\nID_PATH_TAG=pci-0000_00_05_0\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			e := &env{stdout: &stdout, stderr: &stderr, log: slog.New(slog.DiscardHandler)}
			err := testBuiltin(t.Context(), g.host, g.env, g.sysfs, tt.cmd, tt.devpath, "add", e)
			if failed := errors.Is(err, errQuietFailure); failed != tt.failed || err != nil && !failed {
				t.Fatalf("error %v, want failed %v", err, tt.failed)
			}
			if diff := cmp.Diff(tt.stdout, stdout.String()); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
			if !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tt.stderr)
			}
		})
	}
}
