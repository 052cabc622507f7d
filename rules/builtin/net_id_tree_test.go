package builtin

import (
	"io/fs"
	"path"
	"strings"
	"testing/fstest"
)

// sysTree builds small sysfs trees for the net_id tests, laid out as the
// kernel lays them out: a device is a directory with a uevent file and a
// subsystem link to class/<s> or bus/<s>.
type sysTree fstest.MapFS

// dev adds a device directory with its uevent lines and, unless subsystem
// is "", its subsystem link ("bus/pci", "class/net").
func (t sysTree) dev(p, subsystem string, uevent ...string) {
	t.file(path.Join(p, "uevent"), strings.Join(uevent, "\n")+"\n")
	if subsystem != "" {
		t.link(path.Join(p, "subsystem"), subsystem)
	}
}

// file adds a regular file (a sysfs attribute), readable by its owner.
func (t sysTree) file(p, content string) {
	t[p] = &fstest.MapFile{Data: []byte(content), Mode: 0o644}
}

// attrs adds attributes "name=value" below directory p, each value ending
// in a newline as the kernel prints them.
func (t sysTree) attrs(p string, kv ...string) {
	for _, s := range kv {
		k, v, _ := strings.Cut(s, "=")
		t.file(path.Join(p, k), v+"\n")
	}
}

// link adds a symlink at p to target, given relative to the sysfs root
// and written relative to p's directory, as sysfs writes its links.
func (t sysTree) link(p, target string) {
	up := strings.Repeat("../", strings.Count(path.Dir(p), "/")+1)
	t[p] = &fstest.MapFile{Data: []byte(up + target), Mode: fs.ModeSymlink | 0o777}
}

// pci adds a PCI device with its config space header type (0x80: multi
// function) and its modalias class ("020000": Ethernet, "060400": bridge).
func (t sysTree) pci(p string, headerType byte, class string) {
	t.dev(p, "bus/pci", "DRIVER=x", "PCI_CLASS="+class)
	cfg := make([]byte, 64)
	cfg[pciHeaderType] = headerType
	t[path.Join(p, "config")] = &fstest.MapFile{Data: cfg, Mode: 0o644}
	t.attrs(p, "modalias=pci:v00008086d0000100Esv00001AF4sd00001100bc"+class[:2]+"sc"+class[2:4]+"i"+class[4:])
}

// netdev adds a network interface: its uevent (INTERFACE, IFINDEX and
// any more lines), ifindex, iflink, type, address and addr_assign_type,
// then extra attributes. It returns the uevent's properties as the
// kernel's event would carry them.
func (t sysTree) netdev(p string, ifindex, iftype, address string, extra ...string) map[string]string {
	name := path.Base(p)
	props := map[string]string{"INTERFACE": name, "IFINDEX": ifindex}
	lines := []string{"INTERFACE=" + name, "IFINDEX=" + ifindex}
	var attrs []string
	for _, e := range extra {
		if k, v, ok := strings.Cut(e, "="); ok && k == "DEVTYPE" {
			props[k] = v
			lines = append(lines, e)
			continue
		}
		attrs = append(attrs, e)
	}
	t.dev(p, "class/net", lines...)
	t.attrs(p, "ifindex="+ifindex, "iflink="+ifindex, "type="+iftype, "address="+address, "addr_assign_type=0")
	t.attrs(p, attrs...)
	return props
}

// slot adds a PCI hotplug slot with its address.
func (t sysTree) slot(name, address string) {
	t.attrs("bus/pci/slots/"+name, "address="+address)
}
