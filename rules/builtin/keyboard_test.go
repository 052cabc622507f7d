package builtin

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func i32(v int32) *int32 { return &v }

func TestKeyboard(t *testing.T) {
	sens := 200
	tests := []struct {
		name     string
		props    map[string]string
		want     KeyboardActions
		problems []string
	}{
		{"key names", map[string]string{
			"KEYBOARD_KEY_1e": "volumeup",
			"KEYBOARD_KEY_a0": "key_mute",
			"KEYBOARD_KEY_b0": "btn_left",
			"KEYBOARD_KEY_c0": "0x100",
			"KEYBOARD_KEY_d0": "0o17",
			"KEYBOARD_KEY_e0": "hanguel", // an alias of hangeul
		}, KeyboardActions{Remaps: []KeyRemap{{0x1e, 115}, {0xa0, 113}, {0xb0, 272}, {0xc0, 256}, {0xd0, 15}, {0xe0, 122}}}, nil},
		{"force release", map[string]string{
			"KEYBOARD_KEY_0x81": "!mute",
			"KEYBOARD_KEY_82":   "!",
		}, KeyboardActions{Remaps: []KeyRemap{{0x81, 113}}, ForceRelease: []uint32{0x81, 0x82}}, nil},
		{"bad keys", map[string]string{
			"KEYBOARD_KEY_zz": "mute",
			"KEYBOARD_KEY_10": "VOLUMEUP", // names are lower case
			"KEYBOARD_KEY_11": "key_max",  // not a key
			"KEYBOARD_KEY_12": "-1",
		}, KeyboardActions{}, []string{
			`KEYBOARD_KEY_10: unknown key "VOLUMEUP"`,
			`KEYBOARD_KEY_11: unknown key "key_max"`,
			`KEYBOARD_KEY_12: unknown key "-1"`,
			"KEYBOARD_KEY_zz: bad scan code",
		}},
		{"abs overrides", map[string]string{
			"EVDEV_ABS_00": "1:1000:50",
			"EVDEV_ABS_35": "::20:2:-3:99",
			"EVDEV_ABS_01": "0x10",
			"EVDEV_ABS_02": "1:x",
			"EVDEV_ABS_gg": "1",
		}, KeyboardActions{Abs: []AbsOverride{
			{Code: 0, Minimum: i32(1), Maximum: i32(1000), Resolution: i32(50)},
			{Code: 1, Minimum: i32(16)},
			{Code: 0x35, Resolution: i32(20), Fuzz: i32(2), Flat: i32(-3)},
		}}, []string{`EVDEV_ABS_02: bad override "1:x"`, "EVDEV_ABS_gg: bad axis"}},
		{"sensitivity", map[string]string{"POINTINGSTICK_SENSITIVITY": "200"}, KeyboardActions{Sensitivity: &sens}, nil},
		{"sensitivity out of range", map[string]string{"POINTINGSTICK_SENSITIVITY": "256"}, KeyboardActions{},
			[]string{`POINTINGSTICK_SENSITIVITY "256" outside 0..255`}},
		{"other properties", map[string]string{"ID_INPUT_KEY": "1", "KEYBOARD_KEY": "x"}, KeyboardActions{}, nil},
		{"no scan code", map[string]string{"KEYBOARD_KEY_": "x"}, KeyboardActions{}, []string{"KEYBOARD_KEY_: bad scan code"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			props := map[string]string{"DEVNAME": "/dev/input/event3"}
			for k, v := range tc.props {
				props[k] = v
			}
			got, err := Keyboard(context.Background(), &Device{Props: props}, []string{"keyboard"})
			if err != nil {
				t.Fatal(err)
			}
			var problems []string
			for _, p := range got.Problems {
				problems = append(problems, p.Error())
			}
			got.Problems = nil
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("actions (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.problems, problems); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestKeyboardNoDevname(t *testing.T) {
	_, err := Keyboard(context.Background(), &Device{Props: map[string]string{"KEYBOARD_KEY_1e": "a"}}, nil)
	if !errors.Is(err, ErrNoDevname) {
		t.Fatalf("Keyboard without DEVNAME: %v, want ErrNoDevname", err)
	}
}

func TestForceReleaseValue(t *testing.T) {
	tests := []struct {
		name, current, want string
		codes               []uint32
	}{
		{"empty", "", ",129,130", []uint32{0x81, 0x82}},
		{"appended", "157,184", "157,184,129", []uint32{0x81}},
		{"none", "157", "157", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := KeyboardActions{ForceRelease: tc.codes}.ForceReleaseValue(tc.current)
			if got != tc.want {
				t.Errorf("ForceReleaseValue(%q) = %q, want %q", tc.current, got, tc.want)
			}
		})
	}
}
