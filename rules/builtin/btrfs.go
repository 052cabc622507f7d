package builtin

import (
	"context"
	"errors"
	"fmt"
	"syscall"
)

// Errors of the btrfs builtin, for errors.Is.
var (
	// ErrBtrfsArgs: the command line is not "btrfs ready DEVNODE"
	// (udevd's EINVAL).
	ErrBtrfsArgs = errors.New("invalid arguments, want: btrfs ready DEVNODE")
	// ErrBtrfsControlAbsent: /dev/btrfs-control could not be opened
	// because btrfs.ko is missing (ENOENT, ENODEV, ENXIO); udevd then
	// takes the device for not ready.
	ErrBtrfsControlAbsent = errors.New("btrfs control device absent")
)

// btrfsNameMax is BTRFS_PATH_NAME_MAX: udevd copies the node into the
// ioctl's name field of 4088 bytes, cutting it to 4087.
const btrfsNameMax = 4087

// BtrfsReadyCheck is the caller's BTRFS_IOC_DEVICES_READY: open
// /dev/btrfs-control (O_RDWR) and ask whether every device of the
// multi-device file system the node belongs to is known to the kernel
// (the ioctl returning 0). Failing to open the control device because it
// is absent is an error wrapping ErrBtrfsControlAbsent or ENOENT, ENODEV,
// ENXIO.
type BtrfsReadyCheck func(ctx context.Context, node string) (ready bool, err error)

// Btrfs is udevd 252's btrfs builtin, "btrfs ready DEVNODE" in the rules
// (64-btrfs.rules): ID_BTRFS_READY=1 when the kernel has all devices of
// the file system, 0 when not or when btrfs is not loaded (useful in an
// initrd without btrfs.ko: a later trigger finds it ready). The check is
// the caller's; this is udevd's argument handling and property.
func Btrfs(ctx context.Context, dev *Device, argv []string, check BtrfsReadyCheck) ([]Prop, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("btrfs: %w", err)
	}
	if len(argv) != 3 || argv[1] != "ready" {
		return nil, fmt.Errorf("btrfs: %q: %w", argv, ErrBtrfsArgs)
	}
	node := argv[2]
	if len(node) > btrfsNameMax {
		node = node[:btrfsNameMax]
	}
	ready, err := check(ctx, node)
	switch {
	case err != nil && btrfsControlAbsent(err):
		return []Prop{{"ID_BTRFS_READY", "0"}}, nil
	case err != nil:
		return nil, fmt.Errorf("btrfs: devices ready %s: %w", node, err)
	case ready:
		return []Prop{{"ID_BTRFS_READY", "1"}}, nil
	}
	return []Prop{{"ID_BTRFS_READY", "0"}}, nil
}

// btrfsControlAbsent is udevd's ERRNO_IS_DEVICE_ABSENT for the open of
// /dev/btrfs-control.
func btrfsControlAbsent(err error) bool {
	return errors.Is(err, ErrBtrfsControlAbsent) || errors.Is(err, syscall.ENOENT) ||
		errors.Is(err, syscall.ENODEV) || errors.Is(err, syscall.ENXIO)
}
