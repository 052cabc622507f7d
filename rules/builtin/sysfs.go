package builtin

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// Errors of the sysfs helpers, for errors.Is.
var (
	// ErrNoDevice: the path is not a device directory of sysfs (for
	// sd-device, a directory below devices/ is a device only when it has a
	// uevent file), or no device of that subsystem and name exists.
	ErrNoDevice = errors.New("no such device")
	// ErrNotAttribute: the name is a directory, a link other than driver,
	// subsystem or module, or a file its owner cannot read; sd-device
	// refuses to read those as attributes.
	ErrNotAttribute = errors.New("not an attribute")
	// ErrSymlinkLoop: resolving a path followed too many symlinks.
	ErrSymlinkLoop = errors.New("too many levels of symbolic links")
)

// maxSymlinks is the kernel's limit on links followed in one lookup
// (MAXSYMLINKS).
const maxSymlinks = 40

// SysDevice is one device directory of sysfs as libsystemd's sd-device sees
// it: its sysname, sysnum, subsystem, driver, devtype, attributes and
// parents, read from FS on each call.
type SysDevice struct {
	FS fs.FS
	// Path is canonical (no symlinks in it), below the sysfs root, without
	// a leading slash: "devices/pci0000:00/0000:00:1d.0/usb2".
	Path string
}

// Sys returns the device a builtin runs for.
func (dev *Device) Sys() (SysDevice, error) {
	return NewSysDevice(dev.Sysfs, dev.Syspath)
}

// NewSysDevice resolves syspath's symlinks (a class/ or bus/ link names
// the same device as its target) and checks that it is a device, as
// sd_device_new_from_syspath does: below devices/ a directory with a uevent
// file, elsewhere any directory.
func NewSysDevice(fsys fs.FS, syspath string) (SysDevice, error) {
	p, err := resolvePath(fsys, syspath)
	if err != nil {
		return SysDevice{}, fmt.Errorf("%w: %s: %w", ErrNoDevice, syspath, err)
	}
	if !isDevice(fsys, p) {
		return SysDevice{}, fmt.Errorf("%w: %s", ErrNoDevice, syspath)
	}
	return SysDevice{FS: fsys, Path: p}, nil
}

// LookupSysDevice finds the device of a subsystem by its sysname as
// sd_device_new_from_subsystem_sysname does: a '/' of the sysname is a '!'
// in sysfs, and the device is looked for as bus/<subsystem>/devices/<name>,
// then class/<subsystem>/<name>, then firmware/<subsystem>/<name> (after the
// special places of the pseudo-subsystems subsystem, module and drivers).
func LookupSysDevice(fsys fs.FS, subsystem, sysname string) (SysDevice, error) {
	if !normalName(subsystem) || !normalName(sysname) {
		return SysDevice{}, fmt.Errorf("%w: %s/%s: not a normalized name", ErrNoDevice, subsystem, sysname)
	}
	name := strings.ReplaceAll(sysname, "/", "!")
	for _, p := range lookupCandidates(subsystem, name) {
		if d, err := NewSysDevice(fsys, p); err == nil {
			return d, nil
		}
	}
	return SysDevice{}, fmt.Errorf("%w: %s in %s", ErrNoDevice, sysname, subsystem)
}

// lookupCandidates lists where sd-device looks for a subsystem's device.
func lookupCandidates(subsystem, name string) []string {
	var c []string
	switch subsystem {
	case "subsystem":
		c = append(c, "bus/"+name, "class/"+name)
	case "module":
		c = append(c, "module/"+name)
	case "drivers":
		if bus, drv, ok := strings.Cut(name, ":"); ok && drv != "" {
			if drv == "drivers" {
				c = append(c, "bus/"+bus+"/drivers")
			} else {
				c = append(c, "bus/"+bus+"/drivers/"+drv)
			}
		}
	}
	return append(c,
		"bus/"+subsystem+"/devices/"+name,
		"class/"+subsystem+"/"+name,
		"firmware/"+subsystem+"/"+name)
}

// normalName reports whether a name is usable as a path (no "..", ".",
// empty or doubled components), as path_is_normalized requires.
func normalName(s string) bool {
	return s != "" && fs.ValidPath(s)
}

// isDevice: sd-device takes a directory below devices/ for a device only
// when it has a uevent file (the kobject directories in between, like
// "block" or "host0/scsi_host", are not devices); elsewhere any directory.
func isDevice(fsys fs.FS, p string) bool {
	if p == "devices" || strings.HasPrefix(p, "devices/") {
		fi, err := fs.Stat(fsys, path.Join(p, "uevent"))
		return err == nil && !fi.IsDir()
	}
	fi, err := fs.Stat(fsys, p)
	return err == nil && fi.IsDir()
}

// resolvePath returns name with every symlink in it resolved, relative to
// the sysfs root; sysfs links are relative ("../../devices/..."). It fails
// when the result does not exist.
func resolvePath(fsys fs.FS, name string) (string, error) {
	todo := strings.Split(strings.TrimPrefix(name, "/"), "/")
	done := ""
	links := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			done = parentPath(done)
			continue
		}
		next := path.Join(done, c)
		target, err := fs.ReadLink(fsys, next)
		if err != nil { // not a link: a directory or file, or missing
			done = next
			continue
		}
		if links++; links > maxSymlinks {
			return "", fmt.Errorf("resolve %s: %w", name, ErrSymlinkLoop)
		}
		if path.IsAbs(target) { // only /sys/... makes sense here
			target, done = strings.TrimPrefix(strings.TrimPrefix(target, "/"), "sys"), ""
		}
		todo = append(strings.Split(target, "/"), todo...)
	}
	if _, err := fs.Stat(fsys, pathOrRoot(done)); err != nil {
		return "", fmt.Errorf("resolve %s: %w", name, err)
	}
	return done, nil
}

// parentPath is p's directory, "" for the root itself.
func parentPath(p string) string {
	d := path.Dir(p)
	if d == "." || d == "/" {
		return ""
	}
	return d
}

// pathOrRoot turns the root "" into the fs.FS name ".".
func pathOrRoot(p string) string {
	if p == "" {
		return "."
	}
	return p
}

// Sysname is the last component of the path, a '!' in it read as '/'
// (block devices like "cciss!c0d0").
func (d SysDevice) Sysname() string {
	return strings.ReplaceAll(path.Base(d.Path), "!", "/")
}

// Sysnum is the run of digits that ends the sysname ("1" of "sda1", "0"
// of "serio0"), or "" when there is none or the sysname is all digits.
func (d SysDevice) Sysnum() string {
	name := d.Sysname()
	i := len(name)
	for i > 0 && name[i-1] >= '0' && name[i-1] <= '9' {
		i--
	}
	if i == 0 {
		return ""
	}
	return name[i:]
}

// Subsystem is the basename of the "subsystem" link, or for directories
// without one the implicit names sd-device gives: "module" below module/,
// "drivers" for a driver's directory, "subsystem" for bus/X and class/X;
// "" for none.
func (d SysDevice) Subsystem() string {
	if s := d.linkBase("subsystem"); s != "" {
		return s
	}
	switch {
	case strings.HasPrefix(d.Path, "module/"):
		return "module"
	case strings.Contains("/"+d.Path, "/drivers/") || strings.HasSuffix(d.Path, "/drivers"):
		return "drivers"
	case strings.HasPrefix(d.Path, "class/") || strings.HasPrefix(d.Path, "bus/"):
		return "subsystem"
	}
	return ""
}

// Driver is the basename of the "driver" link: the driver bound to the
// device, "" for none.
func (d SysDevice) Driver() string {
	return d.linkBase("driver")
}

// linkBase is the last component of a link's target, "" when the link is
// missing.
func (d SysDevice) linkBase(name string) string {
	t, err := fs.ReadLink(d.FS, path.Join(d.Path, name))
	if err != nil {
		return ""
	}
	return path.Base(t)
}

// Devtype is DEVTYPE of the device's uevent file ("disk", "partition",
// "usb_device", "scsi_host"...), "" for none.
func (d SysDevice) Devtype() string {
	return d.Uevent()["DEVTYPE"]
}

// Uevent is the KEY=value lines of the device's uevent file, the
// properties the kernel sends with its events; nil when unreadable.
func (d SysDevice) Uevent() map[string]string {
	props := d.UeventProps()
	if props == nil {
		return nil
	}
	m := make(map[string]string, len(props))
	for _, p := range props {
		m[p.Key] = p.Value
	}
	return m
}

// UeventProps is the KEY=value lines of the device's uevent file in their
// order, as device_read_uevent_file reads them: a line without '=' or
// with an empty key is ignored. nil when the file is unreadable.
func (d SysDevice) UeventProps() []Prop {
	b, err := fs.ReadFile(d.FS, path.Join(d.Path, "uevent"))
	if err != nil {
		return nil
	}
	props := []Prop{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && k != "" {
			props = append(props, Prop{k, v})
		}
	}
	return props
}

// Attr reads an attribute as sd_device_get_sysattr_value does: a file's
// content with its trailing newlines ('\n' and '\r', nothing else)
// dropped and cut at a NUL as C strings are; for the links driver,
// subsystem and module their target's basename. name may have slashes
// ("capabilities/ev", "device/vendor").
func (d SysDevice) Attr(name string) (string, error) {
	p := path.Join(d.Path, name)
	fi, err := fs.Lstat(d.FS, p)
	if err != nil {
		return "", fmt.Errorf("attribute %s of %s: %w", name, d.Path, err)
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		if name != "driver" && name != "subsystem" && name != "module" {
			return "", fmt.Errorf("attribute %s of %s: %w: a link", name, d.Path, ErrNotAttribute)
		}
		return d.linkBase(name), nil
	case fi.IsDir():
		return "", fmt.Errorf("attribute %s of %s: %w: a directory", name, d.Path, ErrNotAttribute)
	case fi.Mode()&0o400 == 0:
		return "", fmt.Errorf("attribute %s of %s: %w: not readable", name, d.Path, ErrNotAttribute)
	}
	b, err := fs.ReadFile(d.FS, p)
	if err != nil {
		return "", fmt.Errorf("attribute %s of %s: %w", name, d.Path, err)
	}
	b = bytes.TrimRight(b, "\n\r")
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b), nil
}

// Parent is the nearest ancestor directory that is a device (see
// NewSysDevice); false at the top.
func (d SysDevice) Parent() (SysDevice, bool) {
	for p := parentPath(d.Path); p != ""; p = parentPath(p) {
		if isDevice(d.FS, p) {
			return SysDevice{FS: d.FS, Path: p}, true
		}
	}
	return SysDevice{}, false
}

// ParentWith is the nearest ancestor of the given subsystem and, unless
// devtype is "", devtype, as sd_device_get_parent_with_subsystem_devtype
// finds it: the device itself is never the answer.
func (d SysDevice) ParentWith(subsystem, devtype string) (SysDevice, bool) {
	for p, ok := d.Parent(); ok; p, ok = p.Parent() {
		if p.Subsystem() == subsystem && (devtype == "" || p.Devtype() == devtype) {
			return p, true
		}
	}
	return SysDevice{}, false
}
