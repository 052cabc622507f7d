package dist

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// replaceDropIn is the drop-in that makes systemd-udevd.service run gudevd.
const replaceDropIn = "systemd/replace-udevd/systemd-udevd.service.d/gudevd.conf"

// effective is what systemd makes of a setting's assignments: an empty one
// resets the list, so only the values after the last one count.
func effective(vals []string) []string {
	for i := len(vals) - 1; i >= 0; i-- {
		if vals[i] == "" {
			return vals[i+1:]
		}
	}
	return vals
}

// withDropIn is base with drop's assignments after its own, as systemd
// reads a unit file and then its drop-ins.
func withDropIn(base, drop unit) unit {
	u := unit{}
	for _, src := range []unit{base, drop} {
		for sec, keys := range src {
			if u[sec] == nil {
				u[sec] = map[string][]string{}
			}
			for k, v := range keys {
				u[sec][k] = append(u[sec][k], v...)
			}
		}
	}
	return u
}

// TestReplaceUdevdDropIn: the drop-in replaces ExecStart and nothing else,
// so the packaged unit's Type=notify, watchdog, restart policy, sandbox,
// reload and sockets hold for gudevd as they did for udevd.
func TestReplaceUdevdDropIn(t *testing.T) {
	drop := loadUnit(t, replaceDropIn)
	if diff := cmp.Diff(unit{"Service": {"ExecStart": {"", "/usr/sbin/gudevd daemon --udev"}}}, drop); diff != "" {
		t.Errorf("drop-in (-want +got):\n%s", diff)
	}
	u := withDropIn(loadUnit(t, "testdata/systemd-252/systemd-udevd.service"), drop)
	for _, tt := range []struct {
		key  string
		want []string
	}{
		{"ExecStart", []string{"/usr/sbin/gudevd daemon --udev"}},
		{"Type", []string{"notify"}},
		{"WatchdogSec", []string{"3min"}},
		{"Restart", []string{"always"}},
		{"KillMode", []string{"mixed"}},
		{"ExecReload", []string{"udevadm control --reload --timeout 0"}},
		{"Sockets", []string{"systemd-udevd-control.socket systemd-udevd-kernel.socket"}},
	} {
		if diff := cmp.Diff(tt.want, effective(u["Service"][tt.key])); diff != "" {
			t.Errorf("[Service] %s with the drop-in (-want +got):\n%s", tt.key, diff)
		}
	}
}

// TestUdevdSocketsAsPassed pins what the daemon's fd classification
// (cmd/gudevd/internal/sdaemon) expects of the two packaged socket units:
// a NETLINK_KOBJECT_UEVENT socket bound to group 1 and a SOCK_SEQPACKET
// listener at /run/udev/control, both for systemd-udevd.service.
func TestUdevdSocketsAsPassed(t *testing.T) {
	for _, tt := range []struct {
		file, key, want string
	}{
		{"systemd-udevd-kernel.socket", "ListenNetlink", "kobject-uevent 1"},
		{"systemd-udevd-kernel.socket", "ReceiveBuffer", "128M"},
		{"systemd-udevd-kernel.socket", "PassCredentials", "yes"},
		{"systemd-udevd-control.socket", "ListenSequentialPacket", "/run/udev/control"},
		{"systemd-udevd-control.socket", "PassCredentials", "yes"},
		{"systemd-udevd-control.socket", "RemoveOnStop", "yes"},
	} {
		u := loadUnit(t, "testdata/systemd-252/"+tt.file)
		for key, want := range map[string]string{tt.key: tt.want, "Service": "systemd-udevd.service"} {
			if got := u["Socket"][key]; !slices.Equal(got, []string{want}) {
				t.Errorf("%s [Socket] %s = %q, want %q", tt.file, key, got, want)
			}
		}
	}
}

// TestUdevTriggerNeedsNoDropIn: the packaged coldplug is `udevadm trigger`,
// which writes uevent files; the kernel's events reach whichever daemon
// holds the passed socket, so the unit stays as shipped.
func TestUdevTriggerNeedsNoDropIn(t *testing.T) {
	u := loadUnit(t, "testdata/systemd-252/systemd-udev-trigger.service")
	start := u["Service"]["ExecStart"]
	if len(start) != 1 || !strings.HasPrefix(start[0], "-udevadm trigger ") {
		t.Errorf("packaged ExecStart = %q, want one `-udevadm trigger` line", start)
	}
	if _, err := os.Stat("systemd/replace-udevd/systemd-udev-trigger.service.d"); err == nil {
		t.Error("a drop-in for systemd-udev-trigger.service exists; this test says why none is needed")
	}
}

// TestReplaceUdevdVerify runs systemd 252's own checks, `systemd-analyze
// verify --root`, on a root holding Debian's udev units, the drop-in
// (as an administrator puts it in /etc) and stand-ins for the two
// programs the units run. The drop-in without its ExecStart= reset must
// fail: a Type=notify service takes one command, so the check can fail.
func TestReplaceUdevdVerify(t *testing.T) {
	analyze := requireTool(t, "systemd-analyze")
	shipped := readFile(t, replaceDropIn)
	for _, tt := range []struct {
		name    string
		dropIn  string
		wantErr string // in the output; "" for success
	}{
		{"shipped", shipped, ""},
		{"without the reset", strings.Replace(shipped, "ExecStart=\n", "", 1), "more than one ExecStart="},
	} {
		t.Run(tt.name, func(t *testing.T) {
			root := verifyRoot(t, tt.dropIn)
			cmd := exec.Command(analyze, "verify", "--root="+root, "--man=no", "--generators=no",
				"systemd-udevd.service", "systemd-udev-trigger.service")
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("systemd-analyze verify: %v\n%s", err, out.String())
			case tt.wantErr != "" && (err == nil || !strings.Contains(out.String(), tt.wantErr)):
				t.Errorf("systemd-analyze verify = %v, want a failure saying %q\n%s", err, tt.wantErr, out.String())
			}
		})
	}
}

// verifyRoot builds the root TestReplaceUdevdVerify checks. verify --root
// looks for each command inside the root, ExecReload's bare `udevadm` on
// the default PATH.
func verifyRoot(t *testing.T, dropIn string) string {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		"etc/systemd/system/systemd-udevd.service.d/gudevd.conf": dropIn,
		"usr/sbin/gudevd": "#!/bin/sh\n",
		"bin/udevadm":     "#!/bin/sh\n",
	}
	for _, name := range []string{"systemd-udevd.service", "systemd-udevd-kernel.socket", "systemd-udevd-control.socket", "systemd-udev-trigger.service"} {
		files["lib/systemd/system/"+name] = readFile(t, "testdata/systemd-252/"+name)
	}
	for name, text := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return root
}
