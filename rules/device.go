package rules

import (
	"slices"
	"strings"

	"github.com/gudevd/gudevd/rules/builtin"
)

// Property is one KEY=VALUE of a device.
type Property struct {
	Key, Value string
}

// Device is what udevd's sd_device gives the rules about one device: the
// event's device (built from the kernel's uevent) or one of its parents
// (built from sysfs and the database by the Host).
type Device struct {
	// Syspath is absolute: "/sys/devices/pci0000:00/.../block/sda".
	Syspath   string
	Subsystem string // "" when the device has none
	Devtype   string
	Driver    string // "" when the device is bound to none
	// Devname is the device node, "/dev/sda"; "" when there is none.
	Devname string
	// Major and Minor are the device number; udevd treats a device as
	// having one only when Major > 0 (sd_device_get_devnum).
	Major, Minor uint32
	// Ifindex is the network interface index, 0 when not a netif.
	Ifindex int
	Action  string // "add", "change", "remove", "move", "bind", "unbind", "online", "offline"
	Seqnum  uint64
	// Props are the device's properties in order: for the event's device
	// the uevent message's (DeviceFromUevent), for a parent what sd-device
	// reads (DEVPATH, SUBSYSTEM, the uevent file's). DEVNAME is absolute
	// here, as sd-device keeps it.
	Props []Property
	// DB is what the database holds from an earlier event; nil when the
	// device has no database entry.
	DB *DB
}

// DB is a device's entry in udevd's database (/run/udev/data/<id>).
type DB struct {
	Props        []Property // E: lines
	Tags         []string   // G: every tag ever set ("all tags")
	CurrentTags  []string   // Q: (G: when the entry predates V:1)
	Devlinks     []string   // S: lines with "/dev/" prepended
	LinkPriority int        // L:
}

// Devpath is the syspath without its "/sys" prefix, as sd_device_get_devpath.
func (d *Device) Devpath() string {
	return strings.TrimPrefix(d.Syspath, "/sys")
}

// Sysname is the last component of the devpath with '!' taken as '/'
// (block devices such as "cciss!c0d0").
func (d *Device) Sysname() string { return d.sys().Sysname() }

// Sysnum is the run of digits that ends the sysname, "" when there is
// none or when the sysname is nothing but digits (sd-device does not give
// "0" a number).
func (d *Device) Sysnum() string { return d.sys().Sysnum() }

// sys is the device as rules/builtin names sysfs paths; only its path is
// used here.
func (d *Device) sys() builtin.SysDevice {
	return builtin.SysDevice{Path: strings.TrimPrefix(d.Syspath, "/sys/")}
}

// hasDevnum reports whether sd_device_get_devnum succeeds.
func (d *Device) hasDevnum() bool { return d.Major > 0 }

// hasIfindex reports whether sd_device_get_ifindex succeeds.
func (d *Device) hasIfindex() bool { return d.Ifindex > 0 }

// properties are what sd_device_get_property_value sees of a device that
// is not the event's: its Props, then the database's, which override them
// (device_read_db adds them after the uevent file), then DEVLINKS, TAGS
// and CURRENT_TAGS from the database's links and tags.
func (d *Device) properties() *propList {
	pl := newPropList(d.Props)
	if d.DB == nil {
		return pl
	}
	for _, p := range d.DB.Props {
		pl.set(p.Key, p.Value)
	}
	if len(d.DB.Devlinks) > 0 {
		pl.set("DEVLINKS", strings.Join(d.DB.Devlinks, " "))
	}
	if len(d.DB.Tags) > 0 {
		pl.set("TAGS", ":"+strings.Join(d.DB.Tags, ":")+":")
	}
	if len(d.DB.CurrentTags) > 0 {
		pl.set("CURRENT_TAGS", ":"+strings.Join(d.DB.CurrentTags, ":")+":")
	}
	return pl
}

// currentTags are the tags TAGS== sees on a parent: its database's.
func (d *Device) currentTags() []string {
	if d.DB == nil {
		return nil
	}
	return d.DB.CurrentTags
}

// propList is an ordered map, as sd_device keeps its properties: a
// replaced key keeps its place, a removed and re-added one goes last.
type propList struct {
	list []Property
	idx  map[string]int
}

func newPropList(ps []Property) *propList {
	pl := &propList{idx: map[string]int{}}
	for _, p := range ps {
		pl.set(p.Key, p.Value)
	}
	return pl
}

func (pl *propList) get(key string) (string, bool) {
	i, ok := pl.idx[key]
	if !ok {
		return "", false
	}
	return pl.list[i].Value, true
}

func (pl *propList) set(key, value string) {
	if i, ok := pl.idx[key]; ok {
		pl.list[i].Value = value
		return
	}
	pl.idx[key] = len(pl.list)
	pl.list = append(pl.list, Property{key, value})
}

func (pl *propList) unset(key string) {
	i, ok := pl.idx[key]
	if !ok {
		return
	}
	pl.list = append(pl.list[:i], pl.list[i+1:]...)
	delete(pl.idx, key)
	for j := i; j < len(pl.list); j++ {
		pl.idx[pl.list[j].Key] = j
	}
}

func (pl *propList) all() []Property {
	return append([]Property(nil), pl.list...)
}

// strSet is an insertion-ordered set of strings. udevd keeps tags and
// links in hash sets, whose order is arbitrary; this order is stable.
type strSet struct {
	list []string
}

func (s *strSet) has(v string) bool { return slices.Contains(s.list, v) }

func (s *strSet) add(v string) {
	if !s.has(v) {
		s.list = append(s.list, v)
	}
}

func (s *strSet) remove(v string) {
	if i := slices.Index(s.list, v); i >= 0 {
		s.list = slices.Delete(s.list, i, i+1)
	}
}

func (s *strSet) clear() { s.list = nil }

func (s *strSet) values() []string { return append([]string(nil), s.list...) }
