package main

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/gudevd/gudevd/cmd/gudevd/internal/rulehost"
	"github.com/gudevd/gudevd/rules"
	"github.com/gudevd/gudevd/rules/builtin"
	"github.com/gudevd/gudevd/uevent/devdb"
	"github.com/gudevd/gudevd/uevent/sysfstest"
)

// The guest conformance test of `gudevd test` prints, for each device of
// a 6.1 QEMU guest, what udevadm test --action=add printed there
// (rules/testdata/guest/test): systemd 252.39's rules
// (rules/testdata/eval/rules.d) over the guest's sysfs
// (rules/builtin/testdata/guest/sys.tar.gz) and database
// (rules/testdata/guest/export-db.txt, written back as /run/udev/data
// entries), through rulehost.Host and builtin.Env with the real builtins:
// bookworm's hwdb.bin, Debian's 99-default.link, blkid answering the
// guest's blkid -p output (blkid-raw). Only ata_id, a program, answers
// its keys of udevd's output.

const (
	guestTestDir    = "../../rules/testdata/guest"
	guestBuiltinDir = "../../rules/builtin/testdata/guest"
)

// guestCapture is one udevadm test (or test-builtin) run: its stdout
// lines without the trailing "exit=N" line, and that status.
type guestCapture struct {
	devpath string
	lines   []string
	exit    int
}

func readGuestCapture(t *testing.T, file string) guestCapture {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	c := guestCapture{devpath: "/" + strings.ReplaceAll(strings.TrimSuffix(filepath.Base(file), ".txt"), "!", "/")}
	last := lines[len(lines)-1]
	if st, ok := strings.CutPrefix(last, "exit="); ok {
		c.exit, _ = strconv.Atoi(st)
		lines = lines[:len(lines)-1]
	}
	c.lines = lines
	return c
}

func guestCaptureFile(dir, devpath string) string {
	return filepath.Join(dir, strings.ReplaceAll(strings.TrimPrefix(devpath, "/"), "/", "!")+".txt")
}

// exportEntry is one device of udevadm info --export-db.
type exportEntry struct {
	devpath, sysname, subsystem, devnum, ifindex string
	links                                        []string
	prio                                         int
	props                                        []rules.Property
}

func readExportDB(t *testing.T) []*exportEntry {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(guestTestDir, "export-db.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var out []*exportEntry
	var cur *exportEntry
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, ": ")
		if !ok {
			continue
		}
		if k == "P" {
			cur = &exportEntry{devpath: v}
			out = append(out, cur)
			continue
		}
		cur.set(k, v)
	}
	return out
}

func (x *exportEntry) set(k, v string) {
	switch k {
	case "M":
		x.sysname = v
	case "U":
		x.subsystem = v
	case "D":
		x.devnum = strings.Replace(v, " ", "", 1)
	case "I":
		x.ifindex = v
	case "S":
		x.links = append(x.links, v)
	case "L":
		x.prio, _ = strconv.Atoi(v)
	case "E":
		key, val, _ := strings.Cut(v, "=")
		x.props = append(x.props, rules.Property{Key: key, Value: val})
	}
}

func (x *exportEntry) id() string {
	switch {
	case x.devnum != "":
		return x.devnum
	case x.ifindex != "":
		return "n" + x.ifindex
	}
	return "+" + x.subsystem + ":" + x.sysname
}

// dbEntry is the /run/udev/data file the export came from: the properties
// the kernel's uevent file does not have, USEC_INITIALIZED as I:, the tags
// as G: and Q:.
func (x *exportEntry) dbEntry(sysfs fs.FS) devdb.Entry {
	uevent, _ := fs.ReadFile(sysfs, strings.TrimPrefix(x.devpath, "/")+"/uevent")
	kernel := map[string]bool{}
	for l := range strings.Lines(string(uevent)) {
		k, _, _ := strings.Cut(l, "=")
		kernel[k] = true
	}
	e := devdb.Entry{Version: devdb.LatestVersion}
	e.LinkPriority = x.prio
	for _, l := range x.links {
		e.Devlinks = append(e.Devlinks, "/dev/"+l)
	}
	for _, p := range x.props {
		switch p.Key {
		case "USEC_INITIALIZED":
			e.Usec, _ = strconv.ParseUint(p.Value, 10, 64)
		case "TAGS":
			e.Tags = tagList(p.Value)
		case "CURRENT_TAGS":
			e.CurrentTags = tagList(p.Value)
		case "DEVPATH", "SUBSYSTEM", "DEVNAME", "DEVLINKS", "MAJOR", "MINOR", "DEVTYPE", "DRIVER", "IFINDEX", "INTERFACE":
		default:
			if !kernel[p.Key] {
				e.Props = append(e.Props, devdb.Property{Key: p.Key, Value: p.Value})
			}
		}
	}
	return e
}

func tagList(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ':' })
}

// guestRoot is the guest's / as the Host reads it: the rules, the
// database, users and groups, the default .link file.
func guestRoot(t *testing.T, sysfs fs.FS, db []*exportEntry) fstest.MapFS {
	t.Helper()
	root := fstest.MapFS{}
	add := func(name, src string) {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		root[name] = &fstest.MapFile{Data: data, Mode: 0o644}
	}
	// The rules udevd ran on the guest, with its users and groups.
	rulesFS, err := sysfstest.Load(filepath.Join(guestTestDir, "rules.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	maps.Copy(root, rulesFS)
	add("etc/passwd", filepath.Join(guestTestDir, "etc", "passwd"))
	add("etc/group", filepath.Join(guestTestDir, "etc", "group"))
	add("usr/lib/systemd/network/99-default.link", "../../rules/builtin/testdata/link/99-default.link")
	root["proc/cmdline"] = &fstest.MapFile{Data: []byte("console=ttyS0 root=/dev/vda\n")}
	for _, x := range db {
		root["run/udev/data/"+x.id()] = &fstest.MapFile{Data: devdb.Format(x.dbEntry(sysfs)), Mode: 0o644}
	}
	return root
}

// guestPrograms answers the programs the rules run: ata_id with udevd's
// own keys for that disk, nothing else.
type guestPrograms map[string]string

func (g guestPrograms) Program(_ context.Context, argv, _ []string) ([]byte, error) {
	if out, ok := g[strings.Join(argv, " ")]; ok {
		return []byte(out), nil
	}
	return nil, fmt.Errorf("run %q: not on the guest: %w", argv, rules.ErrProgramFailed)
}

// guestBlkid answers blkid -p from the guest's captures, by node.
func guestBlkid(t *testing.T, db []*exportEntry) builtin.BlkidProbe {
	nodes := map[string]string{}
	for _, x := range db {
		for _, p := range x.props {
			if p.Key == "DEVNAME" {
				nodes[p.Value] = x.devpath
			}
		}
	}
	return func(_ context.Context, req builtin.BlkidRequest) ([]builtin.Prop, error) {
		b, err := os.ReadFile(guestCaptureFile(filepath.Join(guestBuiltinDir, "blkid-raw"), nodes[req.Node]))
		switch {
		case err != nil && req.Node == "/dev/tty":
			// udevadm has no controlling terminal: the open fails
			// with ENXIO, which udevd takes for a vanished device.
			return nil, fmt.Errorf("open %s: %w", req.Node, syscall.ENXIO)
		case err != nil:
			return nil, nil // another character device: it opens
		}
		i := bytes.LastIndex(b, []byte("exit="))
		code, _ := strconv.Atoi(strings.TrimSpace(string(b[i+len("exit="):])))
		return builtin.BlkidResult(b[:i], nil, code)
	}
}

// guestEnv is builtin.Env as on the guest: the whole hwdb.bin of
// bookworm (testdata/hwdb/regen.sh's cache), naming scheme v252, the
// default .link file; keyboard's remaps and kmod's loads are not done.
func guestEnv(t *testing.T, root fs.FS, db []*exportEntry) *builtin.Env {
	t.Helper()
	dir := os.Getenv("GUDEVD_HWDB_CACHE")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".cache/gudevd/hwdb")
	}
	hw, err := builtin.OpenHWDB(filepath.Join(dir, "full/lib/udev/hwdb.bin"))
	if err != nil {
		t.Skipf("no bookworm hwdb.bin (make test builds it): %v", err)
	}
	t.Cleanup(func() { hw.Close() })
	configs, err := builtin.LoadLinkConfigs(t.Context(), root, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &builtin.Env{
		HWDB: hw, Scheme: builtin.DefaultNamingScheme(), Blkid: guestBlkid(t, db),
		Link:   builtin.LinkSetup{Configs: configs, NamePolicy: true},
		Kmod:   func(context.Context, []string) error { return nil },
		RunDir: fstest.MapFS{},
	}
}

// guestSystem is the guest's captured system as the commands see it.
type guestSystem struct {
	host        *rulehost.Host
	env         *builtin.Env
	sysfs, root fs.FS
}

// guestHost is a rulehost.Host over the guest's captured system.
func guestHost(t *testing.T) guestSystem {
	t.Helper()
	sysfs, err := sysfstest.Load(filepath.Join(guestBuiltinDir, "sys.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	db := readExportDB(t)
	root := guestRoot(t, sysfs, db)
	progs := guestPrograms{}
	for _, x := range db {
		progs.addATA(x)
	}
	env := guestEnv(t, root, db)
	h := rulehost.New(rulehost.Config{Sysfs: sysfs, Root: root, Programs: progs, Builtins: env, Machine: "x86_64"})
	return guestSystem{host: h, env: env, sysfs: sysfs, root: root}
}

// addATA answers ata_id for a disk with what the database holds of it.
func (g guestPrograms) addATA(x *exportEntry) {
	var out strings.Builder
	node := ""
	for _, p := range x.props {
		switch {
		case p.Key == "DEVNAME":
			node = p.Value
		case p.Key == "ID_ATA" || strings.HasPrefix(p.Key, "ID_ATA_") || slices.Contains([]string{"ID_TYPE", "ID_BUS", "ID_MODEL", "ID_MODEL_ENC", "ID_REVISION", "ID_SERIAL", "ID_SERIAL_SHORT"}, p.Key):
			fmt.Fprintf(&out, "%s=%s\n", p.Key, p.Value)
		}
	}
	if node != "" && strings.Contains(out.String(), "ID_ATA=") {
		g["/lib/udev/ata_id --export "+node] = out.String()
	}
}

// normalTest makes udevadm test's lines comparable: DEVLINKS and the tags
// sorted, as udevd keeps them in hash sets whose order differs per run;
// with clock, USEC_INITIALIZED's value dropped, as it was the time of the
// run for a device whose database entry had none.
func normalTest(lines []string, clock bool) []string {
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		k, v, _ := strings.Cut(l, "=")
		switch k {
		case "DEVLINKS":
			f := strings.Fields(v)
			slices.Sort(f)
			l = k + "=" + strings.Join(f, " ")
		case "TAGS", "CURRENT_TAGS":
			f := tagList(v)
			slices.Sort(f)
			l = k + "=:" + strings.Join(f, ":") + ":"
		case "USEC_INITIALIZED":
			if clock {
				l = k + "=(the time of the run)"
			}
		}
		out = append(out, l)
	}
	return out
}

func TestGuestTest(t *testing.T) {
	g := guestHost(t)
	h, sysfs, root := g.host, g.sysfs, g.root
	clock := map[string]bool{}
	for _, x := range readExportDB(t) {
		clock[x.devpath] = !slices.ContainsFunc(x.props, func(p rules.Property) bool { return p.Key == "USEC_INITIALIZED" })
	}
	rs, diags := rules.Load(root, &rules.Options{Users: rules.PasswdFiles{FS: root}})
	for _, d := range diags {
		if d.Severity == rules.Error {
			t.Errorf("load: %v", d)
		}
	}
	caps, err := filepath.Glob(filepath.Join(guestTestDir, "test", "*.txt"))
	if err != nil || len(caps) == 0 {
		t.Fatalf("no captures: %v", err)
	}
	same := 0
	for _, f := range caps {
		c := readGuestCapture(t, f)
		var diag bytes.Buffer
		out, err := testEvent(t.Context(), h, sysfs, rs, c.devpath, "add", &diag)
		if err != nil {
			t.Errorf("%s: %v", c.devpath, err)
			continue
		}
		got := strings.Split(strings.TrimSuffix(testHeader+out, "\n"), "\n")
		if diff := cmp.Diff(normalTest(c.lines, clock[c.devpath]), normalTest(got, clock[c.devpath])); diff != "" {
			t.Errorf("%s (-udevadm +gudevd):\n%s%s", c.devpath, diff, diag.String())
			continue
		}
		same++
	}
	t.Logf("%d of %d devices as udevadm test 252", same, len(caps))
}

// TestGuestRun: `gudevd test` run on the guest itself, right after each
// `udevadm test` (the capture's gudevd-test/), on the real sysfs with the
// real hwdb, blkid, ata_id and the rest of the programs, printed what
// udevadm test printed, device by device.
func TestGuestRun(t *testing.T) {
	caps, err := filepath.Glob(filepath.Join(guestTestDir, "test", "*.txt"))
	if err != nil || len(caps) == 0 {
		t.Fatalf("no captures: %v", err)
	}
	same := 0
	for _, f := range caps {
		want := readGuestCapture(t, f)
		got := readGuestCapture(t, filepath.Join(guestTestDir, "gudevd-test", filepath.Base(f)))
		// Both runs stamp USEC_INITIALIZED with the time of the run for
		// a device without one.
		if diff := cmp.Diff(normalTest(want.lines, true), normalTest(got.lines, true)); diff != "" || want.exit != got.exit {
			t.Errorf("%s (-udevadm +gudevd), exit %d and %d:\n%s", want.devpath, want.exit, got.exit, diff)
			continue
		}
		same++
	}
	t.Logf("%d of %d devices as udevadm test 252 on the guest", same, len(caps))
}

// TestTestCommand runs `gudevd test` and `gudevd test-builtin` end to
// end on a small tree on disk: rules read from --root, the device from its
// sys, the database entry's timestamp kept; nothing is written below
// --root.
func TestTestCommand(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"usr/lib/udev/rules.d/50-test.rules":         `KERNEL=="null", SYMLINK+="nullish", TAG+="t", ENV{FOO}="bar", RUN+="/bin/echo $kernel"` + "\n",
		"sys/devices/virtual/mem/null/uevent":        "MAJOR=1\nMINOR=3\nDEVNAME=null\nDEVMODE=0666\n",
		"sys/devices/pci0000:00/0000:00:05.0/uevent": "PCI_SLOT_NAME=0000:00:05.0\n",
		"run/udev/data/c1:3":                         "I:5\nV:1\n",
	})
	for name, target := range map[string]string{
		"sys/devices/virtual/mem/null/subsystem":        "../../../../class/mem",
		"sys/devices/pci0000:00/0000:00:05.0/subsystem": "../../../bus/pci",
	} {
		if err := os.MkdirAll(filepath.Join(root, filepath.Dir(target)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	writeTree(t, root, map[string]string{"sys/class/mem/.keep": "", "sys/bus/pci/.keep": ""})
	before := treeListing(t, root)
	tests := []struct {
		name   string
		args   []string
		exit   int
		stdout string
	}{
		{
			name: "test", args: []string{"test", "--root", root, "/devices/virtual/mem/null"},
			stdout: testHeader + "DEVPATH=/devices/virtual/mem/null\nDEVNAME=/dev/null\nDEVMODE=0666\nMAJOR=1\nMINOR=3\nACTION=add\nSUBSYSTEM=mem\n" +
				// The order after SUBSYSTEM is the evaluator's, which its
				// own conformance tests hold to udevd's.
				"TAGS=:t:\nCURRENT_TAGS=:t:\nFOO=bar\nDEVLINKS=/dev/nullish\nUSEC_INITIALIZED=5\nrun: '/bin/echo null'\n",
		},
		{name: "test with /sys", args: []string{"test", "--root", root, "--action", "change", "/sys/devices/virtual/mem/null"}, stdout: ""},
		{name: "test of no device", args: []string{"test", "--root", root, "/devices/none"}, exit: 1, stdout: testHeader},
		{name: "test-builtin path_id", args: []string{"test-builtin", "--root", root, "path_id", "/devices/pci0000:00/0000:00:05.0"},
			stdout: "ID_PATH=pci-0000:00:05.0\nID_PATH_TAG=pci-0000_00_05_0\n"},
		{name: "test-builtin failing", args: []string{"test-builtin", "--root", root, "path_id", "/devices/virtual/mem/null"}, exit: 1},
		{name: "test-builtin unknown", args: []string{"test-builtin", "--root", root, "ata_id", "/devices/virtual/mem/null"}, exit: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			e := &env{stdout: &stdout, stderr: &stderr, log: slog.New(slog.DiscardHandler), getenv: func(string) string { return "" }}
			if got := run(t.Context(), append([]string{"gudevd"}, tt.args...), e); got != tt.exit {
				t.Fatalf("exit %d, want %d; stderr:\n%s", got, tt.exit, stderr.String())
			}
			if tt.stdout == "" {
				return
			}
			if diff := cmp.Diff(tt.stdout, stdout.String()); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
		})
	}
	if diff := cmp.Diff(before, treeListing(t, root)); diff != "" {
		t.Errorf("the tree changed (-before +after):\n%s", diff)
	}
}

// treeListing is every path below root with its size.
func treeListing(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, fmt.Sprintf("%s %d", p, fi.Size()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSyspathOf(t *testing.T) {
	tests := []struct{ arg, want string }{
		{"/devices/virtual/mem/null", "/sys/devices/virtual/mem/null"},
		{"devices/virtual/mem/null", "/sys/devices/virtual/mem/null"},
		{"/sys/devices/virtual/mem/null", "/sys/devices/virtual/mem/null"},
		{"/sys/class/net/lo/", "/sys/class/net/lo"},
		{"/system/x", "/sys/system/x"},
	}
	for _, tt := range tests {
		t.Run(tt.arg, func(t *testing.T) {
			if got := syspathOf(tt.arg); got != tt.want {
				t.Errorf("syspathOf(%q) = %q, want %q", tt.arg, got, tt.want)
			}
		})
	}
}

func TestCmdlineValue(t *testing.T) {
	str := func(s string) *string { return &s }
	tests := []struct {
		name, cmdline, key string
		want               *string
	}{
		{name: "absent", cmdline: "root=/dev/vda quiet", key: "net.ifnames"},
		{name: "present", cmdline: "root=/dev/vda net.ifnames=0", key: "net.ifnames", want: str("0")},
		{name: "the last wins", cmdline: "net.naming-scheme=v240 net.naming-scheme=v251", key: "net.naming-scheme", want: str("v251")},
		{name: "empty value", cmdline: "net.naming-scheme=", key: "net.naming-scheme", want: str("")},
		{name: "a longer key is another", cmdline: "net.ifnames2=1", key: "net.ifnames"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, cmdlineValue(tt.cmdline, tt.key)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
