package builtin

import (
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// usbName is names_usb: the port chain, configuration and interface of the
// USB interface above the device, from its sysname "1-1.2:1.0" (bus 1,
// ports 1 then 2, configuration 1, interface 0): "u1u2", with "c<n>" for
// a configuration other than 1 and "i<n>" for an interface other than 0.
func usbName(dev SysDevice) (string, bool) {
	intf, ok := dev.ParentWith("usb", "usb_interface")
	if !ok {
		return "", false
	}
	_, rest, ok := strings.Cut(intf.Sysname(), "-")
	if !ok {
		return "", false
	}
	ports, rest, ok := strings.Cut(rest, ":")
	if !ok {
		return "", false
	}
	config, intfNum, ok := strings.Cut(rest, ".")
	if !ok {
		return "", false
	}
	s := "u" + strings.ReplaceAll(ports, ".", "u")
	if config != "1" {
		s += "c" + config
	}
	if intfNum != "0" {
		s += "i" + intfNum
	}
	return s, len(s) < altIfNameSize
}

// bcmaName is names_bcma: the core number of the Broadcom bus device
// "bcma<bus>:<core>" above the device, "b<core>", "" for core 0.
func bcmaName(dev SysDevice) (string, bool) {
	_, rest, ok := parentNumber(dev, "bcma", "bcma")
	if !ok {
		return "", false
	}
	if rest, ok = strings.CutPrefix(rest, ":"); !ok {
		return "", false
	}
	core, _, ok := leadingUint(rest, 10, 0)
	if !ok || core > 1<<32-1 {
		return "", false
	}
	if core == 0 {
		return "", true
	}
	return "b" + strconv.FormatUint(core, 10), true
}

// parentNumber finds the nearest ancestor of a subsystem and reads its
// sysname as sscanf's "<prefix>%u": the number and what follows it.
func parentNumber(dev SysDevice, subsystem, prefix string) (uint64, string, bool) {
	d, ok := dev.ParentWith(subsystem, "")
	if !ok {
		return 0, "", false
	}
	rest, ok := strings.CutPrefix(d.Sysname(), prefix)
	if !ok {
		return 0, "", false
	}
	return leadingUint(rest, 10, 0)
}

// ccwName is names_ccw: an s390 channel device (ccw, or grouped: ccwgroup)
// as the parent, past virtio, named "c" and its bus ID without leading
// zeros and dots: 0.0.0600 is "c600", 0.0.0000 "c0".
func ccwName(dev SysDevice) (string, bool) {
	parent, ok := dev.Parent()
	if !ok {
		return "", false
	}
	if parent, ok = skipVirtio(parent); !ok {
		return "", false
	}
	if s := parent.Subsystem(); s != "ccw" && s != "ccwgroup" {
		return "", false
	}
	id := parent.Sysname()
	if len(id) != 8 && len(id) != 9 {
		return "", false
	}
	trimmed := strings.TrimLeft(id, ".0")
	if trimmed == "" {
		trimmed = id[len(id)-1:]
	}
	return "c" + trimmed, true
}

// vioName is names_vio: an IBM POWER virtual I/O device as the parent,
// "devices/vio/<bus:4 hex><slot:4 hex>/net/eth<n>", named "v<slot>". The
// kernel name must still be eth<n>.
func vioName(dev SysDevice) (string, bool) {
	rest, ok := pathBelowParent(dev, "vio", "devices/vio/")
	if !ok {
		return "", false
	}
	if _, rest, ok = leadingUint(rest, 16, 4); !ok {
		return "", false
	}
	slot, rest, ok := leadingUint(rest, 16, 4)
	if !ok {
		return "", false
	}
	if !ethSuffix(rest) {
		return "", false
	}
	return "v" + strconv.FormatUint(slot, 10), true
}

// pathBelowParent is the device's path after prefix when its parent is
// of the subsystem: vio, platform and xen devices are named from the path
// (as the kernel named them), and only when nothing is between the bus
// device and the interface.
func pathBelowParent(dev SysDevice, subsystem, prefix string) (string, bool) {
	parent, ok := dev.Parent()
	if !ok || parent.Subsystem() != subsystem {
		return "", false
	}
	return strings.CutPrefix(dev.Path, prefix)
}

// ethSuffix reports whether a path rest is "/net/eth<n>...", as the end
// of net_id's sscanf patterns demands.
func ethSuffix(rest string) bool {
	rest, ok := strings.CutPrefix(rest, "/net/eth")
	if !ok {
		return false
	}
	_, _, ok = leadingUint(rest, 10, 0)
	return ok
}

// platformName is names_platform: an ACPI platform device as the parent,
// "devices/platform/<vendor><model>:<instance>/net/eth<n>", the vendor a
// 3-letter PNP ID or a 4-character ACPI ID, the model 4 hex digits, named
// "a<vendor lowercase><model hex>i<instance>": HISI00C2:00 is "ahisic2i0".
func platformName(dev SysDevice) (string, bool) {
	rest, ok := pathBelowParent(dev, "platform", "devices/platform/")
	if !ok || len(rest) < len("vvvvPPPP")+1 {
		return "", false
	}
	width, valid := 3, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	if rest[len("vvvvPPPP")] == ':' {
		width, valid = 4, valid+"0123456789"
	}
	vendor, rest := scanWord(rest, width)
	if vendor == "" || strings.Trim(vendor, valid) != "" {
		return "", false
	}
	model, rest, ok := leadingUint(rest, 16, 4)
	if !ok {
		return "", false
	}
	if rest, ok = strings.CutPrefix(rest, ":"); !ok {
		return "", false
	}
	instance, rest, ok := leadingUint(rest, 16, 2)
	if !ok || !ethSuffix(rest) {
		return "", false
	}
	return "a" + strings.ToLower(vendor) + strconv.FormatUint(model, 16) + "i" + strconv.FormatUint(instance, 10), true
}

// scanWord is sscanf's %<width>s: up to width characters that are not
// white space.
func scanWord(s string, width int) (string, string) {
	n := 0
	for n < len(s) && n < width && !strings.ContainsRune(cSpace, rune(s[n])) {
		n++
	}
	return s[:n], s[n:]
}

// netdevsimName is names_netdevsim (from v243): a netdevsim port, named
// "i<netdevsim device number>n<phys_port_name>".
func netdevsimName(dev SysDevice, info linkInfo, scheme NamingScheme) (string, bool) {
	if !scheme.Has(NamingNetdevsim) || info.physPortName == "" {
		return "", false
	}
	num, _, ok := parentNumber(dev, "netdevsim", "netdevsim")
	if !ok || num > 1<<32-1 {
		return "", false
	}
	return "i" + strconv.FormatUint(num, 10) + "n" + info.physPortName, true
}

// xenName is names_xen (from v250): a Xen netfront device, whose parent is
// of subsystem xen (not xen-backend: dom0's backend interfaces are named
// otherwise), at devices/vif-<n>/, named "X<n>".
func xenName(dev SysDevice, scheme NamingScheme) (string, bool) {
	if !scheme.Has(NamingXenVIF) {
		return "", false
	}
	rest, ok := pathBelowParent(dev, "xen", "devices/vif-")
	if !ok {
		return "", false
	}
	num, _, ok := strings.Cut(rest, "/")
	if !ok {
		return "", false
	}
	id, ok := parseStrictDecimal(num)
	if !ok || id > 1<<32-1 {
		return "", false
	}
	return "X" + strconv.FormatUint(id, 10), true
}

// devicetreeBase is where /proc/device-tree points: sysfs's copy of the
// flattened devicetree.
const devicetreeBase = "firmware/devicetree/base"

// devicetreeOnboard is dev_devicetree_onboard (from v252): the parent's
// of_node is a devicetree node that an "ethernet<n>" alias names, giving
// "d<n>"; a bare "ethernet" alias is index 0, and an "ethernet" and an
// "ethernet0" both present are a conflict that names nothing.
func devicetreeOnboard(dev SysDevice, scheme NamingScheme) (string, bool) {
	if !scheme.Has(NamingDevicetreeAliases) {
		return "", false
	}
	parent, ok := dev.Parent()
	if !ok {
		return "", false
	}
	node, err := NewSysDevice(dev.FS, path.Join(parent.Path, "of_node"))
	if err != nil {
		return "", false
	}
	nodePath, ok := strings.CutPrefix(node.Path, devicetreeBase+"/")
	if !ok {
		return "", false
	}
	aliases, err := NewSysDevice(dev.FS, path.Join(devicetreeBase, "aliases"))
	if err != nil {
		return "", false
	}
	return matchEthernetAlias(aliases, "/"+nodePath)
}

// matchEthernetAlias finds the "ethernet<n>" alias whose value is the
// node's path. sd-device lists attributes in no order; here they are
// tried in name order. An alias with a non-numeric index matching the
// node ends the search with nothing, as in 252.
func matchEthernetAlias(aliases SysDevice, nodePath string) (string, bool) {
	entries, err := fs.ReadDir(aliases.FS, aliases.Path)
	if err != nil {
		return "", false
	}
	for _, e := range entries {
		name := e.Name()
		idx, ok := strings.CutPrefix(name, "ethernet")
		if !ok {
			continue
		}
		v, err := aliases.Attr(name)
		if err != nil || path.Clean(v) != path.Clean(nodePath) {
			continue
		}
		i, conflict := uint64(0), "ethernet0"
		if idx != "" {
			if i, ok = safeAtou(idx, 0, 32); !ok {
				return "", false
			}
			conflict = "ethernet"
		}
		if _, err := aliases.Attr(conflict); i == 0 && err == nil {
			return "", false
		}
		return "d" + strconv.FormatUint(i, 10), true
	}
	return "", false
}
