package builtin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
)

// Errors of the blkid builtin, for errors.Is.
var (
	// ErrNoDevnode: the device has no DEVNAME; udevd's
	// sd_device_get_devname fails the builtin with ENOENT.
	ErrNoDevnode = errors.New("device has no node")
	// ErrBlkidOffset: --offset (or, with old libblkid, --hint) was not
	// an integer or was negative.
	ErrBlkidOffset = errors.New("invalid probing offset")
	// ErrBlkidAmbivalent: libblkid found more than one superblock
	// (blkid_do_safeprobe's -2); udevd fails the builtin and sets nothing.
	ErrBlkidAmbivalent = errors.New("ambivalent probing result")
	// ErrBlkidDeviceAbsent: the node could not be opened because the
	// device is gone (ENOENT, ENODEV, ENXIO); udevd ignores that.
	ErrBlkidDeviceAbsent = errors.New("device absent")
	// ErrBlkidNotBlock: the node is a character device other than UBI's,
	// which libblkid refuses (blkid_probe_set_device's EINVAL).
	ErrBlkidNotBlock = errors.New("not a block device")
	// ErrBlkidFailed: blkid failed otherwise.
	ErrBlkidFailed = errors.New("blkid failed")
)

// BlkidRequest is what one probe is asked: the node and udevd's
// settings for it.
type BlkidRequest struct {
	Node   string // "/dev/sda1"
	Offset int64  // where the probed area starts, in bytes
	NoRaid bool   // skip RAID superblocks (--noraid)
	// Hint is libblkid's probing hint ("session_offset=N"), "" for none.
	// udevd passes every --hint to blkid_probe_set_hint; blkid(8) takes
	// one -H, so this is the last one given.
	Hint string
}

// BlkidProbe runs libblkid's low-level probe with udevd's settings and
// returns its NAME=value pairs in libblkid's order, as
// blkid_probe_get_value enumerates them. The daemon implements it by
// running BlkidCommand through its program pool and handing the result to
// BlkidResult. It opens the node first, as udevd's sd_device_open does
// (O_RDONLY|O_NONBLOCK|O_NOCTTY), and returns that open's error: one
// wrapping ErrBlkidDeviceAbsent or the errno ENOENT, ENODEV or ENXIO is a
// vanished device (or, for /dev/tty, no controlling terminal), which
// udevd ignores; blkid itself stats the node and silently skips what is
// missing or a character device, so only the probe's own open tells.
type BlkidProbe func(ctx context.Context, req BlkidRequest) ([]Prop, error)

// Blkid is udevd 252's blkid builtin. argv is its command line, argv[0]
// being "blkid": --offset=BYTES, --hint=NAME=VALUE, --noraid.
//
// udevd calls libblkid in its own process; gudevd links no C, so probe
// runs util-linux's blkid program (the same libblkid) in its low-level
// mode with the same probing settings (BlkidCommand), and this maps
// libblkid's values to properties as udevd's print_property does. The
// cost is one program run (fork, exec, libblkid's start) per probed
// device: the wall time of `blkid -p -o export` of a 4 MiB GPT image file
// (TestBlkidProbeCost) was 1.2 to 1.6 ms, the median of 100 runs in each
// of four runs on the build host (2 shared cores, util-linux 2.38.1),
// paid on top of the probe's own reads, which udevd pays too.
//
// Nothing found is no properties and no error, as in udevd. A disk with
// a GPT that holds the ESP or XBOOTLDR partition the boot loader booted
// from gets ID_PART_GPT_AUTO_ROOT_UUID (see gptAutoRoot); a partition
// whose entry UUID is the ID_PART_GPT_AUTO_ROOT_UUID its parent passed
// down gets ID_PART_GPT_AUTO_ROOT=1.
func Blkid(ctx context.Context, dev *Device, argv []string, probe BlkidProbe) ([]Prop, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("blkid: %w", err)
	}
	req, err := parseBlkidArgs(argv)
	if err != nil {
		return nil, fmt.Errorf("blkid: %w", err)
	}
	if req.Node, err = devnode(dev); err != nil {
		return nil, fmt.Errorf("blkid: %w", err)
	}
	values, err := probe(ctx, req)
	if err != nil {
		if deviceAbsent(err) {
			return nil, nil // udevd logs "ignoring" and succeeds
		}
		return nil, fmt.Errorf("blkid: probe %s: %w", req.Node, err)
	}
	if !blkidProbeable(dev) {
		return nil, fmt.Errorf("blkid: %s: %w", req.Node, ErrBlkidNotBlock)
	}
	props, gpt := blkidProps(values, dev.Props["ID_PART_GPT_AUTO_ROOT_UUID"])
	if gpt {
		props = append(props, gptAutoRoot(ctx, dev, req, probe)...)
	}
	return props, nil
}

// devnode is the device's node as sd_device_get_devname gives it: the
// kernel's DEVNAME is relative to /dev.
func devnode(dev *Device) (string, error) {
	name := dev.Props["DEVNAME"]
	if name == "" {
		return "", fmt.Errorf("%s: %w", dev.Syspath, ErrNoDevnode)
	}
	if !strings.HasPrefix(name, "/") {
		name = "/dev/" + name
	}
	return name, nil
}

// blkidProbeable: libblkid probes block devices and, of the character
// devices, only UBI volumes (a device name starting with "ubi"); udevd's
// sd_device_open has made sure the node is of the device's kind.
func blkidProbeable(dev *Device) bool {
	if dev.Sysfs == nil {
		return dev.Props["SUBSYSTEM"] == "block"
	}
	sys, err := dev.Sys()
	if err != nil {
		return dev.Props["SUBSYSTEM"] == "block"
	}
	return sys.Subsystem() == "block" || strings.HasPrefix(sys.Sysname(), "ubi")
}

// deviceAbsent is udevd's ERRNO_IS_DEVICE_ABSENT for the open of the node.
func deviceAbsent(err error) bool {
	return errors.Is(err, ErrBlkidDeviceAbsent) || errors.Is(err, syscall.ENOENT) ||
		errors.Is(err, syscall.ENODEV) || errors.Is(err, syscall.ENXIO)
}

// blkidProps maps libblkid's values to udevd's properties in their order,
// adding ID_PART_GPT_AUTO_ROOT=1 right after the partition UUID that is
// the root the parent disk announced; gpt reports a GPT disk (PTTYPE=gpt).
func blkidProps(values []Prop, rootUUID string) (props []Prop, gpt bool) {
	for _, v := range values {
		props = append(props, blkidProperty(v.Key, v.Value)...)
		if v.Key == "PTTYPE" && v.Value == "gpt" {
			gpt = true
		}
		if rootUUID != "" && v.Key == "PART_ENTRY_UUID" && v.Value == rootUUID {
			props = append(props, Prop{"ID_PART_GPT_AUTO_ROOT", "1"})
		}
	}
	return props, gpt
}

// blkidEncoded are the values udevd passes through blkid_encode_string
// alone, with the property each becomes.
var blkidEncoded = map[string]string{
	"PART_ENTRY_NAME":   "ID_PART_ENTRY_NAME",
	"PART_ENTRY_TYPE":   "ID_PART_ENTRY_TYPE",
	"SYSTEM_ID":         "ID_FS_SYSTEM_ID",
	"PUBLISHER_ID":      "ID_FS_PUBLISHER_ID",
	"APPLICATION_ID":    "ID_FS_APPLICATION_ID",
	"BOOT_SYSTEM_ID":    "ID_FS_BOOT_SYSTEM_ID",
	"VOLUME_ID":         "ID_FS_VOLUME_ID",
	"LOGICAL_VOLUME_ID": "ID_FS_LOGICAL_VOLUME_ID",
	"VOLUME_SET_ID":     "ID_FS_VOLUME_SET_ID",
	"DATA_PREPARER_ID":  "ID_FS_DATA_PREPARER_ID",
}

// blkidProperty is print_property: the properties one libblkid value
// becomes. UUID, UUID_SUB and LABEL give a whitespace-cleaned value and an
// _ENC one with unsafe bytes as \xNN; the free-text ids of ISO9660 and
// UDF and the partition name and type only the encoded one. FSSIZE,
// FSLASTBLOCK and FSBLOCKSIZE become ID_FS_SIZE and so on; libblkid 2.38
// (bookworm) has no BLKID_SUBLKS_FSINFO, so neither udevd nor blkid(8)
// asks for them there, but with a newer libblkid both do. Values udevd
// does not know (BLOCK_SIZE, SEC_TYPE...) give nothing.
func blkidProperty(name, value string) []Prop {
	switch name {
	case "TYPE":
		return []Prop{{"ID_FS_TYPE", value}}
	case "USAGE":
		return []Prop{{"ID_FS_USAGE", value}}
	case "VERSION":
		return []Prop{{"ID_FS_VERSION", value}}
	case "UUID", "UUID_SUB", "LABEL":
		key := "ID_FS_" + name
		return []Prop{{key, blkidSafeString(value)}, {key + "_ENC", blkidEncodeString(value)}}
	case "FSSIZE", "FSLASTBLOCK", "FSBLOCKSIZE":
		return []Prop{{"ID_FS_" + name[2:], value}}
	case "PTTYPE":
		return []Prop{{"ID_PART_TABLE_TYPE", value}}
	case "PTUUID":
		return []Prop{{"ID_PART_TABLE_UUID", value}}
	}
	if key, ok := blkidEncoded[name]; ok {
		return []Prop{{key, blkidEncodeString(value)}}
	}
	if strings.HasPrefix(name, "PART_ENTRY_") {
		return []Prop{{"ID_" + name, value}}
	}
	return nil
}
