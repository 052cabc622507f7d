package builtin

//go:generate sh -c "cd ../.. && go run ./rules/builtin/testdata/keyboard/genkeys /work/ref/systemd-252.39/src/basic/linux/input-event-codes.h > rules/builtin/keyboard_keys.go"

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrNoDevname: the keyboard builtin needs the device node; udevd fails
// it for a device without DEVNAME.
var ErrNoDevname = errors.New("device has no DEVNAME")

// KeyRemap is one EVIOCSKEYCODE on the device node: scan code to key code.
type KeyRemap struct {
	Scancode, Keycode uint32
}

// AbsOverride is one EVIOCGABS/EVIOCSABS pair on the node for axis Code:
// the fields given replace those the kernel reports, a nil one keeps it.
type AbsOverride struct {
	Code                                     uint32
	Minimum, Maximum, Resolution, Fuzz, Flat *int32
}

// KeyboardActions is what udevd's keyboard builtin does to a device, for
// the caller to do: open DEVNAME read-write (O_NONBLOCK|O_NOCTTY|
// O_CLOEXEC) for the remaps and, when the device has EV_ABS (EVIOCGBIT;
// udevd skips them otherwise), the axis overrides; append ForceRelease to
// the serio parent's force_release attribute (ForceReleaseValue) and write
// Sensitivity to its sensitivity attribute. udevd logs each failure and
// goes on, and so does the caller.
type KeyboardActions struct {
	Remaps       []KeyRemap
	Abs          []AbsOverride
	ForceRelease []uint32 // scan codes whose key udevd releases itself
	Sensitivity  *int     // POINTINGSTICK_SENSITIVITY, 0 to 255
	// Problems are the properties udevd logs and ignores.
	Problems []error
}

// keyboardMaxRelease is the size of udevd's force-release array less the
// slot its overflow overwrites.
const keyboardMaxRelease = 1023

// Keyboard is the pure part of udevd 252's keyboard builtin: the actions
// of the device's KEYBOARD_KEY_<scan code in hex>=[!]<key name or number>
// properties (a '!' asks for a force release, alone it asks only that),
// EVDEV_ABS_<axis in hex>=min:max:res:fuzz:flat (empty fields keep the
// kernel's) and POINTINGSTICK_SENSITIVITY, the hwdb's keyboard and
// pointing-stick entries. udevd takes the properties in the order they
// were set; Props has none, so they come sorted by key. argv is ignored.
func Keyboard(ctx context.Context, dev *Device, argv []string) (KeyboardActions, error) {
	var a KeyboardActions
	if err := ctx.Err(); err != nil {
		return a, fmt.Errorf("keyboard: %w", err)
	}
	if dev.Props["DEVNAME"] == "" {
		return a, fmt.Errorf("keyboard: %w", ErrNoDevname)
	}
	keys := make([]string, 0, len(dev.Props))
	for k := range dev.Props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := dev.Props[k]
		var err error
		switch {
		case strings.HasPrefix(k, "KEYBOARD_KEY_"):
			err = a.key(k, v)
		case strings.HasPrefix(k, "EVDEV_ABS_"):
			err = a.abs(k, v)
		case k == "POINTINGSTICK_SENSITIVITY":
			err = a.sensitivity(v)
		}
		if err != nil {
			a.Problems = append(a.Problems, err)
		}
	}
	return a, nil
}

func (a *KeyboardActions) key(k, v string) error {
	scancode, ok := safeAtou(k[len("KEYBOARD_KEY_"):], 16, 32)
	if !ok {
		return fmt.Errorf("%s: bad scan code", k)
	}
	if rest, ok := strings.CutPrefix(v, "!"); ok {
		if len(a.ForceRelease) < keyboardMaxRelease {
			a.ForceRelease = append(a.ForceRelease, uint32(scancode))
		}
		if rest == "" {
			return nil
		}
		v = rest
	}
	code, ok := keyCode(v)
	if !ok {
		return fmt.Errorf("%s: unknown key %q", k, v)
	}
	a.Remaps = append(a.Remaps, KeyRemap{Scancode: uint32(scancode), Keycode: code})
	return nil
}

// keyCode is a key's name as the kernel spells it, lower case, with or
// without "key_" ("volumeup", "key_volumeup", "btn_left"), or a number.
func keyCode(name string) (uint32, bool) {
	if c, ok := keyboardKeys[name]; ok {
		return uint32(c), true
	}
	n, ok := safeAtou(name, 0, 32)
	return uint32(n), ok
}

func (a *KeyboardActions) abs(k, v string) error {
	code, ok := safeAtou(k[len("EVDEV_ABS_"):], 16, 32)
	if !ok {
		return fmt.Errorf("%s: bad axis", k)
	}
	o := AbsOverride{Code: uint32(code)}
	rest, ok := v, true
	for _, field := range []**int32{&o.Minimum, &o.Maximum, &o.Resolution, &o.Fuzz, &o.Flat} {
		if rest, ok = absToken(rest, field); !ok {
			return fmt.Errorf("%s: bad override %q", k, v)
		}
	}
	a.Abs = append(a.Abs, o)
	return nil
}

// absToken reads one field of an EVDEV_ABS value as udevd's parse_token
// does: strtol in base 0 up to a ':' or the end (its long cut to 32
// bits), an empty field leaving the value alone.
func absToken(s string, field **int32) (string, bool) {
	num, rest, _ := strings.Cut(s, ":")
	if num != "" {
		n, ok := parseCLong(num)
		if !ok {
			return "", false
		}
		v := int32(n)
		*field = &v
	}
	return rest, true
}

func (a *KeyboardActions) sensitivity(v string) error {
	n, ok := safeAtoi(v)
	if !ok || n < 0 || n > 255 {
		return fmt.Errorf("POINTINGSTICK_SENSITIVITY %q outside 0..255", v)
	}
	a.Sensitivity = &n
	return nil
}

// ForceReleaseValue is what udevd writes to the serio parent's
// force_release attribute: its current value and ",<scan code>" for each,
// in a 4096-byte buffer that cuts the string short.
func (a KeyboardActions) ForceReleaseValue(current string) string {
	var b strings.Builder
	b.WriteString(current)
	for _, c := range a.ForceRelease {
		fmt.Fprintf(&b, ",%d", c)
	}
	s := b.String()
	if len(s) > 4095 {
		s = s[:4095]
	}
	return s
}

// parseCLong is strtol in base 0 over all of s (parse_token's check),
// on top of the package's strtoull. Where strtol saturates a number too
// large for a long, this refuses it; no axis value comes near.
func parseCLong(s string) (int64, bool) {
	mag, neg, ok := strtoull(s, 0)
	if !ok || mag > 1<<63 || (!neg && mag == 1<<63) {
		return 0, false
	}
	if neg {
		return -int64(mag), true
	}
	return int64(mag), true
}
