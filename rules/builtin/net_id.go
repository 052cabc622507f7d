package builtin

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// ARPHRD_* link types (linux/if_arp.h) net_id names; every other type,
// loopback (772) or the old wireless "wmaster" (801) say, gets nothing.
const (
	arphrdEther      = 1
	arphrdInfiniband = 32
	arphrdSLIP       = 256
)

// netAddrPerm is addr_assign_type's NET_ADDR_PERM: the address is the
// device's own, not random, stolen or set from user space.
const netAddrPerm = 0

// altIfNameSize is ALTIFNAMSIZ: udev composes names in buffers of this
// size and drops one that does not fit with its NUL.
const altIfNameSize = 128

// ErrNoLinkInfo: the device lacks what every network interface has (its
// IFINDEX property, iflink and type attributes); udevd fails the builtin.
var ErrNoLinkInfo = errors.New("not a network interface")

// OUILookup asks the hwdb about a modalias ("OUI:525400123456") and
// returns the properties it holds for it (ID_OUI_FROM_DATABASE), as
// udev_builtin_hwdb_lookup does for net_id. Its error is ignored, as
// udevd ignores the lookup's.
type OUILookup func(ctx context.Context, modalias string) ([]Prop, error)

// linkInfo is what net_id reads of the interface itself.
type linkInfo struct {
	ifindex, iflink, iftype int
	devtype                 string
	physPortName            string
	hwAddr                  []byte
}

// NetID computes the properties of systemd-udevd 252's net_id builtin
// (udev-builtin-net_id.c) for a network interface, named by the rules of
// scheme: ID_NET_NAMING_SCHEME, ID_NET_NAME_MAC, ID_NET_NAME_ONBOARD,
// ID_NET_LABEL_ONBOARD, ID_NET_NAME_PATH and ID_NET_NAME_SLOT, in the
// order udevd adds them, with oui's properties (if oui is not nil) right
// after ID_NET_NAME_MAC. A stacked device (a VLAN, whose iflink is
// another interface) and a type net_id does not name give no properties
// and no error. argv is ignored, as udevd ignores it.
func NetID(ctx context.Context, dev *Device, argv []string, scheme NamingScheme, oui OUILookup) ([]Prop, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("net_id: %w", err)
	}
	sys, err := dev.Sys()
	if err != nil {
		return nil, fmt.Errorf("net_id: %w", err)
	}
	info, err := readLinkInfo(dev, sys)
	if err != nil {
		return nil, fmt.Errorf("net_id %s: %w", dev.Syspath, err)
	}
	prefix, ok := namePrefix(info, scheme)
	if !ok {
		return nil, nil
	}
	n := &netNamer{ctx: ctx, dev: sys, info: info, scheme: scheme, prefix: prefix}
	n.add("ID_NET_NAMING_SCHEME", scheme.Name)
	n.macNames(oui)
	if prefix == "en" {
		// 252 knows devicetree aliases of Ethernet devices only.
		if s, ok := devicetreeOnboard(sys, scheme); ok {
			n.addName("ID_NET_NAME_ONBOARD", s)
		}
	}
	n.busNames()
	if err := ctx.Err(); err != nil {
		// Cancelled while reading sysfs: what was read may be partial.
		return nil, fmt.Errorf("net_id: %w", err)
	}
	return n.props, nil
}

// readLinkInfo is get_link_info: IFINDEX from the event's properties
// (or the uevent file), the iflink and type attributes, DEVTYPE,
// phys_port_name and address, the last three optional.
func readLinkInfo(dev *Device, sys SysDevice) (linkInfo, error) {
	var info linkInfo
	uevent := func(key string) (string, bool) {
		if v, ok := dev.Props[key]; ok {
			return v, true
		}
		v, ok := sys.Uevent()[key]
		return v, ok
	}
	s, ok := uevent("IFINDEX")
	if !ok {
		return info, fmt.Errorf("%w: no IFINDEX", ErrNoLinkInfo)
	}
	if info.ifindex, ok = safeAtoi(s); !ok || info.ifindex <= 0 {
		return info, fmt.Errorf("%w: IFINDEX %q", ErrNoLinkInfo, s)
	}
	for _, a := range []struct {
		name string
		v    *int
	}{{"iflink", &info.iflink}, {"type", &info.iftype}} {
		s, err := sys.Attr(a.name)
		if err != nil {
			return info, fmt.Errorf("%w: %w", ErrNoLinkInfo, err)
		}
		if *a.v, ok = safeAtoi(s); !ok {
			return info, fmt.Errorf("%w: %s %q", ErrNoLinkInfo, a.name, s)
		}
	}
	info.devtype, _ = uevent("DEVTYPE")
	// Drivers without port names fail the read (EOPNOTSUPP): no name.
	info.physPortName, _ = sys.Attr("phys_port_name")
	if s, err := sys.Attr("address"); err == nil {
		info.hwAddr, _ = parseHWAddr(s) // unparsable: no MAC name, no error
	}
	return info, nil
}

// namePrefix is the type prefix of the names, false for a link net_id
// leaves alone: a stacked one (iflink is not its own ifindex) or one not
// Ethernet, SLIP or (from v240) InfiniBand. Wireless LAN and WAN devices
// are Ethernet to the kernel; their DEVTYPE tells them apart.
func namePrefix(info linkInfo, scheme NamingScheme) (string, bool) {
	if info.ifindex != info.iflink {
		return "", false
	}
	var prefix string
	switch info.iftype {
	case arphrdEther:
		prefix = "en"
	case arphrdInfiniband:
		if !scheme.Has(NamingInfiniband) {
			return "", false
		}
		prefix = "ib"
	case arphrdSLIP:
		prefix = "sl"
	default:
		return "", false
	}
	switch info.devtype {
	case "wlan":
		prefix = "wl"
	case "wwan":
		prefix = "ww"
	}
	return prefix, true
}

// netNamer collects the properties of one NetID call.
type netNamer struct {
	ctx    context.Context
	dev    SysDevice
	info   linkInfo
	scheme NamingScheme
	prefix string
	props  []Prop
}

func (n *netNamer) add(key, value string) {
	n.props = append(n.props, Prop{Key: key, Value: value})
}

// addName adds prefix+name... unless it would overflow udev's
// ALTIFNAMSIZ buffer, which udevd then skips.
func (n *netNamer) addName(key string, parts ...string) {
	s := n.prefix + strings.Join(parts, "")
	if len(s) < altIfNameSize {
		n.add(key, s)
	}
}

// macNames adds ID_NET_NAME_MAC for a permanent 6-byte address (names_mac)
// and the hwdb's vendor of its OUI (ieee_oui).
func (n *netNamer) macNames(oui OUILookup) {
	a := n.info.hwAddr
	// An InfiniBand address is 20 bytes, its stable part 8: too long for a
	// name.
	if n.info.iftype == arphrdInfiniband || len(a) != 6 {
		return
	}
	s, err := n.dev.Attr("addr_assign_type")
	if err != nil {
		return
	}
	if t, ok := safeAtou(s, 0, 32); !ok || t != netAddrPerm {
		return // random or set by software: not stable
	}
	n.addName("ID_NET_NAME_MAC", fmt.Sprintf("x%x", a))
	// 00:00:00 (Xerox) is the OUI made-up addresses misuse most.
	if oui == nil || (a[0] == 0 && a[1] == 0 && a[2] == 0) {
		return
	}
	if props, err := oui(n.ctx, fmt.Sprintf("OUI:%X", a)); err == nil {
		n.props = append(n.props, props...)
	}
}

// busNames adds the names of the bus the interface sits on, in the order
// net_id tries them: the first bus that claims the device ends the search.
func (n *netNamer) busNames() {
	if s, ok := ccwName(n.dev); ok {
		n.addName("ID_NET_NAME_PATH", s)
		return
	}
	if s, ok := vioName(n.dev); ok {
		n.addName("ID_NET_NAME_SLOT", s)
		return
	}
	if s, ok := platformName(n.dev); ok {
		n.addName("ID_NET_NAME_PATH", s)
		return
	}
	if s, ok := netdevsimName(n.dev, n.info, n.scheme); ok {
		n.addName("ID_NET_NAME_PATH", s)
		return
	}
	if s, ok := xenName(n.dev, n.scheme); ok {
		n.addName("ID_NET_NAME_SLOT", s)
		return
	}
	n.pciBusNames()
}

// pciBusNames adds the names of a device on PCI, directly or through USB
// or BCMA: these are named after the PCI device above them, and a device
// without one (USB on a SoC's controller) gets no path or slot name.
func (n *netNamer) pciBusNames() {
	p, ok := n.pciNames()
	if !ok {
		return
	}
	if p.direct {
		if p.onboard != "" {
			n.addName("ID_NET_NAME_ONBOARD", p.onboard)
		}
		if p.hasLabel {
			// The firmware's label is a name of its own from v243.
			prefix := n.prefix
			if n.scheme.Has(NamingLabelNoPrefix) {
				prefix = ""
			}
			if s := prefix + p.label; len(s) < altIfNameSize {
				n.add("ID_NET_LABEL_ONBOARD", s)
			}
		}
		n.pathAndSlot(p, "")
		return
	}
	if s, ok := usbName(n.dev); ok {
		n.pathAndSlot(p, s)
		return
	}
	if s, ok := bcmaName(n.dev); ok {
		n.pathAndSlot(p, s)
	}
}

// pathAndSlot adds ID_NET_NAME_PATH and ID_NET_NAME_SLOT of the PCI
// device, with the USB or BCMA part of the name after them.
func (n *netNamer) pathAndSlot(p pciNames, suffix string) {
	if p.path != "" {
		n.addName("ID_NET_NAME_PATH", p.path, suffix)
	}
	if p.slot != "" {
		n.addName("ID_NET_NAME_SLOT", p.slot, suffix)
	}
}
