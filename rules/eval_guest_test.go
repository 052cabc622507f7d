package rules

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

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

// guestRules loads the rules udevd ran on the guest (Debian's installed
// rules.d, testdata/guest/rules.tar.gz) with the guest's users and groups.
func guestRules(t testing.TB) *Rules {
	t.Helper()
	fsys, err := sysfstest.Load(filepath.Join("testdata", "guest", "rules.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"passwd", "group"} {
		b, err := os.ReadFile(filepath.Join("testdata", "guest", "etc", f))
		if err != nil {
			t.Fatal(err)
		}
		fsys["etc/"+f] = &fstest.MapFile{Data: b, Mode: 0o644}
	}
	rs, diags := Load(fsys, &Options{Users: PasswdFiles{FS: fsys}})
	for _, d := range diags {
		t.Errorf("load the guest's rules: %v", d)
	}
	if len(rs.Files) < 30 {
		t.Fatalf("loaded only %v", rs.Files)
	}
	return rs
}

// guestCapture is one device of the guest: its devpath and what udevd's
// `udevadm test` printed for it.
type guestCapture struct {
	devpath string
	want    []Property
	runs    []string // udevadm test's "run: '…'" lines, the command
	node    string   // nodes.txt's "NODE OWNER GROUP MODE", "" for none
}

// runLines reads the RUN commands udevadm test printed.
func runLines(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var runs []string
	for _, l := range strings.Split(string(b), "\n") {
		if cmd, ok := strings.CutPrefix(l, "run: '"); ok {
			runs = append(runs, strings.TrimSuffix(cmd, "'"))
		}
	}
	return runs, nil
}

// guestNodes reads nodes.txt: devpath → "NODE OWNER GROUP MODE".
func guestNodes(t testing.TB) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "guest", "nodes.txt"))
	if err != nil {
		t.Fatal(err)
	}
	nodes := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		dev, rest, _ := strings.Cut(l, " ")
		nodes[dev] = rest
	}
	return nodes
}

// idNames maps the ids of the guest's etc/passwd or etc/group to names.
func idNames(t testing.TB, file string) map[uint32]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "guest", "etc", file))
	if err != nil {
		t.Fatal(err)
	}
	names := map[uint32]string{}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Split(l, ":")
		if len(f) < 3 {
			continue
		}
		if id, err := strconv.ParseUint(f[2], 10, 32); err == nil {
			names[uint32(id)] = f[0]
		}
	}
	return names
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
	nodes := guestNodes(t)
	caps := make([]guestCapture, 0, len(files))
	for _, f := range files {
		want, _, err := kvFile(f)
		if err != nil {
			t.Fatal(err)
		}
		runs, err := runLines(f)
		if err != nil {
			t.Fatal(err)
		}
		devpath := "/" + strings.ReplaceAll(strings.TrimSuffix(filepath.Base(f), ".txt"), "!", "/")
		caps = append(caps, guestCapture{devpath: devpath, want: want, runs: runs, node: nodes[devpath]})
	}
	return sysfs, guestRules(t), db, caps
}

// TestGuestConformance: for every device of the guest, the properties
// (links and tags among them), the RUN list, the node's owner, group and
// mode and a network interface's name, as udevd 252 computed them there.
func TestGuestConformance(t *testing.T) {
	sysfs, rs, db, caps := guestSetup(t)
	users, groups := idNames(t, "passwd"), idNames(t, "group")
	same := 0
	for _, c := range caps {
		diff := guestDiff(t, sysfs, rs, db, c, users, groups)
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

func guestDiff(t *testing.T, sysfs fs.FS, rs *Rules, db map[string]*DB, c guestCapture, users, groups map[uint32]string) string {
	h, dev, err := guestEvent(t, sysfs, db, c)
	if err != nil {
		return err.Error()
	}
	r, err := Eval(t.Context(), rs, dev, h)
	if err != nil {
		return err.Error()
	}
	var runs []string
	for _, run := range r.Run {
		runs = append(runs, run.Command)
	}
	diff := cmp.Diff(normalProps(c.want), normalProps(r.Properties))
	if d := cmp.Diff(c.runs, runs); d != "" {
		diff += "RUN list:\n" + d
	}
	if c.node != "" {
		node, _, _ := strings.Cut(c.node, " ")
		got := node + " " + permText(r.NodePermissions(dev), users, groups)
		if k, ok := notUdevds[c.devpath]; ok && c.node == k.node && got == k.ours {
			t.Logf("%s: %s, not udevd's %s: %s", c.devpath, c.node, k.ours, k.reason)
		} else if d := cmp.Diff(c.node, got); d != "" {
			diff += "node:\n" + d
		}
	}
	// A network interface has the name the rules gave it (the guest's
	// names are net_setup_link's; lo keeps the kernel's).
	if findProp(c.want, "INTERFACE") != "" {
		want := ""
		if findProp(c.want, "ID_NET_NAME") != "" {
			want = path.Base(c.devpath)
		}
		if r.Name != want {
			diff += fmt.Sprintf("NAME: udevd %q, gudevd %q\n", want, r.Name)
		}
	}
	return diff
}

// notUdevds are nodes whose permissions on the guest are another
// program's doing, each exactly as captured: node is nodes.txt's, ours
// what udevd (and gudevd) gave the node.
var notUdevds = map[string]struct{ node, ours, reason string }{
	"/devices/virtual/tty/console": {
		"/dev/console root tty 0620", "/dev/console root root 0600",
		"when a unit that writes to the console stops (bookworm's systemd-fsckd.service: StandardOutput=journal+console), " +
			"systemd's PID 1 gives its TTY, /dev/console by default, back as root:tty 0620 (exec_context_revert_tty, src/core/execute.c)",
	},
}

// permText is "OWNER GROUP MODE" as stat -c '%U %G %04a' prints the node
// udevd left: what the rules and the kernel asked for, devtmpfs's
// root:root 0600 for what neither did.
func permText(p NodePermissions, users, groups map[uint32]string) string {
	mode := uint32(0o600)
	if p.ModeSet {
		mode = p.Mode & 0o7777
	}
	return fmt.Sprintf("%s %s %04o", users[p.UID], groups[p.GID], mode)
}
