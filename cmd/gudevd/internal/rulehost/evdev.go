package rulehost

import (
	"context"
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gudevd/gudevd/rules/builtin"
)

// ErrNoNode: input_id's axes were asked of a device without DEVNAME.
var ErrNoNode = errors.New("device has no node")

// The kernel's EVIOCGABS(axis): _IOR('E', 0x40 + axis, struct
// input_absinfo), six 32-bit fields.
const (
	absX, absY    = 0, 1
	absInfoSize   = int(unsafe.Sizeof(builtin.AbsInfo{}))
	iocRead       = 2
	evioGAbsFirst = 0x40
)

func eviocgabs(axis int) uint {
	return uint(iocRead<<30 | absInfoSize<<16 | 'E'<<8 | (evioGAbsFirst + axis))
}

// EvdevAbs is builtin.EvdevAbs on the running system: it opens the event
// device's node read-only and non-blocking, as udevd's input_id does, and
// asks the kernel for the ABS_X and ABS_Y axes.
func EvdevAbs(ctx context.Context, dev *builtin.Device) (x, y builtin.AbsInfo, err error) {
	if err := ctx.Err(); err != nil {
		return x, y, err
	}
	node := dev.Props["DEVNAME"]
	if node == "" {
		return x, y, fmt.Errorf("%s: %w", dev.Syspath, ErrNoNode)
	}
	f, err := os.OpenFile(node, os.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		return x, y, fmt.Errorf("open %s: %w", node, err)
	}
	defer f.Close()
	sc, err := f.SyscallConn()
	if err != nil {
		return x, y, fmt.Errorf("open %s: %w", node, err)
	}
	var ioErr error
	cerr := sc.Control(func(fd uintptr) {
		if ioErr = absInfo(fd, absX, &x); ioErr == nil {
			ioErr = absInfo(fd, absY, &y)
		}
	})
	if err := errors.Join(cerr, ioErr); err != nil {
		return x, y, fmt.Errorf("EVIOCGABS on %s: %w", node, err)
	}
	return x, y, nil
}

func absInfo(fd uintptr, axis int, out *builtin.AbsInfo) error {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, fd, uintptr(eviocgabs(axis)), uintptr(unsafe.Pointer(out)))
	if errno != 0 {
		return errno
	}
	return nil
}
