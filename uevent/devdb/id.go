package devdb

import (
	"strconv"
	"strings"
)

// ID is device_get_device_id, the name of a device's database and tag
// files: "b8:0" for a block device and "c189:1" for any other device with a
// device number (major > 0, as sd_device_get_devnum requires), "n3" for a
// network interface, "+drivers:SUBSYSTEM:NAME" for a driver
// (bus/SUBSYSTEM/drivers/NAME) and "+SUBSYSTEM:NAME" for the rest. NAME is
// the devpath's last component as it is: sd-device takes it from the
// devpath, not from the sysname, so a '!' stays a '!' (the sysname reads
// it as '/', which cannot be in a file name). "" when the device has none:
// no subsystem, or an id that is not a valid file name.
func ID(subsystem, syspath string, major, minor uint32, ifindex int) string {
	var id string
	switch {
	case subsystem == "":
		return ""
	case major > 0:
		kind := "c"
		if subsystem == "block" {
			kind = "b"
		}
		id = kind + strconv.FormatUint(uint64(major), 10) + ":" + strconv.FormatUint(uint64(minor), 10)
	case ifindex > 0:
		id = "n" + strconv.Itoa(ifindex)
	case subsystem == "drivers":
		id = "+drivers:" + driverSubsystem(syspath) + ":" + lastComponent(syspath)
	default:
		id = "+" + subsystem + ":" + lastComponent(syspath)
	}
	if !validFilename(id) {
		return ""
	}
	return id
}

// lastComponent is path_extract_filename of the path.
func lastComponent(p string) string {
	p = strings.TrimRight(p, "/")
	return p[strings.LastIndexByte(p, '/')+1:]
}

// driverSubsystem is device_set_drivers_subsystem: the component before
// "/drivers/" (or a trailing "/drivers") of the path.
func driverSubsystem(p string) string {
	i := strings.Index(p, "/drivers/")
	if i < 0 && strings.HasSuffix(p, "/drivers") {
		i = len(p) - len("/drivers")
	}
	if i < 0 {
		return ""
	}
	return lastComponent(p[:i])
}

// validFilename is filename_is_valid: not empty, ".", "..", no '/', at
// most NAME_MAX bytes.
func validFilename(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.Contains(s, "/") && len(s) <= 255
}
