package rulehost

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/gudevd/gudevd/rules/builtin"
)

func TestEviocgabs(t *testing.T) {
	// linux/input.h: EVIOCGABS(ABS_X) is 0x80184540, EVIOCGABS(ABS_Y) 0x80184541.
	for axis, want := range map[int]uint{absX: 0x80184540, absY: 0x80184541} {
		if got := eviocgabs(axis); got != want {
			t.Errorf("EVIOCGABS(%d) = %#x, want %#x", axis, got, want)
		}
	}
}

func TestEvdevAbs(t *testing.T) {
	plain := filepath.Join(t.TempDir(), "event0")
	if err := os.WriteFile(plain, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		props map[string]string
		err   error
	}{
		{name: "no node", props: map[string]string{}, err: ErrNoNode},
		{name: "missing node", props: map[string]string{"DEVNAME": filepath.Join(t.TempDir(), "none")}, err: os.ErrNotExist},
		{name: "not an event device", props: map[string]string{"DEVNAME": plain}, err: syscall.ENOTTY},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := EvdevAbs(t.Context(), &builtin.Device{Syspath: "devices/x/input/input0/event0", Props: tt.props})
			if !errors.Is(err, tt.err) {
				t.Errorf("error %v, want %v", err, tt.err)
			}
		})
	}
}
