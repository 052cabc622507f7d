package rules

import "strconv"

// NodePermissions are the owner, group and mode udevd gives a device's
// node after the rules (udev-event.c update_devnode, then udev-node.c
// udev_node_apply_permissions). A field whose Set flag is false is left as
// the node has it: devtmpfs makes a node root:root with the driver's mode
// or 0600, and an earlier event's permissions stay.
type NodePermissions struct {
	UID, GID, Mode          uint32
	UIDSet, GIDSet, ModeSet bool
}

// NodePermissions returns what udevd applies to dev's node: each of
// OWNER, GROUP and MODE the rules gave, else the kernel's DEVUID, DEVGID
// and DEVMODE of the uevent (a driver's devnode callback), and a group
// other than root with no mode from either "upgrades" the mode to 0660.
func (r *Result) NodePermissions(dev *Device) NodePermissions {
	p := NodePermissions{UID: r.UID, GID: r.GID, Mode: r.Mode, UIDSet: r.UIDSet, GIDSet: r.GIDSet, ModeSet: r.ModeSet}
	if !p.UIDSet {
		p.UID, p.UIDSet = kernelID(dev, "DEVUID", 10)
	}
	if !p.GIDSet {
		p.GID, p.GIDSet = kernelID(dev, "DEVGID", 10)
	}
	if !p.ModeSet {
		p.Mode, p.ModeSet = kernelID(dev, "DEVMODE", 8)
	}
	if !p.ModeSet && p.GIDSet && p.GID > 0 {
		p.Mode, p.ModeSet = 0o660, true
	}
	return p
}

// kernelID reads one of the uevent's DEVUID, DEVGID, DEVMODE, as
// sd-device parses them (safe_atou, or octal for the mode).
func kernelID(dev *Device, key string, base int) (uint32, bool) {
	for _, p := range dev.Props {
		if p.Key == key {
			n, err := strconv.ParseUint(p.Value, base, 32)
			return uint32(n), err == nil
		}
	}
	return 0, false
}
