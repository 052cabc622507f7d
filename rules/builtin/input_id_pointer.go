package builtin

// pointerKind is what input_id's test_pointers concludes of a device.
type pointerKind struct {
	accelerometer, pointingStick, mouse, absMouse bool
	touchpad, touchscreen, joystick, tablet, pad  bool
}

// pointerProps: the pointer kinds of the device, as udevd 252's
// test_pointers decides them, in its order (nothing when it is none).
func (c inputCaps) pointerProps() []Prop {
	k := c.pointerKind()
	if k.accelerometer {
		return []Prop{{"ID_INPUT_ACCELEROMETER", "1"}}
	}
	var props []Prop
	for _, f := range []struct {
		set bool
		key string
	}{
		{k.pointingStick, "ID_INPUT_POINTINGSTICK"},
		{k.mouse || k.absMouse, "ID_INPUT_MOUSE"},
		{k.touchpad, "ID_INPUT_TOUCHPAD"},
		{k.touchscreen, "ID_INPUT_TOUCHSCREEN"},
		{k.joystick, "ID_INPUT_JOYSTICK"},
		{k.tablet, "ID_INPUT_TABLET"},
		{k.pad, "ID_INPUT_TABLET_PAD"},
	} {
		if f.set {
			props = append(props, Prop{f.key, "1"})
		}
	}
	return props
}

// pointerFeatures are the capabilities test_pointers looks at.
type pointerFeatures struct {
	keys, abs, abs3D, rel, mt, direct, touch          bool
	stylus, pen, fingerNoPen, mouseButton, padButtons bool
	joystickButtons, joystickAxes                     int
}

func (c inputCaps) features() pointerFeatures {
	f := pointerFeatures{
		keys:        c.ev.has(evKey),
		abs:         c.abs.has(absX) && c.abs.has(absY),
		stylus:      c.key.has(btnStylus),
		pen:         c.key.has(btnToolPen),
		fingerNoPen: c.key.has(btnToolFinger) && !c.key.has(btnToolPen),
		rel:         c.ev.has(evRel) && c.rel.has(relX) && c.rel.has(relY),
		mt:          c.abs.has(absMTPosX) && c.abs.has(absMTPosY),
		direct:      c.props.has(propDirect),
		touch:       c.key.has(btnTouch),
	}
	f.abs3D = f.abs && c.abs.has(absZ)
	for b := btnMouse; b < btnJoystick && !f.mouseButton; b++ {
		f.mouseButton = c.key.has(b)
	}
	// A device that claims every absolute axis, the slot and the one
	// before it included, has no real multitouch.
	if f.mt && c.abs.has(absMTSlot) && c.abs.has(absMTSlot-1) {
		f.mt = false
	}
	f.padButtons = c.key.has(btn0) && f.stylus && !f.pen
	f.joystickButtons, f.joystickAxes = c.joystickCounts()
	return f
}

// joystickCounts counts joystick buttons and axes. A mouse with more
// than 16 buttons runs into BTN_JOYSTICK, so when the last mouse button
// is set the joystick buttons are not counted.
func (c inputCaps) joystickCounts() (buttons, axes int) {
	if !c.key.has(btnJoystick - 1) {
		for _, r := range [][2]int{{btnJoystick, btnDigi - 1}, {btnTriggerHappy, btnTriggerHap40}, {btnDpadUp, btnDpadRight}} {
			for b := r[0]; b <= r[1]; b++ {
				if c.key.has(b) {
					buttons++
				}
			}
		}
	}
	for a := absRX; a < absPressure; a++ {
		if c.abs.has(a) {
			axes++
		}
	}
	return buttons, axes
}

func (c inputCaps) pointerKind() pointerKind {
	f := c.features()
	var k pointerKind
	// Three absolute axes and no keys is an accelerometer, whatever else.
	if c.props.has(propAccel) || !f.keys && f.abs3D {
		k.accelerometer = true
		return k
	}
	k.pointingStick = c.props.has(propPointing)
	joystickish := f.joystickButtons > 0 || f.joystickAxes > 0
	switch {
	case f.abs && (f.stylus || f.pen):
		k.tablet = true
	case f.abs && f.fingerNoPen && !f.direct:
		k.touchpad = true
	case f.abs && f.mouseButton:
		// VMware's USB mouse: absolute axes, no touch or pressure.
		k.absMouse = true
	case f.abs && (f.touch || f.direct):
		k.touchscreen = true
	case joystickish:
		k.joystick = true
	}
	switch {
	case !f.mt:
	case f.stylus || f.pen:
		k.tablet = true
	case f.fingerNoPen && !f.direct:
		k.touchpad = true
	case f.touch || f.direct:
		k.touchscreen = true
	}
	k.pad = k.tablet && f.padButtons
	k.mouse = !k.tablet && !k.touchpad && !k.joystick && f.mouseButton && (f.rel || !f.abs)
	if k.mouse && c.bus == busI2C {
		k.pointingStick = true // there is no such thing as an I2C mouse
	}
	if k.joystick && c.keyboardLike(f) {
		k.joystick = false
	}
	return k
}

// keyboardLike: some keyboards have stray joystick buttons; one with keys
// of four or more of the well-known keyboard groups, or a "joystick" with
// fewer than two buttons and axes together, is not a joystick (libinput
// decides alike).
func (c inputCaps) keyboardLike(f pointerFeatures) bool {
	known := 0
	if f.keys {
		for _, key := range wellKnownKeyboardKeys {
			if c.key.has(key) {
				known++
			}
		}
	}
	return known >= 4 || f.joystickButtons+f.joystickAxes < 2
}
