package builtin

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// builtinGolden is one device of a golden file: its syspath, the props the
// builtin returns, or the sentinel its error wraps.
type builtinGolden struct {
	Syspath string
	Props   []Prop
	Err     string
}

// builtinGoldenErrs are the sentinels a golden file names after "error ".
var builtinGoldenErrs = map[string]error{
	"ErrNoPathID": ErrNoPathID, "ErrNoDevice": ErrNoDevice, "ErrNotUSB": ErrNotUSB,
	"ErrNotAttribute": ErrNotAttribute,
	"ErrNotExist":     fs.ErrNotExist, "ErrBadNumber": ErrBadNumber,
}

// readBuiltinGolden reads testdata/<builtin>/<file>: "#" comments, then per
// device a "== <syspath>" line followed by KEY=value lines in the order
// the builtin returns them, or by "error <sentinel>".
func readBuiltinGolden(t *testing.T, file string) []builtinGolden {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []builtinGolden
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "== "):
			cases = append(cases, builtinGolden{Syspath: strings.TrimPrefix(line, "== ")})
		case len(cases) == 0:
			t.Fatalf("%s:%d: %q before the first device", file, n, line)
		case strings.HasPrefix(line, "error "):
			cases[len(cases)-1].Err = strings.TrimPrefix(line, "error ")
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s:%d: %q is no KEY=value", file, n, line)
			}
			c := &cases[len(cases)-1]
			c.Props = append(c.Props, Prop{k, v})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cases
}

// builtinFunc is the signature the builtins share.
type builtinFunc func(ctx context.Context, dev *Device, argv []string) ([]Prop, error)

// fixtureDevice is a device of fsys with the kernel's properties, those of
// its uevent file, as udevd has them when the rules start.
func fixtureDevice(t *testing.T, fsys fs.FS, syspath string) *Device {
	t.Helper()
	d, err := NewSysDevice(fsys, syspath)
	if err != nil {
		t.Fatal(err)
	}
	props := d.Uevent()
	if props == nil {
		props = map[string]string{}
	}
	return &Device{Sysfs: fsys, Syspath: syspath, Props: props}
}

// runBuiltinGolden runs a builtin on every device of a golden file.
func runBuiltinGolden(t *testing.T, fsys fs.FS, file string, fn builtinFunc) {
	t.Helper()
	for _, tc := range readBuiltinGolden(t, file) {
		t.Run(tc.Syspath, func(t *testing.T) {
			checkBuiltin(t, fn, fixtureDevice(t, fsys, tc.Syspath), tc.Props, tc.Err)
		})
	}
}

// checkBuiltin compares a builtin's props, or its error's sentinel, with
// the expected ones.
func checkBuiltin(t *testing.T, fn builtinFunc, dev *Device, want []Prop, wantErr string) {
	t.Helper()
	got, err := fn(context.Background(), dev, nil)
	if wantErr != "" {
		sentinel, ok := builtinGoldenErrs[wantErr]
		if !ok {
			t.Fatalf("unknown sentinel %q", wantErr)
		}
		if !errors.Is(err, sentinel) {
			t.Fatalf("err %v, want %s (props %v)", err, wantErr, got)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestPathIDFixture: path_id on the devices of systemd's captured tree.
func TestPathIDFixture(t *testing.T) {
	runBuiltinGolden(t, sysFixture(t), "path_id/fixture.golden", PathID)
}

// mapSysfs builds a small sysfs: each path ending in "/" is a directory,
// "uevent" files get the given content, "->" makes a symlink.
func mapSysfs(entries ...string) fstest.MapFS {
	m := fstest.MapFS{}
	for _, e := range entries {
		switch name, target, isLink := strings.Cut(e, " -> "); {
		case isLink:
			m[name] = &fstest.MapFile{Data: []byte(target), Mode: fs.ModeSymlink | 0o777}
		default:
			name, data, _ := strings.Cut(e, "=")
			m[name] = &fstest.MapFile{Data: []byte(data + "\n"), Mode: 0o644}
		}
	}
	return m
}

// sysDir adds a device directory with its uevent file and subsystem link
// (to class/<subsystem>, or bus/<subsystem> for buses).
func sysDir(syspath, subsystem, uevent string) []string {
	depth := strings.Count(syspath, "/") + 1
	up := strings.Repeat("../", depth)
	e := []string{syspath + "/uevent=" + uevent}
	if subsystem != "" {
		e = append(e, syspath+"/subsystem -> "+up+subsystem)
	}
	return e
}

// joinSysfs builds one tree of sysDir entries.
func joinSysfs(parts ...[]string) fstest.MapFS {
	var all []string
	for _, p := range parts {
		all = append(all, p...)
	}
	return mapSysfs(all...)
}

// ataTree is a libata disk on port n of an AHCI controller, as kernels
// since 2.6.34 lay it out: ata<n>/host<H>/target<H:B:T>/<H:B:T:L>/block/<disk>,
// the port's number in class/ata_port/ata<n>/port_no.
func ataTree(ahci string, n int, hbtl, disk string) fstest.MapFS {
	h, b, t, _ := hbtlParts(hbtl)
	port := fmt.Sprintf("%s/ata%d", ahci, n)
	host := fmt.Sprintf("%s/host%s", port, h)
	target := fmt.Sprintf("%s/target%s:%s:%s", host, h, b, t)
	return joinSysfs(
		sysDir(ahci, "bus/pci", "DRIVER=ahci"),
		sysDir(port, "", ""),
		sysDir(port+"/ata_port/"+path.Base(port), "class/ata_port", ""),
		[]string{
			fmt.Sprintf("%s/ata_port/ata%d/port_no=%d", port, n, n),
			fmt.Sprintf("class/ata_port/ata%d -> ../../%s/ata_port/ata%d", n, port, n),
		},
		sysDir(host, "bus/scsi", "DEVTYPE=scsi_host"),
		sysDir(target, "bus/scsi", "DEVTYPE=scsi_target"),
		sysDir(target+"/"+hbtl, "bus/scsi", "DEVTYPE=scsi_device"),
		sysDir(target+"/"+hbtl+"/block/"+disk, "class/block", "DEVTYPE=disk"),
	)
}

func hbtlParts(hbtl string) (h, b, t, l string) {
	f := strings.Split(hbtl, ":")
	return f[0], f[1], f[2], f[3]
}

// TestPathIDInline: the transports the fixture lacks, on small trees
// shaped as a q35 QEMU guest's sysfs (kernel 6.1).
func TestPathIDInline(t *testing.T) {
	const ahci = "devices/pci0000:00/0000:00:1f.2"
	const nvme = "devices/pci0000:00/0000:00:04.0"
	for _, tc := range []struct {
		name, syspath string
		fsys          fs.FS
		want          []Prop
		err           string
	}{
		{
			name:    "virtio-blk names the PCI function, virtio is the transport",
			syspath: "devices/pci0000:00/0000:00:03.0/virtio0/block/vda",
			fsys: joinSysfs(
				sysDir("devices/pci0000:00/0000:00:03.0", "bus/pci", "DRIVER=virtio-pci"),
				sysDir("devices/pci0000:00/0000:00:03.0/virtio0", "bus/virtio", "DRIVER=virtio_blk"),
				sysDir("devices/pci0000:00/0000:00:03.0/virtio0/block/vda", "class/block", "DEVTYPE=disk"),
			),
			want: []Prop{{"ID_PATH", "pci-0000:00:03.0"}, {"ID_PATH_TAG", "pci-0000_00_03_0"}},
		},
		{
			name:    "SATA disk on AHCI: ata-<port>.<target>, compat ata-<port>",
			syspath: ahci + "/ata1/host0/target0:0:0/0:0:0:0/block/sda",
			fsys:    ataTree(ahci, 1, "0:0:0:0", "sda"),
			want: []Prop{
				{"ID_PATH", "pci-0000:00:1f.2-ata-1.0"}, {"ID_PATH_TAG", "pci-0000_00_1f_2-ata-1_0"},
				{"ID_PATH_ATA_COMPAT", "pci-0000:00:1f.2-ata-1"},
			},
		},
		{
			name:    "disk behind a port multiplier: ata-<port>.<bus>.0",
			syspath: ahci + "/ata3/host2/target2:3:0/2:3:0:0/block/sdc",
			fsys:    ataTree(ahci, 3, "2:3:0:0", "sdc"),
			want: []Prop{
				{"ID_PATH", "pci-0000:00:1f.2-ata-3.3.0"}, {"ID_PATH_TAG", "pci-0000_00_1f_2-ata-3_3_0"},
				{"ID_PATH_ATA_COMPAT", "pci-0000:00:1f.2-ata-3"},
			},
		},
		{
			name:    "NVMe namespace: nvme-<nsid> from the namespace's own attribute",
			syspath: nvme + "/nvme/nvme0/nvme0n1",
			fsys: joinSysfs(
				sysDir(nvme, "bus/pci", "DRIVER=nvme"),
				sysDir(nvme+"/nvme/nvme0", "class/nvme", ""),
				sysDir(nvme+"/nvme/nvme0/nvme0n1", "class/block", "DEVTYPE=disk"),
				[]string{nvme + "/nvme/nvme0/nvme0n1/nsid=1"},
			),
			want: []Prop{{"ID_PATH", "pci-0000:00:04.0-nvme-1"}, {"ID_PATH_TAG", "pci-0000_00_04_0-nvme-1"}},
		},
		{
			name:    "NVMe partition: the nsid is read from the partition, which has none",
			syspath: nvme + "/nvme/nvme0/nvme0n1/nvme0n1p1",
			fsys: joinSysfs(
				sysDir(nvme, "bus/pci", ""),
				sysDir(nvme+"/nvme/nvme0", "class/nvme", ""),
				sysDir(nvme+"/nvme/nvme0/nvme0n1", "class/block", "DEVTYPE=disk"),
				[]string{nvme + "/nvme/nvme0/nvme0n1/nsid=1"},
				sysDir(nvme+"/nvme/nvme0/nvme0n1/nvme0n1p1", "class/block", "DEVTYPE=partition"),
			),
			err: "ErrNoPathID", // pci only: a block device without a transport
		},
		{
			name:    "NVMe controller: no nsid, so the PCI function alone",
			syspath: nvme + "/nvme/nvme0",
			fsys: joinSysfs(
				sysDir(nvme, "bus/pci", ""),
				sysDir(nvme+"/nvme/nvme0", "class/nvme", ""),
			),
			want: []Prop{{"ID_PATH", "pci-0000:00:04.0"}, {"ID_PATH_TAG", "pci-0000_00_04_0"}},
		},
		{
			name:    "multipath NVMe: the walk goes on from the real controller",
			syspath: "devices/virtual/nvme-subsystem/nvme-subsys0/nvme0n1",
			fsys: joinSysfs(
				sysDir(nvme, "bus/pci", ""),
				sysDir(nvme+"/nvme/nvme0", "class/nvme", ""),
				[]string{"class/nvme/nvme0 -> ../../" + nvme + "/nvme/nvme0"},
				sysDir("devices/virtual/nvme-subsystem/nvme-subsys0", "class/nvme-subsystem", ""),
				sysDir("devices/virtual/nvme-subsystem/nvme-subsys0/nvme0n1", "class/block", "DEVTYPE=disk"),
				[]string{"devices/virtual/nvme-subsystem/nvme-subsys0/nvme0n1/nsid=2"},
			),
			want: []Prop{{"ID_PATH", "pci-0000:00:04.0-nvme-2"}, {"ID_PATH_TAG", "pci-0000_00_04_0-nvme-2"}},
		},
		{
			name:    "QEMU USB tablet's event device: usb-0:<port>:<config>.<interface>",
			syspath: "devices/pci0000:00/0000:00:1d.0/usb1/1-1/1-1:1.0/0003:0627:0001.0001/input/input5/event2",
			fsys: joinSysfs(
				sysDir("devices/pci0000:00/0000:00:1d.0", "bus/pci", ""),
				sysDir("devices/pci0000:00/0000:00:1d.0/usb1", "bus/usb", "DEVTYPE=usb_device"),
				sysDir("devices/pci0000:00/0000:00:1d.0/usb1/1-1", "bus/usb", "DEVTYPE=usb_device"),
				sysDir("devices/pci0000:00/0000:00:1d.0/usb1/1-1/1-1:1.0", "bus/usb", "DEVTYPE=usb_interface"),
				sysDir("devices/pci0000:00/0000:00:1d.0/usb1/1-1/1-1:1.0/0003:0627:0001.0001", "bus/hid", ""),
				sysDir("devices/pci0000:00/0000:00:1d.0/usb1/1-1/1-1:1.0/0003:0627:0001.0001/input/input5", "class/input", ""),
				sysDir("devices/pci0000:00/0000:00:1d.0/usb1/1-1/1-1:1.0/0003:0627:0001.0001/input/input5/event2", "class/input", ""),
			),
			want: []Prop{
				{"ID_PATH", "pci-0000:00:1d.0-usb-0:1:1.0"}, {"ID_PATH_TAG", "pci-0000_00_1d_0-usb-0_1_1_0"},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dev := &Device{Sysfs: tc.fsys, Syspath: tc.syspath, Props: map[string]string{}}
			checkBuiltin(t, PathID, dev, tc.want, tc.err)
		})
	}
}

// TestPathIDElements: the tag keeps letters, digits and '-' and makes one
// '_' of each run of other bytes, none leading or trailing; LUNs above 255
// keep the kernel's swapped halves.
func TestPathIDElements(t *testing.T) {
	lun := func(sysname string) string {
		return lunName(SysDevice{FS: fstest.MapFS{}, Path: "devices/x/" + sysname})
	}
	for _, tc := range []struct {
		name string
		fn   func(string) string
		in   string
		want string
	}{
		{"tag of pci", pathTag, "pci-0000:00:1f.2", "pci-0000_00_1f_2"},
		{"tag runs collapse", pathTag, "a::.b", "a_b"},
		{"tag has none leading or trailing", pathTag, ":a:", "a"},
		{"tag of non-ASCII bytes", pathTag, "x\u00e9y", "x_y"},
		{"plain lun", lun, "0:0:0:7", "lun-7"},
		{"last plain lun", lun, "0:0:0:255", "lun-255"},
		{"flat addressing lun", lun, "0:0:0:16384", "lun-0x4000000000000000"},
		{"high half lun", lun, "0:0:0:65537", "lun-0x0001000100000000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.fn(tc.in); got != tc.want {
				t.Errorf("%s: got %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
