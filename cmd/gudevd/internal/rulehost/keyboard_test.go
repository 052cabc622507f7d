package rulehost

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/gudevd/gudevd/rules/builtin"
)

// TestEvdevIoctlNumbers: the request numbers are the kernel's (as
// <linux/input.h> gives them on x86-64).
func TestEvdevIoctlNumbers(t *testing.T) {
	for _, tt := range []struct {
		name      string
		got, want uint
	}{
		{"EVIOCSKEYCODE", eviocskeycode, 0x40084504},
		{"EVIOCGABS(ABS_X)", eviocgabs(0), 0x80184540},
		{"EVIOCSABS(ABS_MT_POSITION_X)", eviocsabs(0x35), 0x401845f5},
		{"EVIOCGBIT(0, 4)", eviocgbit0(4), 0x80044520},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %#x, want %#x", tt.name, tt.got, tt.want)
		}
	}
}

// TestApplyKeyboardSerio: the force-release codes are appended to the
// serio parent's attribute and the sensitivity written; a remap on a node
// that is not an event device fails with the kernel's ENOTTY and does not
// stop the rest.
func TestApplyKeyboardSerio(t *testing.T) {
	root := t.TempDir()
	serio := filepath.Join(root, "devices/platform/i8042/serio1")
	input := filepath.Join(serio, "input/input3/event3")
	for _, d := range []string{input, filepath.Join(root, "bus/serio")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for p, s := range map[string]string{
		filepath.Join(serio, "uevent"): "", filepath.Join(input, "uevent"): "",
		filepath.Join(serio, "force_release"): "130\n", filepath.Join(serio, "sensitivity"): "128\n",
	} {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("../../../bus/serio", filepath.Join(serio, "subsystem")); err != nil {
		t.Fatal(err)
	}
	node := filepath.Join(t.TempDir(), "event3")
	if err := os.WriteFile(node, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	dev := &builtin.Device{Sysfs: os.DirFS(root), Syspath: "devices/platform/i8042/serio1/input/input3/event3", Props: map[string]string{"DEVNAME": node}}
	sens := 200
	err := ApplyKeyboard(root, dev, builtin.KeyboardActions{
		Remaps: []builtin.KeyRemap{{Scancode: 0x81, Keycode: 113}}, ForceRelease: []uint32{0x81, 0x82}, Sensitivity: &sens,
	})
	if !errors.Is(err, unix.ENOTTY) {
		t.Errorf("err = %v, want ENOTTY from EVIOCSKEYCODE on a regular file", err)
	}
	for f, want := range map[string]string{"force_release": "130,129,130", "sensitivity": "200"} {
		if b, _ := os.ReadFile(filepath.Join(serio, f)); string(b) != want {
			t.Errorf("%s = %q, want %q", f, b, want)
		}
	}
}
