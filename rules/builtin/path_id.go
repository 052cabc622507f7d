package builtin

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// ErrNoPathID: path_id found no persistent path for the device: nothing
// along its parents names a place (udevd's -ENOENT), no parent of a known
// bus, or a block device with no known transport.
var ErrNoPathID = errors.New("no persistent device path")

// PathID is udevd 252's path_id builtin: ID_PATH, the device's place in
// the machine composed from its parents (pci-0000:00:1f.2-ata-1.0), with
// ID_PATH_TAG, the same as a tag name, and for ATA disks
// ID_PATH_ATA_COMPAT, the path as udev before 252 wrote it (ata-1 with no
// target). It takes no arguments.
func PathID(ctx context.Context, dev *Device, argv []string) ([]Prop, error) {
	d, err := dev.Sys()
	if err != nil {
		return nil, fmt.Errorf("path_id: %w", err)
	}
	var w pathWalk
	if err := w.walk(d); err != nil {
		return nil, fmt.Errorf("path_id %s: %w", d.Path, err)
	}
	switch {
	case w.path == nil:
		return nil, fmt.Errorf("path_id %s: %w", d.Path, ErrNoPathID)
	case !w.supportedParent:
		// Without a parent of a known bus the path may not be unique.
		return nil, fmt.Errorf("path_id %s: %w: no parent of a known bus", d.Path, ErrNoPathID)
	case d.Subsystem() == "block" && !w.supportedTransport:
		// Some block devices hide their bus: no predictable name.
		return nil, fmt.Errorf("path_id %s: %w: no known transport", d.Path, ErrNoPathID)
	}
	path := strings.Join(w.path, "-")
	props := []Prop{{"ID_PATH", path}, {"ID_PATH_TAG", pathTag(path)}}
	if w.compat != nil {
		props = append(props, Prop{"ID_PATH_ATA_COMPAT", strings.Join(w.compat, "-")})
	}
	return props, nil
}

// pathWalk is path_id's state while it climbs from the device to the top:
// the path's elements, outermost first, and the ATA compat path, nil until
// an ATA device starts it (then the buses above prepend to both).
type pathWalk struct {
	dev                                 SysDevice
	path, compat                        []string
	supportedTransport, supportedParent bool
}

func (w *pathWalk) prepend(s string) { w.path = append([]string{s}, w.path...) }

// prependBoth prepends to the path and, once an ATA device started it, to
// the compat path.
func (w *pathWalk) prependBoth(s string) {
	w.prepend(s)
	if w.compat != nil {
		w.compat = append([]string{s}, w.compat...)
	}
}

// walk climbs the parents, each bus's handler adding to the path and
// naming the device to go on from (it may skip several of the same bus);
// a handler without an answer stops the walk.
func (w *pathWalk) walk(dev SysDevice) error {
	w.dev = dev
	for p, ok := dev, true; ok; p, ok = p.Parent() {
		var err error
		if p, ok, err = w.step(p); err != nil {
			return err
		}
		if !ok {
			break
		}
	}
	return nil
}

// simpleBuses prepend "<bus>-<sysname>" and skip their own parents of
// the same bus; the flags are whether they are a known transport (besides
// a known parent, which all are).
var simpleBuses = map[string]bool{
	"pci": false, "acpi": false, "xen": false,
	"platform": true, "scm": true, "ccw": true, "ccwgroup": true, "iucv": true,
}

// step handles one device of the walk by its subsystem.
func (w *pathWalk) step(p SysDevice) (SysDevice, bool, error) {
	subsys := p.Subsystem()
	if transport, ok := simpleBuses[subsys]; ok {
		w.prependBoth(subsys + "-" + p.Sysname())
		w.supportedParent = true
		w.supportedTransport = w.supportedTransport || transport
		return skipSubsystem(p, subsys), true, nil
	}
	switch subsys {
	case "scsi_tape":
		w.scsiTape(p)
	case "scsi":
		w.supportedTransport = true
		return w.scsi(p)
	case "cciss":
		w.supportedTransport = true
		return w.cciss(p)
	case "usb":
		w.supportedTransport = true
		return w.usb(p), true, nil
	case "bcma":
		w.supportedTransport = true
		return w.bcma(p)
	case "serio", "spi":
		w.numbered(p, subsys)
		return skipIfNumbered(p, subsys), true, nil
	case "virtio":
		w.supportedTransport = true
		return skipSubsystem(p, "virtio"), true, nil
	case "ap":
		w.supportedTransport, w.supportedParent = true, true
		return w.ap(p), true, nil
	case "nvme", "nvme-subsystem":
		return w.nvme(p, subsys)
	}
	return p, true, nil
}

// skipSubsystem climbs from dev over its parents of subsys and returns the
// last of them (the walk then goes on from its parent): for
// usb1/1-1/1-1:1.0 it is usb1.
func skipSubsystem(dev SysDevice, subsys string) SysDevice {
	for p, ok := dev, true; ok && p.Subsystem() == subsys; p, ok = p.Parent() {
		dev = p
	}
	return dev
}

// numbered is serio's and spi's element, serio-<n> and cs-<n> from the
// sysnum, and nothing when the sysname ends in no number.
func (w *pathWalk) numbered(p SysDevice, subsys string) {
	n := p.Sysnum()
	if n == "" {
		return
	}
	if subsys == "spi" {
		w.prepend("cs-" + n)
	} else {
		w.prepend("serio-" + n)
	}
}

func skipIfNumbered(p SysDevice, subsys string) SysDevice {
	if p.Sysnum() == "" {
		return p
	}
	return skipSubsystem(p, subsys)
}

// scsiTape names the tape's mode for st and nst devices, only when the
// tape is the device itself (nothing in the path yet): "stl" of st0l.
func (w *pathWalk) scsiTape(p SysDevice) {
	if w.path != nil {
		return
	}
	name := p.Sysname()
	switch {
	case strings.HasPrefix(name, "nst") && len(name) > 3 && strings.IndexByte("lma", name[3]) >= 0:
		w.prepend("nst" + name[3:4])
	case strings.HasPrefix(name, "st") && len(name) > 2 && strings.IndexByte("lma", name[2]) >= 0:
		w.prepend("st" + name[2:3])
	}
}

// cciss: a disk of a Compaq Smart Array controller is a device c<ctl>d<disk>
// of the cciss bus (its block device cciss!c0d1 below it); the disk number
// names it, with sscanf's "c%ud%u" (a mismatch ends the walk).
func (w *pathWalk) cciss(p SysDevice) (SysDevice, bool, error) {
	name := p.Sysname()
	if !strings.HasPrefix(name, "c") {
		return p, false, nil
	}
	_, rest, ok := scanInt(name[1:])
	if !ok || !strings.HasPrefix(rest, "d") {
		return p, false, nil
	}
	disk, _, ok := scanInt(rest[1:])
	if !ok {
		return p, false, nil
	}
	w.prepend(fmt.Sprintf("cciss-disk%d", uint32(disk)))
	return skipSubsystem(p, "cciss"), true, nil
}

// usb: an interface or device is named by its port chain, the part of
// the sysname after the bus number (1-1.2:1.0 is usb-0:1.2:1.0), since bus
// numbers change across boots; the bus is always 0.
func (w *pathWalk) usb(p SysDevice) SysDevice {
	if t := p.Devtype(); t != "usb_interface" && t != "usb_device" {
		return p
	}
	_, port, ok := strings.Cut(p.Sysname(), "-")
	if !ok {
		return p
	}
	w.prepend("usb-0:" + port)
	return skipSubsystem(p, "usb")
}

// bcma: a Broadcom AMBA core, bcma0:3 is bcma-3.
func (w *pathWalk) bcma(p SysDevice) (SysDevice, bool, error) {
	rest, ok := strings.CutPrefix(p.Sysname(), "bcma")
	if !ok {
		return p, false, nil
	}
	v := scanInts(rest, ':', 2)
	if len(v) != 2 {
		return p, false, nil
	}
	w.prepend(fmt.Sprintf("bcma-%d", uint32(v[1])))
	return p, true, nil
}

// ap: an s390 AP bus device, by its type and functions when it has them.
func (w *pathWalk) ap(p SysDevice) SysDevice {
	typ, err1 := p.Attr("type")
	fn, err2 := p.Attr("ap_functions")
	if err1 == nil && err2 == nil {
		w.prepend("ap-" + typ + "-" + fn)
	} else {
		w.prepend("ap-" + p.Sysname())
	}
	return skipSubsystem(p, "ap")
}

// nvme: a namespace is named by the nsid attribute of the device path_id
// runs for (nvme-1); the controller itself has none and adds nothing. With
// multipathing the namespace hangs below a virtual nvme-subsystem device,
// so the walk goes on from the real controller of the same number.
func (w *pathWalk) nvme(p SysDevice, subsys string) (SysDevice, bool, error) {
	nsid, err := w.dev.Attr("nsid")
	if err != nil {
		return p, true, nil
	}
	w.prependBoth("nvme-" + nsid)
	if subsys == "nvme-subsystem" {
		if p, err = realNVMeParent(w.dev); err != nil {
			return p, false, err
		}
	}
	w.supportedParent, w.supportedTransport = true, true
	return skipSubsystem(p, "nvme"), true, nil
}

// realNVMeParent finds controller nvmeN of a namespace nvmeNnM (nvmeNcXnM
// are hidden) in the nvme class; a controller that is itself virtual
// (NVMe over fabrics) has no stable path.
func realNVMeParent(dev SysDevice) (SysDevice, error) {
	rest, ok := strings.CutPrefix(dev.Sysname(), "nvme")
	if !ok {
		return SysDevice{}, fmt.Errorf("%w: %s is no nvme namespace", ErrNoDevice, dev.Sysname())
	}
	n := len(rest) - len(strings.TrimLeft(rest, "0123456789"))
	ctl, err := LookupSysDevice(dev.FS, "nvme", "nvme"+rest[:n])
	if err != nil {
		return SysDevice{}, err
	}
	if strings.HasPrefix(ctl.Path, "devices/virtual/") {
		return SysDevice{}, fmt.Errorf("%w: nvme controller %s is virtual", ErrNoDevice, ctl.Path)
	}
	return ctl, nil
}

// pathTag turns a path into a tag name: letters, digits and '-' stay,
// every run of other bytes is one '_', none at either end.
func pathTag(path string) string {
	var b strings.Builder
	for i := 0; i < len(path); i++ {
		c := path[i]
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '-':
			b.WriteByte(c)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "_"):
			b.WriteByte('_')
		}
	}
	return strings.TrimRight(b.String(), "_")
}

// hostNumbers are the N of the hostN entries of a directory (directories
// or links), as handle_scsi_default lists the host's siblings.
func hostNumbers(fsys fs.FS, dir string) []int64 {
	entries, err := fs.ReadDir(fsys, pathOrRoot(dir))
	if err != nil {
		return nil
	}
	var ns []int64
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || !(e.IsDir() || e.Type()&fs.ModeSymlink != 0) {
			continue
		}
		rest, ok := strings.CutPrefix(name, "host")
		if !ok {
			continue
		}
		if n, ok := safeAtou(rest, 10, 32); ok {
			ns = append(ns, int64(n))
		}
	}
	return ns
}
