package builtin

import (
	"fmt"
	"path"
)

// iffLoopback is IFF_LOOPBACK of the flags attribute.
const iffLoopback = 0x8

// LinkStateFromSysfs fills what of LinkState sysfs tells: the name, the
// event's ACTION, name_assign_type and addr_assign_type (0 when
// unreadable, as udevd takes them), type, the loopback flag, the address
// and the driver of the device below the interface, with the device's
// properties. rtnetlink's Kind and alternative names and ethtool's
// permanent address are the caller's to add; so is ethtool's driver of a
// virtual device (bridge, veth, tun), which has no device in sysfs.
func LinkStateFromSysfs(dev *Device) (LinkState, error) {
	sys, err := dev.Sys()
	if err != nil {
		return LinkState{}, fmt.Errorf("net_setup_link: %w", err)
	}
	st := LinkState{Ifname: sys.Sysname(), Action: dev.Props["ACTION"], Props: dev.Props}
	st.NameAssignType = attrUint(sys, "name_assign_type")
	st.AddrAssignType = attrUint(sys, "addr_assign_type")
	s, err := sys.Attr("type")
	if err != nil {
		return LinkState{}, fmt.Errorf("net_setup_link %s: %w: %w", dev.Syspath, ErrNoLinkInfo, err)
	}
	var ok bool
	if st.IfType, ok = safeAtoi(s); !ok {
		return LinkState{}, fmt.Errorf("net_setup_link %s: %w: type %q", dev.Syspath, ErrNoLinkInfo, s)
	}
	if flags, err := sys.Attr("flags"); err == nil {
		f, _ := safeAtou(flags, 0, 32)
		st.Loopback = f&iffLoopback != 0
	}
	if a, err := sys.Attr("address"); err == nil {
		st.HWAddr, _ = parseHWAddr(a)
	}
	if d, err := NewSysDevice(sys.FS, path.Join(sys.Path, "device")); err == nil {
		st.Driver = d.Driver()
	}
	return st, nil
}

// attrUint reads an unsigned attribute, 0 when it is missing or bad.
func attrUint(d SysDevice, name string) int {
	s, err := d.Attr(name)
	if err != nil {
		return 0
	}
	v, _ := safeAtou(s, 0, 32)
	return int(v)
}
