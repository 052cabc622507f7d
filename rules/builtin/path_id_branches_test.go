package builtin

import (
	"cmp"
	"strings"
	"testing"
	"testing/fstest"
)

// classDev is a class device <parent>/<class>/<name> with its class/
// link and attributes ("attr=value"), as the SCSI transport classes
// (fc_transport, sas_device, sas_port, iscsi_session, ata_port...) hang
// below the devices they describe.
func classDev(parent, class, name string, attrs ...string) []string {
	p := parent + "/" + class + "/" + name
	e := append(sysDir(p, "class/"+class, ""), "class/"+class+"/"+name+" -> ../../"+p)
	for _, a := range attrs {
		e = append(e, p+"/"+a)
	}
	return e
}

// scsiChain is host/target/device/block/disk below dir, the SCSI nodes
// with their devtypes, for the H:B:T:L hbtl.
func scsiChain(dir, hbtl, disk string) []string {
	host := dir + "/host" + strings.Split(hbtl, ":")[0]
	return append(sysDir(host, "bus/scsi", "DEVTYPE=scsi_host"), scsiTarget(host, hbtl, disk)...)
}

// scsiTarget is target/device/block/disk below dir, which transports put
// between the host and the target (rport-, end_device-, session).
func scsiTarget(dir, hbtl, disk string) []string {
	target := dir + "/target" + hbtl[:strings.LastIndexByte(hbtl, ':')]
	dev := target + "/" + hbtl
	e := sysDir(target, "bus/scsi", "DEVTYPE=scsi_target")
	e = append(e, sysDir(dev, "bus/scsi", "DEVTYPE=scsi_device")...)
	if disk != "" {
		e = append(e, sysDir(dev+"/block/"+disk, "class/block", "DEVTYPE=disk")...)
	}
	return e
}

// TestPathIDBranches: each transport and bus of path_id 252 that neither
// the fixture nor TestPathIDInline covers, on trees shaped after the
// kernel's sysfs for that hardware.
func TestPathIDBranches(t *testing.T) {
	const pci = "devices/pci0000:00/0000:00:05.0"
	const rport = pci + "/host3/rport-3:0-0"
	const sasHost = pci + "/host4"
	const endDev = sasHost + "/port-4:0/end_device-4:0"
	const expEnd = sasHost + "/port-4:0/expander-4:0/port-4:0:1/end_device-4:0:1"
	const session = "devices/platform/host5/session1"
	const vmbus = "devices/LNXSYSTM:00/VMBUS:00/f8b3781b-1e82-4818-a1c3-63d806ec15bb"
	pciDev := sysDir(pci, "bus/pci", "")
	tape := func(name string) fstest.MapFS {
		return joinSysfs(pciDev, scsiChain(pci, "7:0:0:0", ""),
			sysDir(pci+"/host7/target7:0:0/7:0:0:0/scsi_tape/"+name, "class/scsi_tape", ""))
	}
	sasBase := append(append([]string{}, pciDev...), sysDir(sasHost, "bus/scsi", "DEVTYPE=scsi_host")...)
	// hbaPort is a SAS disk on a port of the HBA with that many phys.
	hbaPort := func(phys string) fstest.MapFS {
		return joinSysfs(sasBase, sysDir(sasHost+"/port-4:0", "", ""), sysDir(endDev, "", ""),
			classDev(endDev, "sas_device", "end_device-4:0", "phy_identifier=2", "sas_address=0x5000c50012345679"),
			classDev(sasHost+"/port-4:0", "sas_port", "port-4:0", "num_phys="+phys),
			scsiTarget(endDev, "4:0:0:0", "sde"))
	}
	for _, tc := range []struct {
		name, syspath string
		fsys          fstest.MapFS
		path          string // ID_PATH; "" for an error
		err           string // the error's sentinel, ErrNoPathID if ""
	}{
		{
			name: "fibre channel: the target's port name", syspath: rport + "/target3:0:0/3:0:0:1/block/sdd",
			fsys: joinSysfs(pciDev, sysDir(pci+"/host3", "bus/scsi", "DEVTYPE=scsi_host"), sysDir(rport, "", ""),
				scsiTarget(rport, "3:0:0:1", "sdd"),
				classDev(rport+"/target3:0:0", "fc_transport", "target3:0:0", "port_name=0x500a0981891b8dc5")),
			path: "pci-0000:00:05.0-fc-0x500a0981891b8dc5-lun-1",
		},
		{
			name: "SAS disk on a one-phy port of the HBA: its phy", syspath: endDev + "/target4:0:0/4:0:0:0/block/sde",
			fsys: hbaPort("1"),
			path: "pci-0000:00:05.0-sas-phy2-lun-0",
		},
		{
			name: "SAS disk behind an expander: its address and the phy", syspath: expEnd + "/target4:0:1/4:0:1:0/block/sdf",
			fsys: joinSysfs(sasBase, sysDir(sasHost+"/port-4:0", "", ""), sysDir(sasHost+"/port-4:0/expander-4:0", "", ""),
				sysDir(sasHost+"/port-4:0/expander-4:0/port-4:0:1", "", ""), sysDir(expEnd, "", ""),
				classDev(sasHost+"/port-4:0/expander-4:0", "sas_device", "expander-4:0", "sas_address=0x500056b31234abff"),
				classDev(expEnd, "sas_device", "end_device-4:0:1", "phy_identifier=5", "sas_address=0x5000c5001234567a"),
				classDev(sasHost+"/port-4:0/expander-4:0/port-4:0:1", "sas_port", "port-4:0:1", "num_phys=1"),
				scsiTarget(expEnd, "4:0:1:0", "sdf")),
			path: "pci-0000:00:05.0-sas-exp0x500056b31234abff-phy5-lun-0",
		},
		{
			name: "SAS wide port: the disk's SAS address", syspath: endDev + "/target4:0:0/4:0:0:0/block/sde",
			fsys: hbaPort("4"),
			path: "pci-0000:00:05.0-sas-0x5000c50012345679-lun-0",
		},
		{
			name: "iSCSI: portal address and port, target name", syspath: session + "/target5:0:0/5:0:0:2/block/sdg",
			fsys: joinSysfs(sysDir("devices/platform/host5", "bus/scsi", "DEVTYPE=scsi_host"), sysDir(session, "", ""),
				classDev(session, "iscsi_session", "session1", "targetname=iqn.2003-01.org.example:disk"),
				classDev(session+"/connection1:0", "iscsi_connection", "connection1:0", "persistent_address=192.0.2.1", "persistent_port=3260"),
				sysDir(session+"/connection1:0", "", ""),
				scsiTarget(session, "5:0:0:2", "sdg")),
			path: "ip-192.0.2.1:3260-iscsi-iqn.2003-01.org.example:disk-lun-2",
		},
		{
			name: "Hyper-V: the VMBus device's GUID without braces and dashes", syspath: vmbus + "/host0/target0:0:1/0:0:1:0/block/sda",
			fsys: joinSysfs(sysDir("devices/LNXSYSTM:00/VMBUS:00", "bus/acpi", ""), sysDir(vmbus, "bus/vmbus", ""),
				[]string{vmbus + "/device_id={f8b3781b-1e82-4818-a1c3-63d806ec15bb}"},
				scsiChain(vmbus, "0:0:1:0", "sda")),
			path: "acpi-VMBUS:00-vmbus-f8b3781b1e824818a1c363d806ec15bb-lun-0",
		},
		{
			name: "firewire SBP-2 disk: ieee1394_id, then past all of SCSI", syspath: pci + "/fw1/fw1.0/host6/target6:0:0/6:0:0:0/block/sdh",
			fsys: joinSysfs(pciDev, sysDir(pci+"/fw1", "bus/firewire", ""), sysDir(pci+"/fw1/fw1.0", "bus/firewire", ""),
				scsiChain(pci+"/fw1/fw1.0", "6:0:0:0", "sdh"),
				[]string{pci + "/fw1/fw1.0/host6/target6:0:0/6:0:0:0/ieee1394_id=0001040010004beb:0:0"}),
			path: "pci-0000:00:05.0-ieee1394-0x0001040010004beb:0:0",
		},
		{
			// udevd looks for the mode letter right after "st" or "nst",
			// where the kernel's names (st0, nst0a) have the number, so
			// on real tapes it adds nothing.
			name: "SCSI tape nst0a: no mode added", syspath: pci + "/host7/target7:0:0/7:0:0:0/scsi_tape/nst0a",
			fsys: tape("nst0a"),
			path: "pci-0000:00:05.0-scsi-0:0:0:0",
		},
		{
			name: "SCSI tape named with the mode first", syspath: pci + "/host7/target7:0:0/7:0:0:0/scsi_tape/nsta0",
			fsys: tape("nsta0"),
			path: "pci-0000:00:05.0-scsi-0:0:0:0-nsta",
		},
		{
			name: "SCSI tape st0 names no mode", syspath: pci + "/host7/target7:0:0/7:0:0:0/scsi_tape/st0",
			fsys: joinSysfs(pciDev, scsiChain(pci, "7:0:0:0", ""),
				sysDir(pci+"/host7/target7:0:0/7:0:0:0/scsi_tape/st0", "class/scsi_tape", "")),
			path: "pci-0000:00:05.0-scsi-0:0:0:0",
		},
		{
			name: "cciss: the disk number", syspath: pci + "/cciss0/c0d1/block/cciss!c0d1",
			fsys: joinSysfs(pciDev, sysDir(pci+"/cciss0", "bus/cciss", ""), sysDir(pci+"/cciss0/c0d1", "bus/cciss", ""),
				sysDir(pci+"/cciss0/c0d1/block/cciss!c0d1", "class/block", "DEVTYPE=disk")),
			path: "pci-0000:00:05.0-cciss-disk1",
		},
		{
			name: "bcma: the core number", syspath: pci + "/bcma0:1",
			fsys: joinSysfs(pciDev, sysDir(pci+"/bcma0:1", "bus/bcma", "")),
			path: "pci-0000:00:05.0-bcma-1",
		},
		{
			name: "s390 AP card: type and functions", syspath: "devices/ap/card01",
			fsys: joinSysfs(sysDir("devices/ap/card01", "bus/ap", ""),
				[]string{"devices/ap/card01/type=CEX5C", "devices/ap/card01/ap_functions=0x92000000"}),
			path: "ap-CEX5C-0x92000000",
		},
		{
			name: "s390 AP queue without type: its name, then past the card", syspath: "devices/ap/card01/01.0014",
			fsys: joinSysfs(sysDir("devices/ap/card01", "bus/ap", ""), sysDir("devices/ap/card01/01.0014", "bus/ap", "")),
			path: "ap-01.0014",
		},
		{
			name: "s390 DASD on a CCW device", syspath: "devices/css0/0.0.0000/0.0.0001/block/dasda",
			fsys: joinSysfs(sysDir("devices/css0/0.0.0000", "bus/css", ""), sysDir("devices/css0/0.0.0000/0.0.0001", "bus/ccw", ""),
				sysDir("devices/css0/0.0.0000/0.0.0001/block/dasda", "class/block", "DEVTYPE=disk")),
			path: "ccw-0.0.0001",
		},
		{
			name: "s390 qeth NIC on a CCW group", syspath: "devices/qeth/0.0.f500/net/eth0",
			fsys: joinSysfs(sysDir("devices/qeth/0.0.f500", "bus/ccwgroup", ""), sysDir("devices/qeth/0.0.f500/net/eth0", "class/net", "")),
			path: "ccwgroup-0.0.f500",
		},
		{
			name: "IUCV", syspath: "devices/iucv/netiucv0",
			fsys: joinSysfs(sysDir("devices/iucv/netiucv0", "bus/iucv", "")),
			path: "iucv-netiucv0",
		},
		{
			name: "SCM", syspath: "devices/scm/0000000000000000",
			fsys: joinSysfs(sysDir("devices/scm/0000000000000000", "bus/scm", "")),
			path: "scm-0000000000000000",
		},
		{
			name: "Xen block front: xen is a known parent", syspath: "devices/vbd-51712",
			fsys: joinSysfs(sysDir("devices/vbd-51712", "bus/xen", ""), sysDir("devices/vbd-51712/block/xvda", "class/block", "DEVTYPE=disk")),
			path: "xen-vbd-51712",
		},
		{
			name: "Xen disk: but no transport, so no path for the block device", syspath: "devices/vbd-51712/block/xvda",
			fsys: joinSysfs(sysDir("devices/vbd-51712", "bus/xen", ""), sysDir("devices/vbd-51712/block/xvda", "class/block", "DEVTYPE=disk")),
		},
		{
			name: "SPI chip select", syspath: "devices/platform/fe204000.spi/spi_master/spi0/spi0.1",
			fsys: joinSysfs(sysDir("devices/platform/fe204000.spi", "bus/platform", ""),
				sysDir("devices/platform/fe204000.spi/spi_master/spi0", "class/spi_master", ""),
				sysDir("devices/platform/fe204000.spi/spi_master/spi0/spi0.1", "bus/spi", "")),
			path: "platform-fe204000.spi-cs-1",
		},
		{
			name: "serio without a number adds nothing", syspath: "devices/platform/i8042/serio",
			fsys: joinSysfs(sysDir("devices/platform/i8042", "bus/platform", ""), sysDir("devices/platform/i8042/serio", "bus/serio", "")),
			path: "platform-i8042",
		},
		{
			name: "USB root hub: no port, so only the controller", syspath: pci + "/usb2",
			fsys: joinSysfs(pciDev, sysDir(pci+"/usb2", "bus/usb", "DEVTYPE=usb_device")),
			path: "pci-0000:00:05.0",
		},
		{
			name: "NVMe over fabrics: a virtual controller has no path", syspath: "devices/virtual/nvme-subsystem/nvme-subsys1/nvme1n1",
			fsys: joinSysfs(sysDir("devices/virtual/nvme-fabrics/ctl/nvme1", "class/nvme", ""),
				[]string{"class/nvme/nvme1 -> ../../devices/virtual/nvme-fabrics/ctl/nvme1"},
				sysDir("devices/virtual/nvme-subsystem/nvme-subsys1", "class/nvme-subsystem", ""),
				sysDir("devices/virtual/nvme-subsystem/nvme-subsys1/nvme1n1", "class/block", "DEVTYPE=disk"),
				[]string{"devices/virtual/nvme-subsystem/nvme-subsys1/nvme1n1/nsid=1"}),
			err: "ErrNoDevice", // udevd's -ENXIO
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dev := &Device{Sysfs: tc.fsys, Syspath: tc.syspath, Props: map[string]string{}}
			if tc.path == "" {
				checkBuiltin(t, PathID, dev, nil, cmp.Or(tc.err, "ErrNoPathID"))
				return
			}
			got, err := PathID(t.Context(), dev, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got[0] != (Prop{"ID_PATH", tc.path}) {
				t.Errorf("got %v, want ID_PATH=%s", got, tc.path)
			}
		})
	}
}
