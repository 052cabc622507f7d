package rulehost

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gudevd/gudevd/rules/builtin"
)

// The evdev ioctls of the keyboard builtin (include/uapi/linux/input.h).
const (
	iocWrite      = 1
	evioSAbsFirst = 0xc0
	evioGBit      = 0x20
	evAbs         = 0x03
)

// eviocskeycode is EVIOCSKEYCODE, _IOW('E', 0x04, unsigned int[2]).
const eviocskeycode = iocWrite<<30 | 8<<16 | 'E'<<8 | 0x04

func eviocsabs(axis uint32) uint {
	return uint(iocWrite<<30 | absInfoSize<<16 | 'E'<<8 | (evioSAbsFirst + int(axis)))
}

// eviocgbit0 is EVIOCGBIT(0, n): the event types the device reports.
func eviocgbit0(n int) uint { return uint(iocRead<<30 | n<<16 | 'E'<<8 | evioGBit) }

// ApplyKeyboard carries out what the keyboard builtin planned, as udevd's
// does: the hwdb's scan code remaps (EVIOCSKEYCODE) and, on a device
// reporting EV_ABS, the axis overrides (EVIOCGABS, EVIOCSABS) on the
// node opened read-write; the force-release scan codes appended to the
// serio parent's force_release attribute and the pointing stick's
// sensitivity written to its sensitivity attribute, below sysfsRoot (the
// sysfs mount). Each failure is kept and the rest still done; they come
// back joined, as udevd logs each and goes on.
func ApplyKeyboard(sysfsRoot string, dev *builtin.Device, a builtin.KeyboardActions) error {
	var errs []error
	if len(a.Remaps) > 0 || len(a.Abs) > 0 {
		errs = append(errs, evdevActions(dev.Props["DEVNAME"], a))
	}
	if len(a.ForceRelease) > 0 || a.Sensitivity != nil {
		errs = append(errs, serioActions(sysfsRoot, dev, a))
	}
	return errors.Join(errs...)
}

func evdevActions(node string, a builtin.KeyboardActions) error {
	if node == "" {
		return ErrNoNode
	}
	f, err := os.OpenFile(node, os.O_RDWR|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		return fmt.Errorf("keyboard: open %s: %w", node, err)
	}
	defer f.Close()
	sc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var errs []error
	cerr := sc.Control(func(fd uintptr) {
		for _, r := range a.Remaps {
			m := [2]uint32{r.Scancode, r.Keycode}
			if err := ioctl(fd, eviocskeycode, unsafe.Pointer(&m)); err != nil {
				errs = append(errs, fmt.Errorf("EVIOCSKEYCODE scan code %#x key code %d on %s: %w", r.Scancode, r.Keycode, node, err))
			}
		}
		if len(a.Abs) > 0 && hasEvAbs(fd) {
			for _, o := range a.Abs {
				if err := overrideAbs(fd, o); err != nil {
					errs = append(errs, fmt.Errorf("axis %#x of %s: %w", o.Code, node, err))
				}
			}
		}
	})
	return errors.Join(append(errs, cerr)...)
}

func ioctl(fd uintptr, req uint, arg unsafe.Pointer) error {
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, fd, uintptr(req), uintptr(arg)); e != 0 {
		return e
	}
	return nil
}

// hasEvAbs is udevd's check before the axis overrides.
func hasEvAbs(fd uintptr) bool {
	var bits [4]byte
	return ioctl(fd, eviocgbit0(len(bits)), unsafe.Pointer(&bits)) == nil && bits[0]&(1<<evAbs) != 0
}

func overrideAbs(fd uintptr, o builtin.AbsOverride) error {
	var ai builtin.AbsInfo
	if err := ioctl(fd, eviocgabs(int(o.Code)), unsafe.Pointer(&ai)); err != nil {
		return fmt.Errorf("EVIOCGABS: %w", err)
	}
	for _, f := range []struct {
		v   *int32
		dst *int32
	}{{o.Minimum, &ai.Minimum}, {o.Maximum, &ai.Maximum}, {o.Resolution, &ai.Resolution}, {o.Fuzz, &ai.Fuzz}, {o.Flat, &ai.Flat}} {
		if f.v != nil {
			*f.dst = *f.v
		}
	}
	if err := ioctl(fd, eviocsabs(o.Code), unsafe.Pointer(&ai)); err != nil {
		return fmt.Errorf("EVIOCSABS: %w", err)
	}
	return nil
}

// serioActions writes the serio parent's attributes (udevd's
// install_force_release and set_trackpoint_sensitivity).
func serioActions(sysfsRoot string, dev *builtin.Device, a builtin.KeyboardActions) error {
	sd, err := dev.Sys()
	if err != nil {
		return err
	}
	serio, ok := sd.ParentWith("serio", "")
	if !ok {
		return errors.New("keyboard: no serio parent for force_release or sensitivity")
	}
	dir := path.Join(sysfsRoot, serio.Path)
	var errs []error
	if len(a.ForceRelease) > 0 {
		cur, err := os.ReadFile(path.Join(dir, "force_release"))
		if err == nil {
			err = WriteExisting(path.Join(dir, "force_release"), a.ForceReleaseValue(strings.TrimRight(string(cur), "\n")))
		}
		errs = append(errs, err)
	}
	if a.Sensitivity != nil {
		errs = append(errs, WriteExisting(path.Join(dir, "sensitivity"), strconv.Itoa(*a.Sensitivity)))
	}
	return errors.Join(errs...)
}

// WriteExisting writes v to a file that must exist, a sysfs or procfs
// attribute: nothing is created, a symlink is not followed, and O_TRUNC is
// given as udevd's write_string_file gives it (fopen "we"): sysfs ignores
// it, a regular file is replaced rather than overwritten in part.
func WriteExisting(p, v string) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(v)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}
