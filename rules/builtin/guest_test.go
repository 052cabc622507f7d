package builtin

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gudevd/gudevd/uevent/sysfstest"
)

// guestBuiltins are the builtins compared with systemd-udevd 252 on the
// guest: testdata/guest holds `udevadm test-builtin NAME` for every
// device of a 6.1 QEMU guest with a node or an interface, and its sysfs
// (`qemu-harness capture -only udev`, see testdata/guest/README).
func guestBuiltins(t *testing.T) map[string]func(context.Context, *Device) ([]Prop, error) {
	return map[string]func(context.Context, *Device) ([]Prop, error){
		"path_id": func(ctx context.Context, d *Device) ([]Prop, error) { return PathID(ctx, d, []string{"path_id"}) },
		"usb_id":  func(ctx context.Context, d *Device) ([]Prop, error) { return USBID(ctx, d, []string{"usb_id"}) },
		// The guest's tablet and keyboard report no resolution, so udevd
		// added no ID_INPUT_WIDTH_MM there either (InputIDWith).
		"input_id": func(ctx context.Context, d *Device) ([]Prop, error) { return InputID(ctx, d, []string{"input_id"}) },
		"net_id": func(ctx context.Context, d *Device) ([]Prop, error) {
			// The guest's hwdb answers the OUI lookup; without one net_id
			// adds nothing for it, and QEMU's 52:54:00 is in no database.
			return NetID(ctx, d, []string{"net_id"}, DefaultNamingScheme(), nil)
		},
	}
}

// guestCase is one captured `udevadm test-builtin` run.
type guestCase struct {
	devpath string // "/devices/..."
	props   []Prop
	failed  bool // udevadm exited non-zero: the builtin failed
}

// readGuestCases reads testdata/guest/NAME/*.txt: KEY=VALUE lines as
// test-builtin prints them, then "exit=N".
func readGuestCases(t *testing.T, name string) []guestCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "guest", name, "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no captured %s runs in testdata/guest/%s: %v", name, name, err)
	}
	var out []guestCase
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		c := guestCase{devpath: "/" + strings.ReplaceAll(strings.TrimSuffix(filepath.Base(f), ".txt"), "!", "/")}
		for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
			if st, ok := strings.CutPrefix(l, "exit="); ok {
				c.failed = st != "0"
				continue
			}
			k, v, _ := strings.Cut(l, "=")
			c.props = append(c.props, Prop{Key: k, Value: v})
		}
		out = append(out, c)
	}
	return out
}

// TestGuestConformance runs each builtin for every captured device and
// compares with what udevd's printed: the same properties in the same
// order, and a failure where udevd's failed.
func TestGuestConformance(t *testing.T) {
	sysfs, err := sysfstest.Load(filepath.Join("testdata", "guest", "sys.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	db := readExportDB(t)
	builtins := guestBuiltins(t)
	if !testing.Short() {
		// The guest's hwdb is bookworm's whole database, which
		// testdata/hwdb/regen.sh keeps in its cache (make test runs it).
		hw := openTestHWDB(t, filepath.Join(hwdbCacheDir(t), "full/lib/udev/hwdb.bin"))
		builtins["hwdb"] = func(ctx context.Context, d *Device) ([]Prop, error) { return Hwdb(ctx, hw, d, []string{"hwdb"}) }
	}
	for name, run := range builtins {
		t.Run(name, func(t *testing.T) {
			same := 0
			cases := readGuestCases(t, name)
			for _, c := range cases {
				dev, err := guestDevice(sysfs, db, c.devpath)
				if err != nil {
					t.Errorf("%s: %v", c.devpath, err)
					continue
				}
				got, err := run(t.Context(), dev)
				if msg := guestDiff(c, got, err); msg != "" {
					t.Errorf("%s %s: %s", name, c.devpath, msg)
					continue
				}
				same++
			}
			t.Logf("%s: %d of %d devices as udevd 252", name, same, len(cases))
		})
	}
}

// guestDevice is the device test-builtin made from the syspath: sd-device
// reads its uevent file and its database entry, so the builtin sees the
// properties the coldplug's rules set (usb_id sets ID_VENDOR and the rest
// only where no ID_BUS is set yet). Those are the E: lines of the guest's
// `udevadm info --export-db`.
func guestDevice(sysfs fs.FS, db map[string]map[string]string, devpath string) (*Device, error) {
	d := &Device{Sysfs: sysfs, Syspath: strings.TrimPrefix(devpath, "/")}
	sys, err := d.Sys()
	if err != nil {
		return nil, err
	}
	d.Props = sys.Uevent()
	for k, v := range db[devpath] {
		d.Props[k] = v
	}
	return d, nil
}

// readExportDB reads the E: properties of every device of the guest's
// `udevadm info --export-db` (../testdata/guest/export-db.txt), by devpath.
func readExportDB(t *testing.T) map[string]map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "guest", "export-db.txt"))
	if err != nil {
		t.Fatal(err)
	}
	db := map[string]map[string]string{}
	var cur map[string]string
	for _, l := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(l, "P: "); ok {
			cur = map[string]string{}
			db[p] = cur
		} else if kv, ok := strings.CutPrefix(l, "E: "); ok && cur != nil {
			k, v, _ := strings.Cut(kv, "=")
			cur[k] = v
		}
	}
	return db
}

// guestDiff says how a run differs from udevd's, "" when it does not.
func guestDiff(c guestCase, got []Prop, err error) string {
	switch {
	case c.failed && err == nil:
		return fmt.Sprintf("udevd's builtin failed, ours gave %v", got)
	case !c.failed && err != nil:
		return fmt.Sprintf("ours failed (%v), udevd's gave %v", err, c.props)
	}
	if diff := cmp.Diff(c.props, got); diff != "" {
		return "properties (-udevd +ours):\n" + diff
	}
	return ""
}
