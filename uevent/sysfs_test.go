package uevent

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// guestSysfs is a small hand-written sysfs tree laid out as a QEMU q35
// guest's, with the shapes Scan and Trigger must handle: modalias files, MODALIAS only in uevent
// (ACPI), a modalias ending in a newline (cpu on 6.1), devices without
// modalias, containers with a uevent file but no subsystem link, and the
// symlinks (driver, class, bus/*/devices) that must not be followed.
func guestSysfs() fstest.MapFS {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s), Mode: 0o644} }
	link := func(target string) *fstest.MapFile {
		return &fstest.MapFile{Data: []byte(target), Mode: fs.ModeSymlink | 0o777}
	}
	const pci = "devices/pci0000:00/0000:00:02.0"
	return fstest.MapFS{
		"devices/LNXSYSTM:00/uevent":    file("MODALIAS=acpi:LNXSYSTM:\n"),
		"devices/LNXSYSTM:00/subsystem": link("../../bus/acpi"),
		"devices/LNXSYSTM:00/hid":       file("LNXSYSTM\n"),

		"devices/pci0000:00/uevent":       file(""),
		pci + "/uevent":                   file("DRIVER=e1000\nPCI_CLASS=20000\nPCI_ID=8086:100E\nMODALIAS=pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00\n"),
		pci + "/modalias":                 file("pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00\n"),
		pci + "/subsystem":                link("../../../bus/pci"),
		pci + "/driver":                   link("../../../bus/pci/drivers/e1000"),
		pci + "/power/control":            file("on\n"),
		pci + "/net/eth0/uevent":          file("INTERFACE=eth0\nIFINDEX=2\n"),
		pci + "/net/eth0/subsystem":       link("../../../../../class/net"),
		pci + "/net/eth0/device":          link("../../../0000:00:02.0"),
		pci + "/net/eth0/queues/rx-0/foo": file("x"),

		"devices/platform/uevent":                file(""),
		"devices/system/cpu/uevent":              file(""),
		"devices/system/cpu/cpu0/uevent":         file("DRIVER=processor\nMODALIAS=cpu:type:x86,ven0002fam000Fmod006B:feature:,0000,0002\n"),
		"devices/system/cpu/cpu0/modalias":       file("cpu:type:x86,ven0002fam000Fmod006B:feature:,0000,0002\n"),
		"devices/system/cpu/cpu0/subsystem":      link("../../../../bus/cpu"),
		"devices/virtual/misc/fuse/uevent":       file("MAJOR=10\nMINOR=229\nDEVNAME=fuse\n"),
		"devices/virtual/misc/fuse/subsystem":    link("../../../../class/misc"),
		"devices/virtual/misc/fuse/power/async":  file("disabled\n"),
		"devices/virtual/workqueue/uevent":       file(""),
		"devices/virtual/workqueue/cpumask":      file("f\n"),
		"devices/virtual/workqueue/writeback/wq": file(""),

		"bus/acpi/uevent":                    file(""),
		"bus/cpu/uevent":                     file(""),
		"bus/cpu/drivers/processor/uevent":   file(""),
		"bus/cpu/devices/cpu0":               link("../../../devices/system/cpu/cpu0"),
		"bus/pci/uevent":                     file(""),
		"bus/pci/drivers/e1000/uevent":       file(""),
		"bus/pci/drivers/e1000/0000:00:02.0": link("../../../../devices/pci0000:00/0000:00:02.0"),
		"bus/pci/devices/0000:00:02.0":       link("../../../devices/pci0000:00/0000:00:02.0"),
		"class/net/eth0":                     link("../../devices/pci0000:00/0000:00:02.0/net/eth0"),
		"class/misc/fuse":                    link("../../devices/virtual/misc/fuse"),
		"module/e1000/uevent":                file(""),
		"module/e1000/drivers/pci:e1000":     link("../../../bus/pci/drivers/e1000"),
		"module/kernel/parameters/panic":     file("0\n"),
	}
}

func TestScan(t *testing.T) {
	broken := guestSysfs()
	broken["devices/virtual/misc/fuse/subsystem"] = &fstest.MapFile{Data: []byte("/"), Mode: fs.ModeSymlink}
	notLink := guestSysfs()
	notLink["devices/virtual/misc/fuse/subsystem"] = &fstest.MapFile{Data: []byte("misc")}

	tests := []struct {
		name  string
		sysfs fs.FS
		want  []Device
		err   string
	}{
		{
			name:  "guest tree",
			sysfs: guestSysfs(),
			want: []Device{
				{DevPath: "/devices/LNXSYSTM:00", Subsystem: "acpi", Modalias: "acpi:LNXSYSTM:"},
				{DevPath: "/devices/pci0000:00/0000:00:02.0", Subsystem: "pci", Modalias: "pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00"},
				{DevPath: "/devices/pci0000:00/0000:00:02.0/net/eth0", Subsystem: "net"},
				{DevPath: "/devices/system/cpu/cpu0", Subsystem: "cpu", Modalias: "cpu:type:x86,ven0002fam000Fmod006B:feature:,0000,0002"},
				{DevPath: "/devices/virtual/misc/fuse", Subsystem: "misc"},
			},
		},
		{name: "subsystem link to the root", sysfs: broken, err: `points to "/"`},
		{name: "subsystem is not a link", sysfs: notLink, err: "read subsystem of devices/virtual/misc/fuse"},
		{name: "no devices directory", sysfs: fstest.MapFS{"bus/pci/uevent": {}}, err: "walk sysfs devices"},
		{name: "fs without symlinks", sysfs: noLinks{guestSysfs()}, err: "read subsystem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Scan(tt.sysfs)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Scan error = %v, want one containing %q", err, tt.err)
				}
				if got != nil {
					t.Errorf("Scan returned %d devices with an error", len(got))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Scan mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestScanGuestEvents rebuilds the part of a guest's sysfs that its captured
// coldplug uevents describe (testdata/guest/kernel-*.bin: one uevent file and
// subsystem link per device, MODALIAS only in the uevent file) and checks
// that Scan finds exactly those devices.
func TestScanGuestEvents(t *testing.T) {
	files := guestFiles(t, "kernel-*.bin")
	byKernel := map[string][]string{}
	for _, f := range files {
		k := strings.Split(filepath.Base(f), "-")[1]
		byKernel[k] = append(byKernel[k], f)
	}
	for kernel, files := range byKernel {
		t.Run(kernel, func(t *testing.T) {
			sysfs := fstest.MapFS{}
			want := map[string]Device{}
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				e, err := ParseKernel(b)
				if err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				if e.Action != ActionAdd || !strings.HasPrefix(e.DevPath, "/devices/") {
					continue
				}
				dir := strings.TrimPrefix(e.DevPath, "/")
				var uevent strings.Builder
				for _, p := range e.Props {
					switch p.Key {
					case "ACTION", "DEVPATH", "SUBSYSTEM", "SEQNUM", "SYNTH_UUID":
					default:
						uevent.WriteString(p.Key + "=" + p.Value + "\n")
					}
				}
				up := strings.Repeat("../", strings.Count(dir, "/")+1)
				sysfs[dir+"/uevent"] = &fstest.MapFile{Data: []byte(uevent.String())}
				sysfs[dir+"/subsystem"] = &fstest.MapFile{Data: []byte(up + "bus/" + e.Subsystem), Mode: fs.ModeSymlink}
				want[e.DevPath] = Device{DevPath: e.DevPath, Subsystem: e.Subsystem, Modalias: e.Get("MODALIAS")}
			}
			got, err := Scan(sysfs)
			if err != nil {
				t.Fatal(err)
			}
			gotMap := map[string]Device{}
			for _, d := range got {
				gotMap[d.DevPath] = d
			}
			if diff := cmp.Diff(want, gotMap); diff != "" {
				t.Errorf("Scan mismatch (-events +Scan):\n%s", diff)
			}
			for i := 1; i < len(got); i++ {
				if got[i-1].DevPath >= got[i].DevPath {
					t.Errorf("Scan order: %s before %s", got[i-1].DevPath, got[i].DevPath)
				}
			}
			t.Logf("%d devices, from %d datagrams", len(got), len(files))
		})
	}
}

// noLinks hides fstest.MapFS's ReadLink, like an fs.FS that cannot read
// symlinks.
type noLinks struct{ fsys fs.FS }

func (n noLinks) Open(name string) (fs.File, error) { return n.fsys.Open(name) }

// TestScanHost scans this machine's /sys read-only and checks Scan against
// an independent walk with the os package.
func TestScanHost(t *testing.T) {
	if _, err := os.Stat("/sys/devices"); err != nil {
		t.Skipf("no sysfs: %v", err)
	}
	devs, err := Scan(os.DirFS("/sys"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Device{}
	for _, d := range devs {
		got[d.DevPath] = d
	}
	want := 0
	filepath.WalkDir("/sys/devices", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Name() != "modalias" || !d.Type().IsRegular() {
			return nil
		}
		dir := filepath.Dir(p)
		target, err := os.Readlink(filepath.Join(dir, "subsystem"))
		if err != nil {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		want++
		dev := strings.TrimPrefix(dir, "/sys")
		w := Device{DevPath: dev, Subsystem: filepath.Base(target), Modalias: strings.TrimSuffix(string(b), "\n")}
		if diff := cmp.Diff(w, got[dev]); diff != "" {
			t.Errorf("device %s mismatch (-os walk +Scan):\n%s", dev, diff)
		}
		return nil
	})
	t.Logf("%d devices, %d with a modalias file", len(devs), want)
}

// fakeWriter records uevent writes and fails those listed in fail.
type fakeWriter struct {
	fail   map[string]error
	writes []string // "name: data"
}

func (w *fakeWriter) writeUevent(name string, data []byte) error {
	if err := w.fail[name]; err != nil {
		return err
	}
	w.writes = append(w.writes, name+": "+string(data))
	return nil
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestTrigger(t *testing.T) {
	devices := []string{
		"/devices/LNXSYSTM:00",
		"/devices/pci0000:00/0000:00:02.0",
		"/devices/pci0000:00/0000:00:02.0/net/eth0",
		"/devices/system/cpu/cpu0",
		"/devices/virtual/misc/fuse",
	}
	subsystems := []string{
		"/bus/acpi", "/bus/cpu", "/bus/cpu/drivers/processor", "/bus/pci", "/bus/pci/drivers/e1000", "/module/e1000",
	}
	enodev := &fs.PathError{Op: "write", Path: "devices/virtual/misc/fuse/uevent", Err: unix.ENODEV}
	tests := []struct {
		name     string
		opts     TriggerOptions
		fail     map[string]error
		action   string
		written  []string
		failed   []string
		errMatch string
	}{
		{
			name:    "subsystems first, then devices, parents before children",
			action:  "add",
			written: append(append([]string{}, subsystems...), devices...),
		},
		{
			name:    "devices only",
			opts:    TriggerOptions{SkipSubsystems: true, Action: ActionChange},
			action:  "change",
			written: devices,
		},
		{
			name:    "subsystem match",
			opts:    TriggerOptions{SubsystemMatch: []string{"pci", "n?t"}},
			action:  "add",
			written: []string{"/devices/pci0000:00/0000:00:02.0", "/devices/pci0000:00/0000:00:02.0/net/eth0"},
		},
		{
			name:    "subsystem objects match their own subsystems",
			opts:    TriggerOptions{SubsystemMatch: []string{"drivers", "module"}},
			action:  "add",
			written: []string{"/bus/cpu/drivers/processor", "/bus/pci/drivers/e1000", "/module/e1000"},
		},
		{
			name:    "a gone device is skipped and reported",
			opts:    TriggerOptions{SkipSubsystems: true},
			fail:    map[string]error{"devices/virtual/misc/fuse/uevent": enodev},
			action:  "add",
			written: devices[:4],
			failed:  []string{"/devices/virtual/misc/fuse"},
		},
		{name: "unknown action", opts: TriggerOptions{Action: "frob"}, errMatch: `unknown action "frob"`},
		{
			// udevadm matches with fnmatch: '!' negates (path.Match
			// takes it for a literal '!' and would pick acpi, cpu and
			// misc instead).
			name:    "bracket negated with !",
			opts:    TriggerOptions{SkipSubsystems: true, SubsystemMatch: []string{"[!a-m]*"}},
			action:  "add",
			written: []string{"/devices/pci0000:00/0000:00:02.0", "/devices/pci0000:00/0000:00:02.0/net/eth0"},
		},
		{
			// No pattern is invalid to fnmatch: an unterminated '['
			// is a plain character, and no subsystem has one.
			name:    "unterminated bracket is a plain character",
			opts:    TriggerOptions{SkipSubsystems: true, SubsystemMatch: []string{"["}},
			action:  "add",
			written: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &fakeWriter{fail: tt.fail}
			res, err := trigger(context.Background(), guestSysfs(), w, tt.opts)
			if tt.errMatch != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errMatch) {
					t.Fatalf("trigger error = %v, want one containing %q", err, tt.errMatch)
				}
				if len(w.writes) != 0 {
					t.Errorf("wrote %d uevent files despite the error", len(w.writes))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !uuidRE.MatchString(res.UUID) {
				t.Errorf("UUID %q is not a version 4 UUID", res.UUID)
			}
			var want []string
			for _, p := range tt.written {
				want = append(want, strings.TrimPrefix(p, "/")+"/uevent: "+tt.action+" "+res.UUID)
			}
			if diff := cmp.Diff(want, w.writes); diff != "" {
				t.Errorf("writes mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.written, res.DevPaths); diff != "" {
				t.Errorf("DevPaths mismatch (-want +got):\n%s", diff)
			}
			var failed []string
			for _, f := range res.Failed {
				failed = append(failed, f.DevPath)
				if !errors.Is(f.Err, unix.ENODEV) {
					t.Errorf("failure %s: %v, want ENODEV", f.DevPath, f.Err)
				}
			}
			if diff := cmp.Diff(tt.failed, failed); diff != "" {
				t.Errorf("Failed mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTriggerCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w := &fakeWriter{}
	_, err := trigger(ctx, guestSysfs(), w, TriggerOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("trigger error = %v, want context.Canceled", err)
	}
	if len(w.writes) != 0 {
		t.Errorf("wrote %d uevent files after cancellation", len(w.writes))
	}
}

func TestTriggerUUIDsDiffer(t *testing.T) {
	a, b := newUUID(), newUUID()
	if a == b {
		t.Errorf("two UUIDs are both %s", a)
	}
}

// TestOSWriter writes into a temporary directory shaped like sysfs (never
// the real one).
func TestOSWriter(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "devices", "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "devices", "x", "uevent"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	w := osWriter{root: root}
	if err := w.writeUevent("devices/x/uevent", []byte("add 2d7c5ab2-1c1b-4a7e-9d43-3f0a7c6f1e55")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "devices", "x", "uevent"))
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "add 2d7c5ab2-1c1b-4a7e-9d43-3f0a7c6f1e55" {
		t.Errorf("uevent file holds %q", b)
	}
	if err := w.writeUevent("devices/gone/uevent", []byte("add")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("write to a missing device: %v, want ErrNotExist", err)
	}
}
