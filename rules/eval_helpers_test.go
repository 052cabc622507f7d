package rules

import (
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
)

// testRules parses rule text as the file "test.rules".
func testRules(t testing.TB, text string) *Rules {
	t.Helper()
	return testRulesFile(t, "test.rules", text)
}

// testRulesFile parses a rules file with the parser (ParseFile), names
// resolved from testUsers, and fails the test on an Error diagnostic.
func testRulesFile(t testing.TB, name, text string) *Rules {
	t.Helper()
	lines, diags := ParseFile(name, []byte(text), &Options{Users: testUsers{}})
	for _, d := range diags {
		if d.Severity == Error {
			t.Errorf("parse: %v", d)
		}
	}
	return &Rules{Files: []string{name}, Lines: lines}
}

// testUsers are the users and groups the test rules name.
type testUsers struct{}

var testIDs = map[string]uint32{"tty": 5, "disk": 6, "dialout": 20, "kmem": 15, "input": 101, "video": 44,
	"render": 105, "audio": 29, "cdrom": 24, "tape": 26, "floppy": 25, "sgx": 106, "kvm": 104, "lp": 7}

func (testUsers) LookupUser(name string) (uint32, error) {
	return 0, fmt.Errorf("%s: %w", name, ErrUnknownName)
}

func (testUsers) LookupGroup(name string) (uint32, error) {
	if id, ok := testIDs[name]; ok {
		return id, nil
	}
	return 0, fmt.Errorf("%s: %w", name, ErrUnknownName)
}

// sysTree builds a sysfs MapFS from files (path: content) and links
// (path: absolute target below /sys, made relative as sysfs has them).
type sysTree fstest.MapFS

func (s sysTree) file(p, data string) { s[p] = &fstest.MapFile{Data: []byte(data), Mode: 0o444} }

func (s sysTree) link(p, target string) {
	up := strings.Repeat("../", strings.Count(p, "/"))
	s[p] = &fstest.MapFile{Data: []byte(up + target), Mode: fs.ModeSymlink | 0o777}
}

// dev adds a device directory with its uevent, subsystem and driver.
func (s sysTree) dev(p, subsystem, driver, uevent string) {
	s.file(p+"/uevent", uevent)
	if subsystem != "" {
		s.link(p+"/subsystem", subsystem)
	}
	if driver != "" {
		s.link(p+"/driver", driver)
	}
}

const (
	sataPCI   = "devices/pci0000:00/0000:00:1f.2"
	sataSdev  = sataPCI + "/ata1/host0/target0:0:0/0:0:0:0"
	sataSda   = sataSdev + "/block/sda"
	virtioNet = "devices/pci0000:00/0000:00:03.0/virtio0/net/eth0"
	kbdEvent  = "devices/platform/i8042/serio0/input/input1/event0"
)

// testSysfs is a machine with a SATA disk and its partition, a virtio
// network interface and a PS/2 keyboard's event device.
func testSysfs() fstest.MapFS {
	s := sysTree{}
	s.dev("devices/pci0000:00", "", "", "")
	s.dev(sataPCI, "bus/pci", "bus/pci/drivers/ahci", "DRIVER=ahci\nPCI_CLASS=10601\nPCI_ID=8086:2922\n")
	s.file(sataPCI+"/vendor", "0x8086\n")
	s.file(sataPCI+"/device", "0x2922\n")
	s.dev(sataPCI+"/ata1", "", "", "")
	s.dev(sataPCI+"/ata1/host0", "bus/scsi", "", "DEVTYPE=scsi_host\n")
	s.dev(sataPCI+"/ata1/host0/target0:0:0", "bus/scsi", "", "DEVTYPE=scsi_target\n")
	s.dev(sataSdev, "bus/scsi", "bus/scsi/drivers/sd", "DEVTYPE=scsi_device\nDRIVER=sd\nMODALIAS=scsi:t-0x00\n")
	s.file(sataSdev+"/vendor", "ATA     \n")
	s.file(sataSdev+"/model", "QEMU HARDDISK   \n")
	s.file(sataSdev+"/type", "0\n")
	s.dev(sataSda, "class/block", "", "MAJOR=8\nMINOR=0\nDEVNAME=sda\nDEVTYPE=disk\nDISKSEQ=1\n")
	s.file(sataSda+"/size", "16777216\n")
	s.file(sataSda+"/removable", "0\n")
	s.file(sataSda+"/queue/rotational", "1\n")
	s.link(sataSda+"/device", sataSdev)
	s.dev(sataSda+"/sda1", "class/block", "", "MAJOR=8\nMINOR=1\nDEVNAME=sda1\nDEVTYPE=partition\nPARTN=1\n")
	s.file(sataSda+"/sda1/partition", "1\n")
	s.link("class/block/sda", sataSda)
	s.file("bus/scsi/drivers/sd/uevent", "")
	s.file("bus/pci/drivers/ahci/uevent", "")

	s.dev("devices/pci0000:00/0000:00:03.0", "bus/pci", "bus/pci/drivers/virtio-pci", "DRIVER=virtio-pci\n")
	s.dev("devices/pci0000:00/0000:00:03.0/virtio0", "bus/virtio", "bus/virtio/drivers/virtio_net", "DRIVER=virtio_net\nMODALIAS=virtio:d00000001v00001AF4\n")
	s.dev(virtioNet, "class/net", "", "INTERFACE=eth0\nIFINDEX=2\n")
	s.file(virtioNet+"/address", "52:54:00:12:34:56\n")
	s.file(virtioNet+"/type", "1\n")
	s.file(virtioNet+"/addr_assign_type", "0\n")
	s.link("class/net/eth0", virtioNet)

	s.dev("devices/platform/i8042", "bus/platform", "bus/platform/drivers/i8042", "DRIVER=i8042\n")
	s.dev("devices/platform/i8042/serio0", "bus/serio", "bus/serio/drivers/atkbd", "DRIVER=atkbd\nSERIO_TYPE=06\n")
	s.dev("devices/platform/i8042/serio0/input/input1", "class/input", "", "PRODUCT=11/1/1/ab41\nNAME=\"AT Translated Set 2 keyboard\"\n")
	s.file("devices/platform/i8042/serio0/input/input1/name", "AT Translated Set 2 keyboard\n")
	s.dev(kbdEvent, "class/input", "", "MAJOR=13\nMINOR=64\nDEVNAME=input/event0\n")

	s.dev("devices/virtual/dmi/id", "class/dmi", "", "MODALIAS=dmi:bvnSeaBIOS:\n")
	s.file("devices/virtual/dmi/id/sys_vendor", "QEMU\n")
	s.file("devices/virtual/dmi/id/product_serial", "secret\n")
	s["devices/virtual/dmi/id/product_serial"].Mode = 0o200
	s.link("class/dmi/id", "devices/virtual/dmi/id")
	return fstest.MapFS(s)
}

// eventDevice is the device of a uevent for the tree's device at p.
func eventDevice(t testing.TB, fsys fs.FS, p, action string) *Device {
	t.Helper()
	d, err := DeviceFromFS(fsys, "/sys/"+p)
	if err != nil {
		t.Fatalf("device %s: %v", p, err)
	}
	d.Action, d.Seqnum = action, 1234
	d.Props = append([]Property{{"ACTION", action}}, d.Props...)
	d.Props = append(d.Props, Property{"SEQNUM", "1234"})
	return d
}

func newTestHost() *FakeHost {
	return &FakeHost{
		Sysfs: testSysfs(), DB: map[string]*DB{}, Files: map[string]string{}, Sysctls: map[string]string{},
		Programs: map[string]FakeProgram{}, Users: map[string]uint32{}, Groups: map[string]uint32{},
		Builtins: map[string]func([]string, []Property) ([]Property, error){},
		ArchName: "x86-64", VirtName: "kvm",
	}
}
