package builtin

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/gudevd/gudevd/internal/fnmatch"
)

var (
	// ErrNoHWDB: the hwdb builtin ran without a database; udevd fails the
	// builtin when sd_hwdb_new found no hwdb.bin.
	ErrNoHWDB = errors.New("no hwdb.bin loaded")
	// ErrNoHwdbEntry: the lookup found nothing (after --filter); udevd
	// fails the builtin with ENODATA, so IMPORT{builtin}="hwdb" is false.
	ErrNoHwdbEntry = errors.New("no entry found in hwdb")
	// ErrBadDeviceID: --device is none of the forms of
	// sd_device_new_from_device_id.
	ErrBadDeviceID = errors.New("bad device id")
)

// Query is Lookup with the signature of net_id's OUILookup
// (udev_builtin_hwdb_lookup without a prefix or filter); it never fails
// but for a cancelled ctx.
func (db *HWDB) Query(ctx context.Context, modalias string) ([]Prop, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("hwdb: %w", err)
	}
	return db.Lookup(modalias), nil
}

// hwdbArgs are the builtin's options, as getopt_long reads them.
type hwdbArgs struct {
	filter, device, subsystem, prefix *string
	lookup                            *string // the first operand
}

// Hwdb is udevd 252's hwdb builtin. argv is its command line, argv[0]
// being "hwdb". With an operand it looks that string up; otherwise it
// walks from the device (or --device's) up its parents and looks up the
// first MODALIAS that gives properties, a USB device without one
// standing for itself as "usb:vXXXXpYYYY:product" and ending the walk,
// since its parents are hubs. --subsystem looks only at devices of that
// subsystem, --lookup-prefix goes before every lookup string, --filter
// keeps the keys its glob matches. Finding nothing fails with
// ErrNoHwdbEntry, as udevd's ENODATA.
func Hwdb(ctx context.Context, db *HWDB, dev *Device, argv []string) ([]Prop, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("hwdb: %w", err)
	}
	if db == nil {
		return nil, fmt.Errorf("hwdb: %w", ErrNoHWDB)
	}
	a := parseHwdbArgs(argv)
	var props []Prop
	if a.lookup != nil {
		props = hwdbLookup(db, a, *a.lookup)
	} else {
		start, err := hwdbSource(dev, a.device)
		if err != nil {
			return nil, fmt.Errorf("hwdb: %w", err)
		}
		props = hwdbSearchDevices(db, a, start)
	}
	if len(props) == 0 {
		return nil, fmt.Errorf("hwdb: %w", ErrNoHwdbEntry)
	}
	return props, nil
}

// hwdbLookup is udev_builtin_hwdb_lookup: the prefix joined to the
// string, then the filter over the keys. udevd matches the filter with
// FNM_NOESCAPE; with backslashes doubled, flag-0 fnmatch takes each as
// the plain byte FNM_NOESCAPE sees, in brackets too.
func hwdbLookup(db *HWDB, a hwdbArgs, modalias string) []Prop {
	if a.prefix != nil {
		modalias = *a.prefix + modalias
	}
	props := db.Lookup(modalias)
	if a.filter == nil {
		return props
	}
	filter := strings.ReplaceAll(*a.filter, `\`, `\\`)
	kept := props[:0]
	for _, p := range props {
		if fnmatch.Match(filter, p.Key) {
			kept = append(kept, p)
		}
	}
	return kept
}

// hwdbDevice is one device of the walk: the event's device answers from
// its properties (those the kernel sent and the rules set), any other
// from sysfs, as sd-device reads a device it creates.
type hwdbDevice struct {
	sys   SysDevice
	inSys bool
	props map[string]string // the event's properties, nil for others
}

func (d hwdbDevice) get(key string, fromSys func() string) string {
	if v, ok := d.props[key]; ok {
		return v
	}
	if !d.inSys {
		return ""
	}
	return fromSys()
}

// hwdbSource is where the walk starts: the event's device, or the one
// --device names.
func hwdbSource(dev *Device, id *string) (hwdbDevice, error) {
	if id != nil {
		sys, err := sysDeviceFromID(dev.Sysfs, *id)
		if err != nil {
			return hwdbDevice{}, err
		}
		return hwdbDevice{sys: sys, inSys: true}, nil
	}
	sys, err := dev.Sys()
	return hwdbDevice{sys: sys, inSys: err == nil, props: dev.Props}, nil
}

// hwdbSearchDevices is udev_builtin_hwdb_search.
func hwdbSearchDevices(db *HWDB, a hwdbArgs, d hwdbDevice) []Prop {
	for {
		subsystem := d.get("SUBSYSTEM", d.sys.Subsystem)
		if subsystem != "" && (a.subsystem == nil || *a.subsystem == subsystem) {
			modalias, ok := d.props["MODALIAS"]
			if d.props == nil && d.inSys {
				modalias, ok = d.sys.Uevent()["MODALIAS"]
			}
			last := false
			if subsystem == "usb" && d.get("DEVTYPE", d.sys.Devtype) == "usb_device" {
				if !ok && d.inSys {
					modalias, ok = usbModalias(d.sys)
				}
				last = true
			}
			if ok {
				if props := hwdbLookup(db, a, modalias); len(props) > 0 {
					return props
				}
			}
			if last {
				return nil
			}
		}
		if !d.inSys {
			return nil
		}
		parent, ok := d.sys.Parent()
		if !ok {
			return nil
		}
		d = hwdbDevice{sys: parent, inSys: true}
	}
}

// usbModalias is udevd's stand-in for a USB device without MODALIAS:
// "usb:v%04Xp%04X:" and the product string, from idVendor and idProduct
// read as hexadecimal numbers of 16 bits.
func usbModalias(d SysDevice) (string, bool) {
	v, err1 := d.Attr("idVendor")
	p, err2 := d.Attr("idProduct")
	if err1 != nil || err2 != nil {
		return "", false
	}
	vn, ok1 := safeAtou(v, 16, 16)
	pn, ok2 := safeAtou(p, 16, 16)
	if !ok1 || !ok2 {
		return "", false
	}
	product, _ := d.Attr("product")
	return fmt.Sprintf("usb:v%04Xp%04X:%s", vn, pn, product), true
}

// sysDeviceFromID is sd_device_new_from_device_id: "b8:0" and "c1:3"
// name a block or char device by its numbers, "n3" a network interface
// by its index, "+subsystem:sysname" any device.
func sysDeviceFromID(sysfs fs.FS, id string) (SysDevice, error) {
	if len(id) < 2 {
		return SysDevice{}, fmt.Errorf("%w: %q", ErrBadDeviceID, id)
	}
	switch rest := id[1:]; id[0] {
	case 'b', 'c':
		kind := map[byte]string{'b': "block", 'c': "char"}[id[0]]
		maj, min, ok := strings.Cut(rest, ":")
		if !ok || !decimal(maj) || !decimal(min) {
			return SysDevice{}, fmt.Errorf("%w: %q", ErrBadDeviceID, id)
		}
		return NewSysDevice(sysfs, path.Join("dev", kind, maj+":"+min))
	case 'n':
		if !decimal(rest) || rest == "0" {
			return SysDevice{}, fmt.Errorf("%w: %q", ErrBadDeviceID, id)
		}
		return netDeviceByIndex(sysfs, rest)
	case '+':
		subsystem, sysname, ok := strings.Cut(rest, ":")
		if !ok || subsystem == "" || sysname == "" {
			return SysDevice{}, fmt.Errorf("%w: %q", ErrBadDeviceID, id)
		}
		return LookupSysDevice(sysfs, subsystem, sysname)
	}
	return SysDevice{}, fmt.Errorf("%w: %q", ErrBadDeviceID, id)
}

func decimal(s string) bool {
	_, err := strconv.ParseUint(s, 10, 32)
	return err == nil
}

// netDeviceByIndex finds the interface whose ifindex attribute is index;
// udevd asks the kernel for its name over netlink, which names the same
// class/net entry.
func netDeviceByIndex(sysfs fs.FS, index string) (SysDevice, error) {
	names, err := fs.ReadDir(sysfs, "class/net")
	if err != nil {
		return SysDevice{}, fmt.Errorf("%w: ifindex %s: %w", ErrNoDevice, index, err)
	}
	for _, n := range names {
		d, err := NewSysDevice(sysfs, path.Join("class/net", n.Name()))
		if err != nil {
			continue
		}
		if v, err := d.Attr("ifindex"); err == nil && v == index {
			return d, nil
		}
	}
	return SysDevice{}, fmt.Errorf("%w: ifindex %s", ErrNoDevice, index)
}
