package rules

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/gudevd/gudevd/rules/builtin"
)

// The helpers below read a sysfs tree given as an fs.FS rooted at /sys
// (os.DirFS("/sys") or a fstest.MapFS) through rules/builtin's SysDevice,
// which reads it as sd-device 252 does. A Host may use them; FakeHost does.

// fsPath turns an absolute path below /sys into a path of an fs.FS rooted
// at /sys; ok is false for paths outside /sys.
func fsPath(p string) (string, bool) {
	p = path.Clean(p)
	if p == "/sys" {
		return ".", true
	}
	rest, ok := strings.CutPrefix(p, "/sys/")
	return rest, ok
}

// ReadSysAttr reads attribute name of the device at syspath as
// sd_device_get_sysattr_value (builtin.SysDevice.Attr). A regular file its
// owner may not read is also fs.ErrPermission, which
// "[SUBSYSTEM/KERNEL]attr" takes as an empty value.
func ReadSysAttr(fsys fs.FS, syspath, name string) (string, error) {
	rel, ok := fsPath(syspath)
	if !ok {
		return "", fmt.Errorf("attribute %q of %s: %w", name, syspath, fs.ErrNotExist)
	}
	v, err := builtin.SysDevice{FS: fsys, Path: rel}.Attr(name)
	if errors.Is(err, builtin.ErrNotAttribute) {
		if fi, lerr := fs.Lstat(fsys, path.Join(rel, name)); lerr == nil && fi.Mode().IsRegular() {
			err = fmt.Errorf("%w: %w", err, fs.ErrPermission)
		}
	}
	return v, err
}

// DeviceFromFS reads the device at syspath from a sysfs tree, as
// sd_device_new_from_syspath (links resolved; below /sys/devices a
// directory is a device only with a uevent file). Its subsystem and
// driver come from its links, its node, type, numbers and ifindex from its
// uevent file; Props are DEVPATH, SUBSYSTEM and the uevent file's lines.
// DB and Action stay empty.
func DeviceFromFS(fsys fs.FS, syspath string) (*Device, error) {
	rel, ok := fsPath(syspath)
	if !ok {
		return nil, fmt.Errorf("%s: %w", syspath, builtin.ErrNoDevice)
	}
	sd, err := builtin.NewSysDevice(fsys, rel)
	if err != nil {
		return nil, err // it wraps builtin.ErrNoDevice
	}
	return fromSysDevice(sd), nil
}

func fromSysDevice(sd builtin.SysDevice) *Device {
	d := &Device{
		Syspath:   "/sys/" + sd.Path,
		Subsystem: sd.Subsystem(),
		Driver:    sd.Driver(),
	}
	d.Props = append(d.Props, Property{"DEVPATH", d.Devpath()})
	if d.Subsystem != "" {
		d.Props = append(d.Props, Property{"SUBSYSTEM", d.Subsystem})
	}
	for _, p := range sd.UeventProps() {
		d.applyProp(p.Key, p.Value)
	}
	return d
}

// ErrBadUevent: a uevent lacks ACTION or DEVPATH.
var ErrBadUevent = errors.New("uevent without ACTION or DEVPATH")

// DeviceFromUevent is the event's device as udevd makes it from the
// kernel's message (device_new_from_nulstr): the properties in their
// order, DEVNAME made absolute, the fields taken from ACTION, DEVPATH,
// SUBSYSTEM, DEVTYPE, DRIVER, DEVNAME, MAJOR, MINOR, IFINDEX and SEQNUM.
// A message without DRIVER leaves Driver to the caller (sd-device then
// reads the driver link). DB is the caller's too.
func DeviceFromUevent(props []Property) (*Device, error) {
	d := &Device{}
	for _, p := range props {
		d.applyProp(p.Key, p.Value)
	}
	if d.Action == "" || d.Syspath == "" {
		return nil, ErrBadUevent
	}
	return d, nil
}

// applyProp takes one property of a uevent.
func (d *Device) applyProp(k, v string) {
	if k == "DEVNAME" && !strings.HasPrefix(v, "/") {
		v = "/dev/" + v // sd-device keeps the node absolute
	}
	d.Props = append(d.Props, Property{k, v})
	switch k {
	case "ACTION":
		d.Action = v
	case "DEVPATH":
		d.Syspath = "/sys" + v
	case "SUBSYSTEM":
		d.Subsystem = v
	case "SEQNUM":
		d.Seqnum, _ = strconv.ParseUint(v, 10, 64)
	case "DEVNAME":
		d.Devname = v
	case "DEVTYPE":
		d.Devtype = v
	case "MAJOR", "MINOR":
		n, _ := strconv.ParseUint(v, 10, 32)
		if k == "MAJOR" {
			d.Major = uint32(n)
		} else {
			d.Minor = uint32(n)
		}
	case "IFINDEX":
		d.Ifindex, _ = strconv.Atoi(v)
	case "DRIVER":
		d.Driver = v
	}
}

// ParentFromFS finds the parent of the device at syspath as
// sd_device_get_parent: the nearest leading directory that is a device;
// builtin.ErrNoDevice when none is below /sys.
func ParentFromFS(fsys fs.FS, syspath string) (*Device, error) {
	rel, ok := fsPath(syspath)
	if !ok {
		return nil, fmt.Errorf("parent of %s: %w", syspath, builtin.ErrNoDevice)
	}
	p, ok := builtin.SysDevice{FS: fsys, Path: rel}.Parent()
	if !ok {
		return nil, fmt.Errorf("parent of %s: %w", syspath, builtin.ErrNoDevice)
	}
	return fromSysDevice(p), nil
}

// LookupFromFS finds a device by subsystem and sysname as
// sd_device_new_from_subsystem_sysname, for "[SUBSYSTEM/KERNEL]attr".
func LookupFromFS(fsys fs.FS, subsystem, sysname string) (*Device, error) {
	sd, err := builtin.LookupSysDevice(fsys, subsystem, sysname)
	if err != nil {
		return nil, err // it wraps builtin.ErrNoDevice
	}
	return fromSysDevice(sd), nil
}
