package builtin

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// Event types, axes, buttons, keys and properties of
// linux/input-event-codes.h that input_id looks at.
const (
	evKey = 0x01
	evRel = 0x02
	evSw  = 0x05
	evMax = 0x1f

	absX         = 0x00
	absY         = 0x01
	absZ         = 0x02
	absRX        = 0x03
	absPressure  = 0x18
	absMTSlot    = 0x2f
	absMTPosX    = 0x35
	absMTPosY    = 0x36
	absMax       = 0x3f
	relX         = 0x00
	relY         = 0x01
	relHWheel    = 0x06
	relWheel     = 0x08
	relMax       = 0x0f
	propDirect   = 0x01
	propPointing = 0x05
	propAccel    = 0x06
	propMax      = 0x1f

	btnMisc         = 0x100
	btn0            = 0x100
	btnMouse        = 0x110
	btnJoystick     = 0x120
	btnDigi         = 0x140
	btnToolPen      = 0x140
	btnToolFinger   = 0x145
	btnTouch        = 0x14a
	btnStylus       = 0x14b
	btnDpadUp       = 0x220
	btnDpadRight    = 0x223
	btnTriggerHappy = 0x2c0
	btnTriggerHap40 = 0x2e7
	keyOK           = 0x160
	keyALSToggle    = 0x230
	keyMax          = 0x2ff

	busI2C = 0x18
)

// highKeyBlocks are the key code ranges above BTN_MISC that count as keys
// (start inclusive, end exclusive): KEY_OK up to the D-pad buttons, and
// KEY_ALS_TOGGLE up to the trigger-happy buttons.
var highKeyBlocks = [...][2]int{{keyOK, btnDpadUp}, {keyALSToggle, btnTriggerHappy}}

// wellKnownKeyboardKeys are one key of each of several groups a keyboard
// has; a "joystick" with four of them is a keyboard with stray buttons.
var wellKnownKeyboardKeys = [...]int{
	29,  // KEY_LEFTCTRL
	58,  // KEY_CAPSLOCK
	69,  // KEY_NUMLOCK
	110, // KEY_INSERT
	113, // KEY_MUTE
	140, // KEY_CALC
	144, // KEY_FILE
	155, // KEY_MAIL
	164, // KEY_PLAYPAUSE
	224, // KEY_BRIGHTNESSDOWN
}

// AbsInfo is the kernel's struct input_absinfo of one axis, as the
// EVIOCGABS ioctl returns it; the resolution of ABS_X and ABS_Y is in
// units per millimetre.
type AbsInfo struct {
	Value, Minimum, Maximum, Fuzz, Flat, Resolution int32
}

// EvdevAbs reads the ABS_X and ABS_Y axes of an event device's node
// (EVIOCGABS on the opened /dev/input/eventN); the daemon supplies it,
// since a builtin over sysfs cannot open device nodes.
type EvdevAbs func(ctx context.Context, dev *Device) (x, y AbsInfo, err error)

// InputID is udevd 252's input_id builtin without the device node: what
// kind of input device this is (ID_INPUT_KEY, _KEYBOARD, _MOUSE,
// _TOUCHPAD, _TABLET...), from the capability bitmaps of the input device
// at or above it. ID_INPUT_WIDTH_MM and _HEIGHT_MM need the node; see
// InputIDWith. It takes no arguments and fails only for a device that is
// not in sysfs.
func InputID(ctx context.Context, dev *Device, argv []string) ([]Prop, error) {
	return inputID(ctx, dev, nil)
}

// InputIDWith is InputID that for eventN devices also reads the size of
// the touch surface with abs, as udevd does with EVIOCGABS.
func InputIDWith(abs EvdevAbs) func(context.Context, *Device, []string) ([]Prop, error) {
	return func(ctx context.Context, dev *Device, argv []string) ([]Prop, error) {
		return inputID(ctx, dev, abs)
	}
}

func inputID(ctx context.Context, dev *Device, abs EvdevAbs) ([]Prop, error) {
	d, err := dev.Sys()
	if err != nil {
		return nil, fmt.Errorf("input_id: %w", err)
	}
	var props []Prop
	if in, ok := inputParent(d); ok {
		props = inputProps(in)
	}
	if strings.HasPrefix(d.Sysname(), "event") && abs != nil {
		props = append(props, surfaceSize(ctx, dev, abs)...)
	}
	return props, nil
}

// inputParent is the input device that has the capabilities: the device
// itself or, for its eventN, mouseN and jsN children, the nearest input
// device above it that has a capabilities/ev.
func inputParent(d SysDevice) (SysDevice, bool) {
	for p, ok := d, true; ok; p, ok = p.ParentWith("input", "") {
		if _, err := p.Attr("capabilities/ev"); err == nil {
			return p, true
		}
	}
	return SysDevice{}, false
}

// inputCaps are the bitmaps and bus input_id decides by.
type inputCaps struct {
	ev, abs, rel, key, props capBitmap
	bus                      uint64
}

func readInputCaps(in SysDevice) inputCaps {
	read := func(attr string, max int) capBitmap {
		v, _ := in.Attr(attr) // a missing bitmap reads as empty
		return parseCapBitmap(v, words(max))
	}
	c := inputCaps{
		ev: read("capabilities/ev", evMax), abs: read("capabilities/abs", absMax),
		rel: read("capabilities/rel", relMax), key: read("capabilities/key", keyMax),
		props: read("properties", propMax),
	}
	if v, err := in.Attr("id/bustype"); err == nil {
		c.bus, _ = safeAtou(v, 16, 16)
	}
	return c
}

// inputProps classifies the input device, in udevd's order: ID_INPUT, the
// pointer kinds, the key kinds, a lone scroll wheel as keys, switches.
func inputProps(in SysDevice) []Prop {
	c := readInputCaps(in)
	props := []Prop{{"ID_INPUT", "1"}}
	pointer := c.pointerProps()
	props = append(props, pointer...)
	keys := c.keyProps()
	props = append(props, keys...)
	if len(pointer) == 0 && len(keys) == 0 && c.ev.has(evRel) &&
		(c.rel.has(relWheel) || c.rel.has(relHWheel)) {
		props = append(props, Prop{"ID_INPUT_KEY", "1"})
	}
	if c.ev.has(evSw) {
		props = append(props, Prop{"ID_INPUT_SWITCH", "1"})
	}
	return props
}

// keyProps: ID_INPUT_KEY for any key below BTN_MISC or in the high key
// blocks, ID_INPUT_KEYBOARD when ESC, the digits and Q to D (bits 1-31)
// are all there.
func (c inputCaps) keyProps() []Prop {
	if !c.ev.has(evKey) {
		return nil
	}
	found := false
	for i := 0; i < btnMisc/bitsPerLong && !found; i++ {
		found = c.key[i] != 0
	}
	for _, b := range highKeyBlocks {
		for k := b[0]; k < b[1] && !found; k++ {
			found = c.key.has(k)
		}
	}
	var props []Prop
	if found {
		props = append(props, Prop{"ID_INPUT_KEY", "1"})
	}
	if c.key[0]&0xfffffffe == 0xfffffffe {
		props = append(props, Prop{"ID_INPUT_KEYBOARD", "1"})
	}
	return props
}

// surfaceSize is ID_INPUT_WIDTH_MM and ID_INPUT_HEIGHT_MM from the range
// and resolution of ABS_X and ABS_Y, when the node tells them.
func surfaceSize(ctx context.Context, dev *Device, abs EvdevAbs) []Prop {
	x, y, err := abs(ctx, dev)
	if err != nil || x.Resolution <= 0 || y.Resolution <= 0 {
		return nil
	}
	mm := func(a AbsInfo) string { return strconv.Itoa(int((a.Maximum - a.Minimum) / a.Resolution)) }
	return []Prop{{"ID_INPUT_WIDTH_MM", mm(x)}, {"ID_INPUT_HEIGHT_MM", mm(y)}}
}
