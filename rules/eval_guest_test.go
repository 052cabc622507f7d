package rules

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gudevd/gudevd/rules/builtin"
	"github.com/gudevd/gudevd/uevent/sysfstest"
)

// The guest conformance test evaluates systemd 252.39's rules
// (testdata/eval/rules.d) for the devices of a 6.1 QEMU guest and
// compares with what `udevadm test --action=add` of Debian's udevd 252
// printed there (testdata/guest/test). The builtins answer what
// `udevadm test-builtin` printed on the same guest
// (builtin/testdata/guest), but usb_id, which is rules/builtin's; ata_id
// and net_setup_link, which have no capture of their own, answer their
// keys of udevd's output.

// guestDB reads testdata/guest/export-db.txt: every device's E: lines.
func guestDB(t testing.TB) map[string][]Property {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "guest", "export-db.txt"))
	if err != nil {
		t.Fatal(err)
	}
	db := map[string][]Property{}
	cur := ""
	for _, l := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(l, "P: "); ok {
			cur = p
		} else if kv, ok := strings.CutPrefix(l, "E: "); ok {
			k, v, _ := strings.Cut(kv, "=")
			db[cur] = append(db[cur], Property{k, v})
		}
	}
	return db
}

// kvFile reads KEY=VALUE lines and the "exit=N" line of a capture.
func kvFile(path string) (props []Property, exit string, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", err
	}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, "=")
		switch {
		case !ok || strings.ContainsAny(k, " '"):
		case k == "exit":
			exit = v
		default:
			props = append(props, Property{k, v})
		}
	}
	return props, exit, nil
}

// dbEntry turns a device's exported properties into its database entry:
// the tags from TAGS and CURRENT_TAGS, the rest as E: lines.
func dbEntry(props []Property) *DB {
	db := &DB{}
	for _, p := range props {
		switch p.Key {
		case "TAGS":
			db.Tags = strings.FieldsFunc(p.Value, func(r rune) bool { return r == ':' })
		case "CURRENT_TAGS":
			db.CurrentTags = strings.FieldsFunc(p.Value, func(r rune) bool { return r == ':' })
		case "DEVLINKS":
			db.Devlinks = strings.Fields(p.Value)
		case "DEVPATH", "SUBSYSTEM", "DEVNAME", "DEVTYPE", "MAJOR", "MINOR", "USEC_INITIALIZED", "DRIVER", "IFINDEX", "INTERFACE":
		default:
			db.Props = append(db.Props, p)
		}
	}
	return db
}

func guestFile(devpath string) string {
	return strings.ReplaceAll(strings.TrimPrefix(devpath, "/"), "/", "!") + ".txt"
}

// guestHost answers for the device at devpath, whose udevadm test output
// is want.
func guestHost(t testing.TB, h *FakeHost, devpath string, want []Property) {
	keys := func(prefixes ...string) []Property {
		var out []Property
		for _, p := range want {
			for _, pre := range prefixes {
				if strings.HasPrefix(p.Key, pre) {
					out = append(out, p)
					break
				}
			}
		}
		return out
	}
	for _, name := range []string{"blkid", "hwdb", "input_id", "net_id", "path_id", "usb_id"} {
		props, exit, err := kvFile(filepath.Join("builtin", "testdata", "guest", name, guestFile(devpath)))
		h.Builtins[name] = func(argv []string, _ []Property) ([]Property, error) {
			switch {
			case err != nil || exit != "0":
				return nil, fmt.Errorf("%s failed on the guest: %w", name, ErrFakeMissing)
			case name == "hwdb" && (len(argv) > 2 || len(argv) == 2 && !strings.HasPrefix(argv[1], "--subsystem=")):
				// test-builtin looked up the modalias only; a
				// prefix or an explicit key finds nothing here.
				return nil, fmt.Errorf("hwdb lookup %q not captured: %w", argv[1:], ErrFakeMissing)
			}
			return props, nil
		}
	}
	// usb_id's capture ran with the coldplug's database, whose ID_BUS
	// made it skip its ID_VENDOR and the rest; the real one runs here.
	h.Builtins["usb_id"] = func(argv []string, props []Property) ([]Property, error) {
		d := &builtin.Device{Sysfs: h.Sysfs, Syspath: strings.TrimPrefix(devpath, "/"), Props: map[string]string{}}
		for _, p := range props {
			d.Props[p.Key] = p.Value
		}
		got, err := builtin.USBID(t.Context(), d, argv)
		var out []Property
		for _, p := range got {
			out = append(out, Property{p.Key, p.Value})
		}
		return out, err
	}
	for _, name := range []string{"keyboard", "btrfs", "kmod", "uaccess"} {
		h.Builtins[name] = func([]string, []Property) ([]Property, error) { return nil, nil }
	}
	h.Builtins["net_setup_link"] = func([]string, []Property) ([]Property, error) {
		return keys("ID_NET_LINK_FILE", "ID_NET_NAME", "ID_NET_DRIVER"), nil
	}
	var ata strings.Builder
	for _, p := range keys("ID_ATA", "ID_TYPE", "ID_BUS", "ID_MODEL", "ID_REVISION", "ID_SERIAL") {
		fmt.Fprintf(&ata, "%s=%s\n", p.Key, p.Value)
	}
	h.Programs["/lib/udev/ata_id --export /dev/"+strings.TrimPrefix(findProp(want, "DEVNAME"), "/dev/")] = FakeProgram{Stdout: ata.String()}
}

func findProp(ps []Property, key string) string {
	for _, p := range ps {
		if p.Key == key {
			return p.Value
		}
	}
	return ""
}

// normalProps makes a property list comparable: a map, links and tags
// sorted (udevd keeps them in hash sets), USEC_INITIALIZED dropped (the
// database's, not the rules').
func normalProps(ps []Property) map[string]string {
	m := map[string]string{}
	for _, p := range ps {
		v := p.Value
		switch p.Key {
		case "USEC_INITIALIZED":
			continue
		case "DEVLINKS":
			f := strings.Fields(v)
			sort.Strings(f)
			v = strings.Join(f, " ")
		case "TAGS", "CURRENT_TAGS":
			f := strings.FieldsFunc(v, func(r rune) bool { return r == ':' })
			sort.Strings(f)
			v = ":" + strings.Join(f, ":") + ":"
		}
		m[p.Key] = v
	}
	return m
}

func guestRules(t testing.TB) *Rules {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "eval", "rules.d", "*.rules"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	sort.Strings(names)
	return debianRules(t, names...)
}

// guestCapture is one device of the guest: its devpath and what udevd's
// `udevadm test` printed for it.
type guestCapture struct {
	devpath string
	want    []Property
}

// guestSetup is what the guest test and BenchmarkEvalGuest share: the
// captured sysfs, systemd 252.39's rules, the database's entries and
// every device's capture.
func guestSetup(t testing.TB) (fs.FS, *Rules, map[string]*DB, []guestCapture) {
	t.Helper()
	sysfs, err := sysfstest.Load(filepath.Join("builtin", "testdata", "guest", "sys.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	db := map[string]*DB{}
	for p, props := range guestDB(t) {
		db["/sys"+p] = dbEntry(props)
	}
	files, err := filepath.Glob(filepath.Join("testdata", "guest", "test", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no captures: %v", err)
	}
	caps := make([]guestCapture, 0, len(files))
	for _, f := range files {
		want, _, err := kvFile(f)
		if err != nil {
			t.Fatal(err)
		}
		devpath := "/" + strings.ReplaceAll(strings.TrimSuffix(filepath.Base(f), ".txt"), "!", "/")
		caps = append(caps, guestCapture{devpath, want})
	}
	return sysfs, guestRules(t), db, caps
}

func TestGuestConformance(t *testing.T) {
	sysfs, rs, db, caps := guestSetup(t)
	same := 0
	for _, c := range caps {
		diff := guestDiff(t, sysfs, rs, db, c)
		if diff == "" {
			same++
			continue
		}
		t.Errorf("%s (-udevd +gudevd):\n%s", c.devpath, diff)
	}
	t.Logf("%d of %d devices as udevd 252", same, len(caps))
}

// guestEvent is the add event of a captured device and the fake Host
// answering for it as the guest did.
func guestEvent(t testing.TB, sysfs fs.FS, db map[string]*DB, c guestCapture) (*FakeHost, *Device, error) {
	h := newTestHost()
	h.Sysfs = sysfs
	h.DB = db
	guestHost(t, h, c.devpath, c.want)
	dev, err := DeviceFromFS(sysfs, "/sys"+c.devpath)
	if err != nil {
		return nil, nil, err
	}
	dev.Action = "add"
	dev.Props = append(dev.Props, Property{"ACTION", "add"})
	dev.DB = db["/sys"+c.devpath]
	return h, dev, nil
}

func guestDiff(t *testing.T, sysfs fs.FS, rs *Rules, db map[string]*DB, c guestCapture) string {
	h, dev, err := guestEvent(t, sysfs, db, c)
	if err != nil {
		return err.Error()
	}
	r, err := Eval(t.Context(), rs, dev, h)
	if err != nil {
		return err.Error()
	}
	return cmp.Diff(normalProps(c.want), normalProps(r.Properties))
}
