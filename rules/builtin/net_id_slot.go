package builtin

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path"
	"strings"
)

// hotplugSlot finds the PCI hotplug slot (ACPI _SUN, listed in
// bus/pci/slots/<n>/address) of pcidev or, when it has none, of the
// nearest bridge above it that has one. byFunctionID is true when s390's
// function_id named the slot. False for no slot, and for a slot on a
// bridge that the scheme does not let name the device: from v247 a
// bridge's slot would give every device behind it the same name; from
// v251 it names a multi-function device still.
func (n *netNamer) hotplugSlot(pcidev SysDevice, multi bool) (slot uint64, byFunctionID, ok bool) {
	bus, err := LookupSysDevice(pcidev.FS, "subsystem", "pci")
	if err != nil {
		return 0, false, false
	}
	slots := path.Join(bus.Path, "slots")
	entries, err := fs.ReadDir(bus.FS, slots)
	if err != nil {
		return 0, false, false
	}
	for d, more := pcidev, true; more; d, more = d.ParentWith("pci", "") {
		id, found, err := n.slotFromFunctionID(d, slots)
		if err != nil {
			return 0, false, false
		}
		if found {
			return id, true, true
		}
		if s, found := slotByAddress(bus, entries, d.Sysname()); found {
			if n.scheme.Has(NamingBridgeNoSlot) && isPCIBridge(d) &&
				(!n.scheme.Has(NamingBridgeMultifunctionSlot) || !multi) {
				return 0, false, false
			}
			return s, false, true
		}
	}
	return 0, false, false
}

// slotByAddress finds the slot whose address ("0000:00:03", the device's
// address without the function) starts the sysname. Slots named other than
// by a positive number ("1-1") are skipped. sysfs lists them in no order;
// here they are tried in name order.
func slotByAddress(bus SysDevice, entries []fs.DirEntry, sysname string) (uint64, bool) {
	for _, e := range entries {
		i, ok := safeAtou(e.Name(), 0, 32)
		if !ok || i == 0 {
			continue
		}
		addr, err := bus.Attr(path.Join("slots", e.Name(), "address"))
		if err != nil || !strings.HasPrefix(sysname, addr) {
			continue
		}
		return i, true
	}
	return 0, false
}

// errBadFunctionID: a function_id that names no slot, which stops the
// slot search.
var errBadFunctionID = errors.New("bad function_id")

// slotFromFunctionID: s390 PCI functions have a function_id attribute, and
// from v249 their slot is the directory named by it as 8 hex digits.
// found is false when there is no function_id (or the scheme predates
// it); an error when it does not name an existing slot.
func (n *netNamer) slotFromFunctionID(d SysDevice, slots string) (uint64, bool, error) {
	if !n.scheme.Has(NamingSlotFunctionID) {
		return 0, false, nil
	}
	s, err := d.Attr("function_id")
	if err != nil {
		return 0, false, nil
	}
	id, ok := safeAtou(s, 0, 64)
	if !ok || id == 0 || id > math.MaxUint32 {
		return 0, false, fmt.Errorf("%w: %q", errBadFunctionID, s)
	}
	if _, err := fs.Stat(d.FS, path.Join(slots, fmt.Sprintf("%08x", id))); err != nil {
		return 0, false, fmt.Errorf("%w: slot %08x: %w", errBadFunctionID, id, err)
	}
	return id, true, nil
}
