package builtin

import (
	"fmt"
	"io/fs"
	"math"
	"path"
	"strconv"
	"strings"
)

// Cut-offs of the onboard index: firmware reports rubbish like VMware's
// 2^24-1, and s390 uses indexes up to 2^16-1, believed from v249.
const (
	onboardIndexMax14 = 1<<14 - 1
	onboardIndexMax16 = 1<<16 - 1
)

// pciHeaderType is the offset of the header type byte in PCI config
// space; its top bit marks a multi-function device.
const pciHeaderType = 0x0e

// pciNames are the PCI parts of the names, without the type prefix.
type pciNames struct {
	direct   bool // the PCI device is the interface's parent (past virtio)
	onboard  string
	label    string
	hasLabel bool
	path     string
	slot     string
}

// pciNames is names_pci: the PCI device is the interface's parent, past
// any virtio device (virtio-net sits on a virtioN device on PCI), or else
// the nearest PCI ancestor (for USB and BCMA). An SR-IOV virtual function
// is named after its physical function plus "v<n>" from v239.
func (n *netNamer) pciNames() (pciNames, bool) {
	parent, ok := n.dev.Parent()
	if !ok {
		return pciNames{}, false
	}
	parent, ok = skipVirtio(parent)
	if !ok {
		return pciNames{}, false
	}
	var p pciNames
	pcidev := parent
	if parent.Subsystem() == "pci" {
		p.direct = true
	} else if pcidev, ok = n.dev.ParentWith("pci", ""); !ok {
		return pciNames{}, false
	}
	if n.scheme.Has(NamingSRIOVv) {
		if physfn, suffix, ok := virtfnInfo(pcidev); ok {
			var vf pciNames
			n.pciOnboard(physfn, &vf)
			n.pciSlot(physfn, &vf)
			// The label of the physical function is not the VF's.
			p.onboard = withSuffix(vf.onboard, suffix)
			p.path = withSuffix(vf.path, suffix)
			p.slot = withSuffix(vf.slot, suffix)
			return p, true
		}
	}
	n.pciOnboard(pcidev, &p)
	n.pciSlot(pcidev, &p)
	return p, true
}

// withSuffix appends the VF suffix to a name that is there and still fits.
func withSuffix(name, suffix string) string {
	if name == "" || len(name)+len(suffix) >= altIfNameSize {
		return ""
	}
	return name + suffix
}

// skipVirtio steps over virtio devices: a PCI or CCW device has at most one
// virtio bus below it, so the virtio device adds nothing to a name. False
// when a virtio device has no parent.
func skipVirtio(d SysDevice) (SysDevice, bool) {
	for d.Subsystem() == "virtio" {
		var ok bool
		if d, ok = d.Parent(); !ok {
			return SysDevice{}, false
		}
	}
	return d, true
}

// virtfnInfo finds the physical function of a virtual function (its physfn
// link) and the number of the physfn's "virtfn<n>" link that points back
// at it, the suffix "v<n>".
func virtfnInfo(pcidev SysDevice) (SysDevice, string, bool) {
	physfn, err := NewSysDevice(pcidev.FS, path.Join(pcidev.Path, "physfn"))
	if err != nil {
		return SysDevice{}, "", false
	}
	entries, err := fs.ReadDir(physfn.FS, physfn.Path)
	if err != nil {
		return SysDevice{}, "", false
	}
	for _, e := range entries {
		num, ok := strings.CutPrefix(e.Name(), "virtfn")
		if !ok || num == "" || strings.Trim(num, "0123456789") != "" {
			continue
		}
		vf, err := NewSysDevice(physfn.FS, path.Join(physfn.Path, e.Name()))
		if err == nil && vf.Path == pcidev.Path {
			return physfn, "v" + num, true
		}
	}
	return SysDevice{}, "", false
}

// pciOnboard is dev_pci_onboard: the firmware's index of an onboard device,
// ACPI's _DSM (acpi_index) or else SMBIOS type 41 (index), with the port
// of a multi-port function, and the firmware's label.
func (n *netNamer) pciOnboard(pcidev SysDevice, p *pciNames) {
	s, err := pcidev.Attr("acpi_index")
	if err != nil {
		if s, err = pcidev.Attr("index"); err != nil {
			return
		}
	}
	idx, ok := safeAtou(s, 0, 64)
	if !ok {
		return
	}
	if idx == 0 && !n.scheme.Has(NamingZeroACPIIndex) {
		return
	}
	limit := uint64(onboardIndexMax14)
	if n.scheme.Has(Naming16BitIndex) {
		limit = onboardIndexMax16
	}
	if idx > limit {
		return
	}
	name := "o" + strconv.FormatUint(idx, 10) + n.portSuffix(n.devPort())
	if len(name) < altIfNameSize {
		p.onboard = name
	}
	p.label, err = pcidev.Attr("label")
	p.hasLabel = err == nil
}

// hasAttr reports whether the interface has a readable attribute.
func (n *netNamer) hasAttr(name string) bool {
	_, err := n.dev.Attr(name)
	return err == nil
}

// devPort is the dev_port attribute, the port of a multi-port PCI
// function, 0 when missing or unparsable; read as decimal.
func (n *netNamer) devPort() uint64 {
	s, err := n.dev.Attr("dev_port")
	if err != nil {
		return 0
	}
	v, _ := safeAtou(s, 10, 64)
	return v
}

// portSuffix names the port of a multi-port function: the driver's front
// panel name (phys_port_name) as "n<name>", else "d<dev_port>" for a port
// other than 0.
func (n *netNamer) portSuffix(devPort uint64) string {
	switch {
	case n.info.physPortName != "":
		return "n" + n.info.physPortName
	case devPort > 0:
		return "d" + strconv.FormatUint(devPort, 10)
	}
	return ""
}

// pciAddr is a PCI device's address from its sysname, "0000:00:1f.6".
type pciAddr struct {
	domain, bus, slot, fn uint64
}

// parsePCIAddr reads a sysname as sscanf's "%x:%x:%x.%u" does.
func parsePCIAddr(sysname string) (pciAddr, bool) {
	var a pciAddr
	var ok bool
	rest := sysname
	for i, f := range []*uint64{&a.domain, &a.bus, &a.slot, &a.fn} {
		base, sep := 16, ":"
		switch i {
		case 2:
			sep = "."
		case 3:
			base, sep = 10, ""
		}
		if *f, rest, ok = leadingUint(rest, base, 0); !ok {
			return a, false
		}
		if sep != "" {
			if rest, ok = strings.CutPrefix(rest, sep); !ok {
				return a, false
			}
		}
	}
	return a, a.domain <= math.MaxUint32 && a.bus <= math.MaxUint32 && a.slot <= math.MaxUint32 && a.fn <= math.MaxUint32
}

// pciSlot is dev_pci_slot: the path name from the PCI address, and the
// slot name from the hotplug slot of the device or of a bridge above it.
func (n *netNamer) pciSlot(pcidev SysDevice, p *pciNames) {
	a, ok := parsePCIAddr(pcidev.Sysname())
	if !ok {
		return
	}
	if n.scheme.Has(NamingNPARARI) && attrIs(pcidev, "ari_enabled", "1") {
		// ARI allows 256 functions in one device: the 5-bit slot and 3-bit
		// function number are one 8-bit function number.
		a.fn += a.slot * 8
	}
	port := n.portSuffix(n.ifacePort())
	multi := isPCIMultifunction(pcidev)
	fn := ""
	if a.fn > 0 || multi {
		fn = "f" + strconv.FormatUint(a.fn, 10)
	}
	name := fmt.Sprintf("%sp%ds%d%s%s", domainPart(a.domain), a.bus, a.slot, fn, port)
	if len(name) < altIfNameSize {
		p.path = name
	}
	slot, byFunctionID, ok := n.hotplugSlot(pcidev, multi)
	if !ok {
		return
	}
	if byFunctionID {
		// s390's slot is the function's own: the domain is no part of it.
		a.domain = 0
	}
	name = fmt.Sprintf("%ss%d%s%s", domainPart(a.domain), slot, fn, port)
	if len(name) < altIfNameSize {
		p.slot = name
	}
}

// domainPart is "P<domain>" for a PCI domain other than 0.
func domainPart(domain uint64) string {
	if domain == 0 {
		return ""
	}
	return "P" + strconv.FormatUint(domain, 10)
}

// ifacePort is the port number dev_pci_slot uses: dev_port, or for
// InfiniBand whose dev_port is 0 the dev_id attribute, where older kernels
// put IPoIB's port. Both are read as decimal, so a dev_id like "0x1"
// counts as 0 here just as in 252.
func (n *netNamer) ifacePort() uint64 {
	v := n.devPort()
	if v == 0 && n.info.iftype == arphrdInfiniband && n.hasAttr("dev_port") {
		if s, err := n.dev.Attr("dev_id"); err == nil {
			v, _ = safeAtou(s, 10, 64)
		}
	}
	return v
}

// attrIs reports whether an attribute reads as want.
func attrIs(d SysDevice, name, want string) bool {
	s, err := d.Attr(name)
	return err == nil && s == want
}

// isPCIMultifunction reads the multi-function bit of the header type in
// the device's config space (the config file is binary: read raw).
func isPCIMultifunction(d SysDevice) bool {
	b, err := fs.ReadFile(d.FS, path.Join(d.Path, "config"))
	return err == nil && len(b) > pciHeaderType && b[pciHeaderType]&0x80 != 0
}

// isPCIBridge reports a PCI-to-PCI bridge by its modalias: the subclass
// after the last 's' ("...bc06sc04i00") is 04.
func isPCIBridge(d SysDevice) bool {
	m, err := d.Attr("modalias")
	if err != nil || !strings.HasPrefix(m, "pci:") {
		return false
	}
	i := strings.LastIndexByte(m, 's')
	return strings.HasPrefix(m[i+1:], "c04")
}
