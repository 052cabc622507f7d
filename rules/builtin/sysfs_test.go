package builtin

import (
	"errors"
	"io/fs"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/gudevd/gudevd/uevent/sysfstest"
)

// sysFixture loads testdata/sys.tar.gz, systemd's captured sysfs tree
// (testdata/gen-sys.sh), for the builtins' tests.
func sysFixture(t testing.TB) fs.FS {
	t.Helper()
	m, err := sysfstest.Load("testdata/sys.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// sysView is what a test compares of a SysDevice.
type sysView struct {
	Path, Sysname, Sysnum, Subsystem, Driver, Devtype, Parent string
}

func viewOf(d SysDevice) sysView {
	v := sysView{Path: d.Path, Sysname: d.Sysname(), Sysnum: d.Sysnum(),
		Subsystem: d.Subsystem(), Driver: d.Driver(), Devtype: d.Devtype()}
	if p, ok := d.Parent(); ok {
		v.Parent = p.Path
	}
	return v
}

func TestNewSysDevice(t *testing.T) {
	fsys := sysFixture(t)
	const sda = "devices/pci0000:00/0000:00:1f.2/host0/target0:0:0/0:0:0:0/block/sda"
	for _, tc := range []struct {
		name, syspath string
		want          sysView
	}{
		{"disk, parent skips the block directory", sda, sysView{
			Path: sda, Sysname: "sda", Subsystem: "block", Devtype: "disk",
			Parent: "devices/pci0000:00/0000:00:1f.2/host0/target0:0:0/0:0:0:0"}},
		{"partition has a sysnum", sda + "/sda10", sysView{
			Path: sda + "/sda10", Sysname: "sda10", Sysnum: "10", Subsystem: "block", Devtype: "partition", Parent: sda}},
		{"class link resolves to the device", "class/block/sda", sysView{
			Path: sda, Sysname: "sda", Subsystem: "block", Devtype: "disk",
			Parent: "devices/pci0000:00/0000:00:1f.2/host0/target0:0:0/0:0:0:0"}},
		{"driver link", "devices/pci0000:00/0000:00:1d.2/usb3/3-1/3-1:1.0", sysView{
			Path: "devices/pci0000:00/0000:00:1d.2/usb3/3-1/3-1:1.0", Sysname: "3-1:1.0", Sysnum: "0",
			Subsystem: "usb", Driver: "usbhid", Devtype: "usb_interface", Parent: "devices/pci0000:00/0000:00:1d.2/usb3/3-1"}},
		{"a '!' in the name reads as '/'", "devices/virtual/block/fake!blockdev0", sysView{
			Path: "devices/virtual/block/fake!blockdev0", Sysname: "fake/blockdev0", Sysnum: "0",
			Subsystem: "block", Devtype: "disk"}}, // devices/virtual has no uevent
		{"the top of the tree has no parent", "devices/pci0000:00", sysView{
			Path: "devices/pci0000:00", Sysname: "pci0000:00", Sysnum: "00"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := NewSysDevice(fsys, tc.syspath)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, viewOf(d)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewSysDeviceNotDevice(t *testing.T) {
	fsys := sysFixture(t)
	for _, tc := range []struct{ name, syspath string }{
		{"kobject directory without uevent", "devices/pci0000:00/0000:00:1f.2/host0/target0:0:0/0:0:0:0/block"},
		{"missing", "devices/nowhere"},
		{"a file", "devices/pci0000:00/0000:00:1f.2/vendor"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewSysDevice(fsys, tc.syspath); !errors.Is(err, ErrNoDevice) {
				t.Errorf("err %v, want ErrNoDevice", err)
			}
		})
	}
}

func TestSysDeviceAttr(t *testing.T) {
	fsys := sysFixture(t)
	scsi, err := NewSysDevice(fsys, "devices/pci0000:00/0000:00:1f.2/host0/target0:0:0/0:0:0:0")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, attr, want string
		err              error
	}{
		{"trailing newline dropped, spaces kept", "vendor", "ATA     ", nil},
		{"driver link reads as its basename", "driver", "sd", nil},
		{"subsystem link", "subsystem", "scsi", nil},
		{"other links are no attributes", "generic", "", ErrNotAttribute},
		{"directories are no attributes", "power", "", ErrNotAttribute},
		{"missing", "nothing", "", fs.ErrNotExist},
		{"through a link: the block device's own attribute", "block/sda/device/type", "0", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := scsi.Attr(tc.attr)
			if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLookupSysDevice(t *testing.T) {
	fsys := sysFixture(t)
	for _, tc := range []struct{ name, subsystem, sysname, want string }{
		{"bus devices link", "pci", "0000:00:1f.2", "devices/pci0000:00/0000:00:1f.2"},
		{"class link", "net", "eth0", "devices/pci0000:00/0000:00:1c.0/0000:02:00.0/net/eth0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := LookupSysDevice(fsys, tc.subsystem, tc.sysname)
			if err != nil {
				t.Fatal(err)
			}
			if d.Path != tc.want {
				t.Errorf("got %s, want %s", d.Path, tc.want)
			}
		})
	}
	if _, err := LookupSysDevice(fsys, "ata_port", "ata1"); !errors.Is(err, ErrNoDevice) {
		t.Errorf("ata_port ata1: err %v, want ErrNoDevice", err)
	}
}

// The rules engine builds a parent's properties from UeventProps, whose
// order is the file's (sd-device keeps its properties ordered).
func TestSysDeviceUeventProps(t *testing.T) {
	cases := []struct {
		name, uevent string
		want         []Prop
	}{
		{name: "in file order", uevent: "MAJOR=8\nMINOR=0\nDEVNAME=sda\nDEVTYPE=disk\n",
			want: []Prop{{"MAJOR", "8"}, {"MINOR", "0"}, {"DEVNAME", "sda"}, {"DEVTYPE", "disk"}}},
		{name: "value with =", uevent: "A==b\n", want: []Prop{{"A", "=b"}}},
		{name: "no = or no key ignored", uevent: "junk\n=x\nB=1\n", want: []Prop{{"B", "1"}}},
		{name: "empty file", uevent: "", want: []Prop{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fsys := fstest.MapFS{"devices/x/uevent": &fstest.MapFile{Data: []byte(c.uevent), Mode: 0o444}}
			d := SysDevice{FS: fsys, Path: "devices/x"}
			if diff := cmp.Diff(c.want, d.UeventProps()); diff != "" {
				t.Errorf("UeventProps (-want +got):\n%s", diff)
			}
		})
	}
	if got := (SysDevice{FS: fstest.MapFS{}, Path: "devices/x"}).UeventProps(); got != nil {
		t.Errorf("UeventProps of a missing file = %v, want nil", got)
	}
}
