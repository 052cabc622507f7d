package builtin

import (
	"testing"
	"testing/fstest"
)

// TestUSBIDFixture: usb_id on the USB devices of systemd's captured tree.
func TestUSBIDFixture(t *testing.T) {
	runBuiltinGolden(t, sysFixture(t), "usb_id/fixture.golden", USBID)
}

// qemuUSB is a QEMU guest's USB device 1-1 on the xHCI controller at
// 0000:00:04.0 with one interface 1-1:1.0 of the given class, subclass and
// driver, its descriptors those of a one-interface configuration, plus
// extra entries.
func qemuUSB(class, subclass, driver string, usbAttrs []string, extra ...[]string) fstest.MapFS {
	const usb = "devices/pci0000:00/0000:00:04.0/usb1/1-1"
	iface := usb + "/1-1:1.0"
	m := joinSysfs(append([][]string{
		sysDir("devices/pci0000:00/0000:00:04.0", "bus/pci", ""),
		sysDir("devices/pci0000:00/0000:00:04.0/usb1", "bus/usb", "DEVTYPE=usb_device"),
		sysDir(usb, "bus/usb", "DEVTYPE=usb_device"),
		prefixed(usb+"/", usbAttrs),
		sysDir(iface, "bus/usb", "DEVTYPE=usb_interface"),
		{iface + "/bInterfaceNumber=00", iface + "/bInterfaceClass=" + class, iface + "/bInterfaceSubClass=" + subclass},
	}, extra...)...)
	if driver != "" {
		m[iface+"/driver"] = &fstest.MapFile{Data: []byte("../../../../../../bus/usb/drivers/" + driver), Mode: 0o777 | 1<<27}
	}
	m[usb+"/descriptors"] = &fstest.MapFile{Data: usbDescriptors(class, subclass), Mode: 0o444}
	return m
}

// usbDescriptors is a device descriptor, a configuration descriptor and
// one interface descriptor of the class and subclass (hex), protocol 0,
// with its endpoint.
func usbDescriptors(class, subclass string) []byte {
	hex := func(s string) byte { v, _ := safeAtou(s, 16, 8); return byte(v) }
	d := make([]byte, 18, 36)
	d[0], d[1] = 18, 1
	d = append(d, 9, 2, 25, 0, 1, 1, 0, 0x80, 50)
	return append(d, 9, 4, 0, 0, 1, hex(class), hex(subclass), 0, 0, 7, 5, 0x81, 3, 8, 0, 10)
}

func prefixed(pre string, entries []string) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = pre + e
	}
	return out
}

var qemuTabletAttrs = []string{
	"idVendor=0627", "idProduct=0001", "bcdDevice=0000",
	"manufacturer=QEMU", "product=QEMU USB Tablet", "serial=28754-0000:00:04.0-1",
}

func TestUSBIDInline(t *testing.T) {
	const event = "devices/pci0000:00/0000:00:04.0/usb1/1-1/1-1:1.0/0003:0627:0001.0001/input/input4/event3"
	const tabletEvent = "devices/pci0000:00/0000:00:04.0/usb1/1-1/1-1:1.0/0003:0627:0001.0001/input/input4/event3"
	tablet := qemuUSB("03", "00", "usbhid", qemuTabletAttrs,
		sysDir(event[:len(event)-len("/input/input4/event3")], "bus/hid", ""),
		sysDir(event[:len(event)-len("/event3")], "class/input", ""),
		sysDir(event, "class/input", ""))
	tabletProps := func(pre string) []Prop {
		return []Prop{
			{pre + "MODEL", "QEMU_USB_Tablet"}, {pre + "MODEL_ENC", `QEMU\x20USB\x20Tablet`}, {pre + "MODEL_ID", "0001"},
			{pre + "SERIAL", "QEMU_QEMU_USB_Tablet_28754-0000:00:04.0-1"}, {pre + "SERIAL_SHORT", "28754-0000:00:04.0-1"},
			{pre + "VENDOR", "QEMU"}, {pre + "VENDOR_ENC", "QEMU"}, {pre + "VENDOR_ID", "0627"},
			{pre + "REVISION", "0000"}, {pre + "TYPE", "hid"},
		}
	}
	tail := []Prop{{"ID_USB_INTERFACES", ":030000:"}, {"ID_USB_INTERFACE_NUM", "00"}, {"ID_USB_DRIVER", "usbhid"}}
	const cdrom = "devices/pci0000:00/0000:00:04.0/usb1/1-1/1-1:1.0/host2/target2:0:0/2:0:0:0"
	for _, tc := range []struct {
		name, syspath string
		fsys          fstest.MapFS
		props         map[string]string
		want          []Prop
		err           string
	}{
		{
			name: "QEMU USB tablet's event device", syspath: tabletEvent, fsys: tablet,
			want: append(append(append([]Prop{{"ID_BUS", "usb"}}, tabletProps("ID_")...), tabletProps("ID_USB_")...), tail...),
		},
		{
			name: "ID_BUS already set: only the ID_USB_ props", syspath: tabletEvent, fsys: tablet,
			props: map[string]string{"ID_BUS": "ata"},
			want:  append(tabletProps("ID_USB_"), tail...),
		},
		{
			name: "serial with a comma, a manufacturer that is no UTF-8, no bcdDevice", syspath: tabletEvent,
			fsys: qemuUSB("03", "01", "", []string{"idVendor=abcd", "idProduct=1234", "manufacturer=\xffAcme\tInc ", "serial=1,2"},
				sysDir(tabletEvent, "class/input", "")),
			want: []Prop{
				{"ID_BUS", "usb"}, {"ID_MODEL", "1234"}, {"ID_MODEL_ENC", "1234"}, {"ID_MODEL_ID", "1234"},
				{"ID_SERIAL", "_Acme_Inc_1234"},
				{"ID_VENDOR", "_Acme_Inc"}, {"ID_VENDOR_ENC", `\xffAcme\x09Inc\x20`}, {"ID_VENDOR_ID", "abcd"},
				{"ID_REVISION", ""}, {"ID_TYPE", "hid"},
				{"ID_USB_MODEL", "1234"}, {"ID_USB_MODEL_ENC", "1234"}, {"ID_USB_MODEL_ID", "1234"},
				{"ID_USB_SERIAL", "_Acme_Inc_1234"},
				{"ID_USB_VENDOR", "_Acme_Inc"}, {"ID_USB_VENDOR_ENC", `\xffAcme\x09Inc\x20`}, {"ID_USB_VENDOR_ID", "abcd"},
				{"ID_USB_REVISION", ""}, {"ID_USB_TYPE", "hid"},
				{"ID_USB_INTERFACES", ":030100:"}, {"ID_USB_INTERFACE_NUM", "00"},
			},
		},
		{
			name: "ATAPI CD-ROM: SCSI inquiry strings, type cd, target:lun instance", syspath: cdrom + "/block/sr0",
			fsys: qemuUSB("08", "02", "usb-storage", qemuTabletAttrs[:4],
				sysDir(cdrom[:len(cdrom)-len("/target2:0:0/2:0:0:0")], "bus/scsi", "DEVTYPE=scsi_host"),
				sysDir(cdrom[:len(cdrom)-len("/2:0:0:0")], "bus/scsi", "DEVTYPE=scsi_target"),
				sysDir(cdrom, "bus/scsi", "DEVTYPE=scsi_device"),
				[]string{cdrom + "/vendor=QEMU    ", cdrom + "/model=QEMU CD-ROM      ", cdrom + "/type=5", cdrom + "/rev=2.5+"},
				sysDir(cdrom+"/block/sr0", "class/block", "DEVTYPE=disk")),
			want: []Prop{
				{"ID_BUS", "usb"}, {"ID_MODEL", "QEMU_CD-ROM"}, {"ID_MODEL_ENC", `QEMU\x20CD-ROM\x20\x20\x20\x20\x20\x20`}, {"ID_MODEL_ID", "0001"},
				{"ID_SERIAL", "QEMU_QEMU_CD-ROM-0:0"},
				{"ID_VENDOR", "QEMU"}, {"ID_VENDOR_ENC", `QEMU\x20\x20\x20\x20`}, {"ID_VENDOR_ID", "0627"},
				{"ID_REVISION", "2.5+"}, {"ID_TYPE", "cd"}, {"ID_INSTANCE", "0:0"},
				{"ID_USB_MODEL", "QEMU_CD-ROM"}, {"ID_USB_MODEL_ENC", `QEMU\x20CD-ROM\x20\x20\x20\x20\x20\x20`}, {"ID_USB_MODEL_ID", "0001"},
				{"ID_USB_SERIAL", "QEMU_QEMU_CD-ROM-0:0"},
				{"ID_USB_VENDOR", "QEMU"}, {"ID_USB_VENDOR_ENC", `QEMU\x20\x20\x20\x20`}, {"ID_USB_VENDOR_ID", "0627"},
				{"ID_USB_REVISION", "2.5+"}, {"ID_USB_TYPE", "cd"}, {"ID_USB_INSTANCE", "0:0"},
				{"ID_USB_INTERFACES", ":080200:"}, {"ID_USB_INTERFACE_NUM", "00"}, {"ID_USB_DRIVER", "usb-storage"},
			},
		},
		{
			name: "no idVendor", syspath: tabletEvent,
			fsys: qemuUSB("03", "00", "", []string{"idProduct=0001"}, sysDir(tabletEvent, "class/input", "")),
			err:  "ErrNotUSB",
		},
		{
			name: "bInterfaceClass that is no number", syspath: tabletEvent,
			fsys: qemuUSB("zz", "00", "", qemuTabletAttrs, sysDir(tabletEvent, "class/input", "")),
			err:  "ErrBadNumber",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			props := tc.props
			if props == nil {
				props = map[string]string{}
			}
			checkBuiltin(t, USBID, &Device{Sysfs: tc.fsys, Syspath: tc.syspath, Props: props}, tc.want, tc.err)
		})
	}
}

// TestUSBInterfaces: the interface list from raw descriptors.
func TestUSBInterfaces(t *testing.T) {
	dev := usbDescriptors("08", "06")
	for _, tc := range []struct {
		name string
		desc []byte
		want string
	}{
		{"one interface", dev, ":080600:"},
		{"duplicates listed once", append(append([]byte{}, dev...), 9, 4, 1, 0, 1, 8, 6, 0, 0, 7, 5, 1, 2, 0, 2, 0), ":080600:"},
		{"two interfaces", append(append([]byte{}, dev...), 9, 4, 1, 0, 1, 3, 1, 2, 0, 7, 5, 1, 2, 0, 2, 0), ":080600:030102:"},
		{"a descriptor longer than the rest: what came before, unclosed",
			append(append([]byte{}, dev...), 60, 4, 1, 0, 1, 3, 1, 2, 0, 0), ":080600"},
		{"too short for a device descriptor", dev[:17], ""},
		// udevd reads a descriptor only while more than 9 bytes are left.
		{"an interface descriptor that ends the file is not read", dev[:36], ""},
		{"a length below 3 ends the list", append(append([]byte{}, dev[:27]...), 2, 4, 0, 0, 1, 8, 6, 0, 0, 0), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{"devices/u/descriptors": {Data: tc.desc}}
			if got := usbInterfaces(SysDevice{FS: fsys, Path: "devices/u"}); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestUSBText: udev's cleaning of identifiers.
func TestUSBText(t *testing.T) {
	for _, tc := range []struct {
		name, in, clean, enc string
	}{
		{"spaces inside to one '_', outside dropped", "  USB  Flash Drive \n", "USB_Flash_Drive", `\x20\x20USB\x20\x20Flash\x20Drive\x20\x0a`},
		{"slash", "PS/2", "PS_2", `PS\x2f2`},
		{"UTF-8 kept", "Caf\u00e9 GmbH", "Caf\u00e9_GmbH", "Caf\u00e9\\x20GmbH"},
		{"noncharacter refused", "a\uFFFEb", "a___b", `a\xef\xbf\xbeb`},
		{"hex escapes kept by replaceChars", `a\x20b`, `a\x20b`, `a\x5cx20b`},
		{"vertical tab is white space inside", "a\vb", "a_b", `a\x0bb`},
		{"a leading vertical tab is not skipped", "\va", "_a", `\x0ba`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := cleanID(tc.in, usbIDSize); got != tc.clean {
				t.Errorf("cleanID(%q) = %q, want %q", tc.in, got, tc.clean)
			}
			if got := encodeDevnodeName(tc.in); got != tc.enc {
				t.Errorf("encodeDevnodeName(%q) = %q, want %q", tc.in, got, tc.enc)
			}
		})
	}
}
