package builtin

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// TestInputIDFixture: input_id on the input devices of systemd's tree.
func TestInputIDFixture(t *testing.T) {
	runBuiltinGolden(t, sysFixture(t), "input_id/fixture.golden", InputID)
}

const inputDir = "devices/virtual/input/input9"

// inputTree is an input device input9 with its event9, the given
// capabilities ("ev=..."), "properties=..." and "bustype=...", the rest 0.
func inputTree(caps ...string) fstest.MapFS {
	files := map[string]string{"ev": "0", "key": "0", "rel": "0", "abs": "0", "sw": "0"}
	props, bus := "0", "0003"
	for _, c := range caps {
		k, v, _ := strings.Cut(c, "=")
		switch k {
		case "properties":
			props = v
		case "bustype":
			bus = v
		default:
			files[k] = v
		}
	}
	entries := append(sysDir(inputDir, "class/input", "PRODUCT=3/1/1/1"), sysDir(inputDir+"/event9", "class/input", "MAJOR=13")...)
	entries = append(entries, inputDir+"/properties="+props, inputDir+"/id/bustype="+bus)
	for k, v := range files {
		entries = append(entries, inputDir+"/capabilities/"+k+"="+v)
	}
	return mapSysfs(entries...)
}

// TestInputIDInline: the kinds of input devices the fixture lacks, their
// bitmaps shaped as the kernel prints them for such hardware.
func TestInputIDInline(t *testing.T) {
	one := func(keys ...string) []Prop {
		p := []Prop{{"ID_INPUT", "1"}}
		for _, k := range keys {
			p = append(p, Prop{"ID_INPUT_" + k, "1"})
		}
		return p
	}
	for _, tc := range []struct {
		name string
		caps []string
		want []Prop
	}{
		{"QEMU USB tablet: absolute axes and mouse buttons are a mouse",
			[]string{"ev=1f", "key=70000 0 0 0 0", "rel=900", "abs=3"}, one("MOUSE")},
		{"touchpad: BTN_TOOL_FINGER without a pen, not direct",
			[]string{"ev=b", "key=e520 10000 0 0 0 0", "abs=660800011000003", "properties=5"}, one("TOUCHPAD")},
		{"touchscreen: BTN_TOUCH and INPUT_PROP_DIRECT",
			[]string{"ev=b", "key=400 0 0 0 0 0", "abs=260800000000003", "properties=2"}, one("TOUCHSCREEN")},
		{"pen tablet with pad buttons (BTN_0 and a stylus, no pen tool)",
			[]string{"ev=b", "key=800 1 0 0 0 0", "abs=1000003"}, one("TABLET", "TABLET_PAD")},
		{"pen tablet",
			[]string{"ev=b", "key=1c03 0 0 0 0 0", "abs=1000003"}, one("TABLET")},
		{"gamepad: joystick buttons and axes",
			[]string{"ev=1b", "key=7fdb000000000000 0 0 0 0", "abs=3003f"}, one("JOYSTICK")},
		{"a keyboard with stray joystick buttons is no joystick",
			[]string{"ev=13", "key=ffff000000000000 0 0 2400000000020 20000000"}, one("KEY")},
		{"with keys of three keyboard groups it stays a joystick",
			[]string{"ev=13", "key=ffff000000000000 0 0 400000000020 20000000"}, one("JOYSTICK", "KEY")},
		{"one joystick button and nothing else is no joystick",
			[]string{"ev=3", "key=1000000000000000 0 0 0 0"}, []Prop{{"ID_INPUT", "1"}}},
		{"accelerometer: three absolute axes and no keys",
			[]string{"ev=9", "abs=7"}, one("ACCELEROMETER")},
		{"accelerometer by property, whatever else it has",
			[]string{"ev=b", "key=70000 0 0 0 0", "abs=3", "properties=40"}, one("ACCELEROMETER")},
		{"pointing stick by property, also a mouse",
			[]string{"ev=7", "key=70000 0 0 0 0", "rel=3", "properties=21"}, one("POINTINGSTICK", "MOUSE")},
		{"a mouse on I2C is a pointing stick",
			[]string{"ev=7", "key=70000 0 0 0 0", "rel=3", "bustype=0018"}, one("POINTINGSTICK", "MOUSE")},
		{"multitouch positions with BTN_TOUCH: touchscreen",
			[]string{"ev=b", "key=400 0 0 0 0 0", "abs=60800000000000"}, one("TOUCHSCREEN")},
		{"claiming ABS_MT_SLOT and the axis below it too is no multitouch",
			[]string{"ev=b", "key=400 0 0 0 0 0", "abs=60c00000000000"}, []Prop{{"ID_INPUT", "1"}}},
		{"a lone scroll wheel counts as keys",
			[]string{"ev=5", "rel=100"}, one("KEY")},
		{"keys in the high block only (KEY_OK and up)",
			[]string{"ev=3", "key=100000000 0 0 0 0 0"}, one("KEY")},
		{"buttons below KEY_OK are no keys",
			[]string{"ev=3", "key=1 0 0 0 0"}, []Prop{{"ID_INPUT", "1"}}},
		{"switches", []string{"ev=21", "sw=1"}, one("SWITCH")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dev := &Device{Sysfs: inputTree(tc.caps...), Syspath: inputDir + "/event9", Props: map[string]string{}}
			checkBuiltin(t, InputID, dev, tc.want, "")
		})
	}
}

// TestInputIDSurfaceSize: eventN devices get their size in millimetres
// from ABS_X and ABS_Y when the node tells a resolution.
func TestInputIDSurfaceSize(t *testing.T) {
	fsys := inputTree("ev=b", "key=e520 10000 0 0 0 0", "abs=660800011000003", "properties=5")
	touchpad := func(ctx context.Context, dev *Device) (AbsInfo, AbsInfo, error) {
		return AbsInfo{Minimum: 1266, Maximum: 5676, Resolution: 42}, AbsInfo{Minimum: 1096, Maximum: 4758, Resolution: 60}, nil
	}
	qemuTablet := func(ctx context.Context, dev *Device) (AbsInfo, AbsInfo, error) {
		return AbsInfo{Maximum: 32767}, AbsInfo{Maximum: 32767}, nil
	}
	noNode := func(ctx context.Context, dev *Device) (AbsInfo, AbsInfo, error) {
		return AbsInfo{}, AbsInfo{}, errors.New("no such file")
	}
	base := []Prop{{"ID_INPUT", "1"}, {"ID_INPUT_TOUCHPAD", "1"}}
	for _, tc := range []struct {
		name, syspath string
		abs           EvdevAbs
		want          []Prop
	}{
		{"touchpad", inputDir + "/event9", touchpad,
			append(base[:2:2], Prop{"ID_INPUT_WIDTH_MM", "105"}, Prop{"ID_INPUT_HEIGHT_MM", "61"})},
		{"no resolution", inputDir + "/event9", qemuTablet, base},
		{"node unreadable", inputDir + "/event9", noNode, base},
		{"only event devices", inputDir, touchpad, base},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dev := &Device{Sysfs: fsys, Syspath: tc.syspath, Props: map[string]string{}}
			got, err := InputIDWith(tc.abs)(context.Background(), dev, nil)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestParseCapBitmap: words from the right are longs 0, 1...; a word that
// does not parse keeps its place.
func TestParseCapBitmap(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		n        int
		want     capBitmap
	}{
		{"one word", "120013", 1, capBitmap{0x120013}},
		{"most significant first", "70000 0 0 0 0", 12, capBitmap{0, 0, 0, 0, 0x70000, 0, 0, 0, 0, 0, 0, 0}},
		{"empty", "", 2, capBitmap{0, 0}},
		{"a bad word keeps its place", "1 zz 2", 3, capBitmap{2, 0, 1}},
		{"a 0x prefix is taken", "0x10", 1, capBitmap{0x10}},
		{"words past the array dropped", "5 4 3", 2, capBitmap{3, 4}},
		{"double space: an empty word counts", "1  2", 3, capBitmap{2, 0, 1}},
		{"a long's overflow leaves 0", "1ffffffffffffffff", 1, capBitmap{0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, parseCapBitmap(tc.in, tc.n)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzCapBitmap: a parsed bitmap printed as the kernel prints it parses
// back to itself and prints the same.
func FuzzCapBitmap(f *testing.F) {
	for _, s := range []string{"0", "120013", "70000 0 0 0 0", "402000000 3803078f800d001 feffffdfffefffff fffffffffffffffe",
		"18840000 2 10010000000000 0 1101b00002005 1004000 e000000000000 0", "", "1  2", "zz 0x5 -0 +7"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m := parseCapBitmap(s, words(keyMax))
		text := m.String()
		back := parseCapBitmap(text, words(keyMax))
		if diff := cmp.Diff(m, back); diff != "" {
			t.Fatalf("%q -> %q reparsed (-first +second):\n%s", s, text, diff)
		}
		if again := back.String(); again != text {
			t.Fatalf("%q printed %q, then %q", s, text, again)
		}
	})
}
