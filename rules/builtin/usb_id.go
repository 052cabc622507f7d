package builtin

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// ErrNotUSB: usb_id runs for a device that is neither a USB device nor
// below a USB interface, or whose USB device lacks idVendor or idProduct.
var ErrNotUSB = errors.New("not a usb device")

// usbIDSize is the room udevd gives the vendor, model, revision and type
// strings (char[64], of which 63 are filled), udevNameSize its
// UDEV_NAME_SIZE for the serial and interface list, and usbSerialSize the
// room of ID_SERIAL.
const (
	usbIDSize     = 63
	udevNameSize  = 512
	usbSerialSize = 256
)

// usbIdent is what usb_id gathers before it sets the props; an empty
// field is one nothing filled yet (the SCSI inquiry strings first, the
// USB descriptors' strings for what they left).
type usbIdent struct {
	vendor, vendorEnc, vendorID string
	model, modelEnc, productID  string
	revision, serial            string
	typ, instance               string
	interfaces, ifnum, driver   string
}

// USBID is udevd 252's usb_id builtin: a USB device's vendor, model,
// revision and serial, from the SCSI inquiry data for mass storage that
// speaks SCSI or ATAPI and from the USB descriptors otherwise, as ID_* (unless
// another builtin already set ID_BUS) and always as ID_USB_*, with the
// interface's type, number and driver and the device's interface list. It
// runs for a usb_device itself or any device below a USB interface. It
// takes no arguments.
func USBID(ctx context.Context, dev *Device, argv []string) ([]Prop, error) {
	d, err := dev.Sys()
	if err != nil {
		return nil, fmt.Errorf("usb_id: %w", err)
	}
	var id usbIdent
	usb := d
	if d.Devtype() != "usb_device" {
		if usb, err = id.fromInterface(d); err != nil {
			return nil, fmt.Errorf("usb_id %s: %w", d.Path, err)
		}
	} else {
		id.interfaces = usbInterfaces(d)
	}
	if err := id.fromUSBDevice(usb); err != nil {
		return nil, fmt.Errorf("usb_id %s: %w", d.Path, err)
	}
	return id.props(dev.Props["ID_BUS"] != ""), nil
}

// fromInterface reads the USB interface above d (its class, number and
// driver), the USB device above that, and for SCSI and ATAPI mass storage
// the SCSI device above d; it returns the USB device.
func (id *usbIdent) fromInterface(d SysDevice) (SysDevice, error) {
	iface, ok := d.ParentWith("usb", "usb_interface")
	if !ok {
		return d, fmt.Errorf("%w: no usb_interface parent", ErrNotUSB)
	}
	id.ifnum, _ = iface.Attr("bInterfaceNumber")
	id.driver, _ = iface.Attr("driver")
	class, err := iface.Attr("bInterfaceClass")
	if err != nil {
		return d, err
	}
	classNum, ok := safeAtou(class, 16, 32)
	if !ok {
		return d, fmt.Errorf("%w: bInterfaceClass %q", ErrBadNumber, class)
	}
	protocol := 0
	if classNum == 8 { // mass storage: its subclass names the command set
		if sub, err := iface.Attr("bInterfaceSubClass"); err == nil {
			id.typ, protocol = massStorageType(sub)
		}
	} else {
		id.typ = usbInterfaceType(classNum)
	}
	usb, ok := iface.ParentWith("usb", "usb_device")
	if !ok {
		return d, fmt.Errorf("%w: no usb_device parent", ErrNotUSB)
	}
	id.interfaces = usbInterfaces(usb)
	if protocol == 6 || protocol == 2 { // SCSI transparent, ATAPI
		id.fromSCSI(d)
	}
	return usb, nil
}

// fromSCSI takes vendor, model, type and revision from the SCSI device's
// inquiry data, and the target:lun as the instance, since some devices
// report the same strings for all their LUNs. It stops at the first
// attribute missing, keeping what it read.
func (id *usbIdent) fromSCSI(d SysDevice) {
	scsi, ok := d.ParentWith("scsi", "scsi_device")
	if !ok {
		return
	}
	hbtl := scanInts(scsi.Sysname(), ':', 4)
	if len(hbtl) != 4 {
		return
	}
	vendor, err := scsi.Attr("vendor")
	if err != nil {
		return
	}
	id.vendorEnc, id.vendor = encodeDevnodeName(vendor), cleanID(vendor, usbIDSize)
	model, err := scsi.Attr("model")
	if err != nil {
		return
	}
	id.modelEnc, id.model = encodeDevnodeName(model), cleanID(model, usbIDSize)
	typ, err := scsi.Attr("type")
	if err != nil {
		return
	}
	id.typ = scsiType(typ)
	rev, err := scsi.Attr("rev")
	if err != nil {
		return
	}
	id.revision = cleanID(rev, usbIDSize)
	id.instance = fmt.Sprintf("%d:%d", int32(hbtl[2]), int32(hbtl[3]))
}

// fromUSBDevice fills what the SCSI data left empty from the USB device's
// descriptors: manufacturer and product (idVendor and idProduct when the
// device has no strings), bcdDevice and the serial number.
func (id *usbIdent) fromUSBDevice(usb SysDevice) error {
	var err error
	if id.vendorID, err = usb.Attr("idVendor"); err != nil {
		return fmt.Errorf("%w: %w", ErrNotUSB, err)
	}
	if id.productID, err = usb.Attr("idProduct"); err != nil {
		return fmt.Errorf("%w: %w", ErrNotUSB, err)
	}
	if id.vendor == "" {
		v := attrOr(usb, "manufacturer", id.vendorID)
		id.vendorEnc, id.vendor = encodeDevnodeName(v), cleanID(v, usbIDSize)
	}
	if id.model == "" {
		m := attrOr(usb, "product", id.productID)
		id.modelEnc, id.model = encodeDevnodeName(m), cleanID(m, usbIDSize)
	}
	if rev, err := usb.Attr("bcdDevice"); id.revision == "" && err == nil {
		id.revision = cleanID(rev, usbIDSize)
	}
	if s, err := usb.Attr("serial"); err == nil && printableSerial(s) {
		id.serial = cleanID(s, udevNameSize-1)
	}
	return nil
}

// attrOr is an attribute's value, or def when the device has none.
func attrOr(d SysDevice, name, def string) string {
	if v, err := d.Attr(name); err == nil {
		return v
	}
	return def
}

// cleanID is udev's cleaning of an identifier: white space runs to '_'
// in at most n bytes, then bytes that have no place in a name to '_'.
func cleanID(s string, n int) string {
	return ReplaceChars(ReplaceWhitespace(s, n), "")
}

// printableSerial: udev takes a serial number only when it is printable
// ASCII without commas, as Windows does (a serial with others is not
// unique enough to name the device).
func printableSerial(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7f || s[i] == ',' {
			return false
		}
	}
	return true
}

// serialName is ID_SERIAL: vendor_model[_serial][-instance], cut to
// udevd's 256-byte buffer.
func (id *usbIdent) serialName() string {
	s := id.vendor + "_" + id.model
	if id.serial != "" {
		s += "_" + id.serial
	}
	if id.instance != "" {
		s += "-" + id.instance
	}
	if len(s) >= usbSerialSize {
		s = s[:usbSerialSize-1]
	}
	return s
}

// props lists the props in udevd's order; with ID_BUS already set (by
// another builtin, ata_id or scsi_id) only the ID_USB_ ones.
func (id *usbIdent) props(hasBus bool) []Prop {
	serial := id.serialName()
	var p []Prop
	if !hasBus {
		p = append(p, Prop{"ID_BUS", "usb"})
		p = append(p, id.prefixed("ID_", serial)...)
	}
	p = append(p, id.prefixed("ID_USB_", serial)...)
	p = appendIf(p, "ID_USB_INTERFACES", id.interfaces)
	p = appendIf(p, "ID_USB_INTERFACE_NUM", id.ifnum)
	return appendIf(p, "ID_USB_DRIVER", id.driver)
}

// prefixed is the identity under one prefix, ID_ or ID_USB_.
func (id *usbIdent) prefixed(pre, serial string) []Prop {
	p := []Prop{
		{pre + "MODEL", id.model}, {pre + "MODEL_ENC", id.modelEnc}, {pre + "MODEL_ID", id.productID},
		{pre + "SERIAL", serial},
	}
	p = appendIf(p, pre+"SERIAL_SHORT", id.serial)
	p = append(p, Prop{pre + "VENDOR", id.vendor}, Prop{pre + "VENDOR_ENC", id.vendorEnc},
		Prop{pre + "VENDOR_ID", id.vendorID}, Prop{pre + "REVISION", id.revision})
	p = appendIf(p, pre+"TYPE", id.typ)
	return appendIf(p, pre+"INSTANCE", id.instance)
}

// appendIf adds a prop only when it has a value, as udevd skips them.
func appendIf(p []Prop, key, value string) []Prop {
	if value == "" {
		return p
	}
	return append(p, Prop{key, value})
}

// usbInterfaceType names an interface class as ID_TYPE does; classes
// without a name of their own (CDC, smart card, vendor-specific...) are
// "generic".
func usbInterfaceType(class uint64) string {
	switch class {
	case 1:
		return "audio"
	case 3:
		return "hid"
	case 6:
		return "media"
	case 7:
		return "printer"
	case 8:
		return "storage"
	case 9:
		return "hub"
	case 0x0e:
		return "video"
	}
	return "generic"
}

// massStorageType names a mass-storage subclass (its command set) and
// returns its number, 0 when it does not parse: 2 (ATAPI) and 6 (SCSI
// transparent) make usb_id read the SCSI inquiry data.
func massStorageType(subclass string) (string, int) {
	n, ok := safeAtoi(subclass)
	if !ok {
		return "generic", 0
	}
	switch n {
	case 1:
		return "rbc", n
	case 2:
		return "atapi", n
	case 3:
		return "tape", n
	case 4:
		return "floppy", n
	case 6:
		return "scsi", n
	}
	return "generic", n
}

// scsiType names a SCSI peripheral device type.
func scsiType(typ string) string {
	n, ok := safeAtou(typ, 0, 32)
	if !ok {
		return "generic"
	}
	switch n {
	case 0, 0xe:
		return "disk"
	case 1:
		return "tape"
	case 4, 7, 0xf:
		return "optical"
	case 5:
		return "cd"
	}
	return "generic"
}

// usbInterfaces lists the distinct class/subclass/protocol triples of the
// interface descriptors in the device's raw descriptors file, as
// ":080650:030101:": the configuration descriptors of all configurations
// follow the device descriptor there. A descriptor longer than what is
// left ends the list where it is (udevd returns what it wrote so far,
// without the closing ':').
func usbInterfaces(usb SysDevice) string {
	buf, err := fs.ReadFile(usb.FS, path.Join(usb.Path, "descriptors"))
	if err != nil || len(buf) < 18 {
		return ""
	}
	buf = buf[:min(len(buf), 18+65535)] // udevd's one read
	const ifDescLen, usbDTInterface = 9, 4
	var b strings.Builder
	for pos := 0; pos+ifDescLen < len(buf) && b.Len()+7 < udevNameSize-2; {
		n := int(buf[pos])
		if n < 3 {
			break
		}
		if n > len(buf)-ifDescLen {
			return b.String() // corrupt
		}
		desc := buf[pos:]
		pos += n
		if desc[1] != usbDTInterface {
			continue
		}
		entry := fmt.Sprintf(":%02x%02x%02x", desc[5], desc[6], desc[7])
		if !strings.Contains(b.String(), entry) {
			b.WriteString(entry)
		}
	}
	if b.Len() == 0 {
		return ""
	}
	return b.String() + ":"
}
