package builtin

import "io/fs"

// Device is what a builtin sees of the device it runs for.
type Device struct {
	// Sysfs is the sysfs mount: os.DirFS("/sys") in the daemon, a
	// captured tree (uevent/sysfstest) in tests. It implements
	// fs.ReadLinkFS, since the driver and subsystem of a device are
	// symlinks.
	Sysfs fs.FS
	// Syspath is the device's path below Sysfs without a leading slash,
	// "devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sda":
	// its parents are its leading directories.
	Syspath string
	// Props are the device's properties when the builtin runs: the
	// kernel's (its uevent file) and those the rules set so far.
	Props map[string]string
}

// Prop is one property a builtin sets. An empty Value sets the property
// empty: udev_builtin_add_property would unset it, but no 252 builtin
// passes it an empty value, and the rules engine keeps what it is given.
type Prop struct {
	Key, Value string
}
