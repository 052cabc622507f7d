package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/gudevd/gudevd/rules"
	"github.com/gudevd/gudevd/rules/builtin"
	"github.com/gudevd/gudevd/uevent/devdb"
)

// `gudevd info` prints what `udevadm info` 252 prints (udevadm-info.c),
// from sysfs and udevd's database read through uevent/devdb. sd-device
// loads a device lazily: the uevent file, the database and the driver link
// are read when first asked for, and each adds its properties to one
// ordered list then. The order of the E: lines therefore depends on the
// order udevadm asks in, and sdDevice below asks in the same order: for a
// syspath SUBSYSTEM comes right after DEVPATH when the subsystem is asked
// for first (query all, export-db) and after the uevent file's keys when
// the database read asks for it (query property); for a device node it
// comes after MAJOR and MINOR, which sd-device compares first.

// infoArgs are udevadm info's options; root is gudevd's own.
type infoArgs struct {
	query                  string
	devices                []string
	walk, exportDB, devDir bool
	export, value          bool
	prefix                 string
	properties             []string
	root                   string
}

func cmdInfo(_ context.Context, e *env, args []string) error {
	a, err := parseInfoArgs(e, args)
	if err != nil {
		return err
	}
	in := newInfo(a.root, e.stdout)
	if a.exportDB {
		return in.exportDB()
	}
	failed := false
	for _, d := range a.devices {
		dev, err := in.find(d)
		if err != nil {
			fmt.Fprintf(e.stderr, "gudevd info: unknown device %q: %v\n", d, err)
			failed = true
			continue
		}
		if err := in.show(dev, a); err != nil {
			return err
		}
	}
	if failed {
		return errQuietFailure
	}
	return nil
}

// parseInfoArgs reads the options; like getopt, it takes options after
// device arguments too. --name and --path may repeat and keep their order
// with the device arguments.
func parseInfoArgs(e *env, args []string) (infoArgs, error) {
	var a infoArgs
	fl := newFlags(e, "info")
	fl.StringVar(&a.query, "query", "all", "what to print: `all`, property, name, symlink or path")
	fl.StringVar(&a.query, "q", "all", "short for --query")
	devFlag := func(prefix string) func(string) error {
		return func(s string) error { a.devices = append(a.devices, prefixed(prefix, s)); return nil }
	}
	for _, n := range []string{"name", "n"} {
		fl.Func(n, "a device `NODE` or link (/dev/sda or sda)", devFlag("/dev/"))
	}
	for _, n := range []string{"path", "p"} {
		fl.Func(n, "a `DEVPATH` (with or without /sys)", devFlag("/sys/"))
	}
	fl.BoolVar(&a.walk, "attribute-walk", false, "print the device's and its parents' attributes as rule keys")
	fl.BoolVar(&a.walk, "a", false, "short for --attribute-walk")
	fl.BoolVar(&a.exportDB, "export-db", false, "print every device with its database entry")
	fl.BoolVar(&a.exportDB, "e", false, "short for --export-db")
	fl.BoolVar(&a.export, "export", false, "print properties as KEY='VALUE'")
	fl.BoolVar(&a.export, "x", false, "short for --export")
	for _, n := range []string{"export-prefix", "P"} {
		fl.Func(n, "print properties as `PREFIX`KEY='VALUE'", func(s string) error { a.export, a.prefix = true, s; return nil })
	}
	fl.Func("property", "print only these `NAME[,NAME...]` properties", func(s string) error {
		a.properties = append(a.properties, strings.FieldsFunc(s, func(r rune) bool { return r == ',' })...)
		if a.properties == nil {
			a.properties = []string{}
		}
		return nil
	})
	fl.BoolVar(&a.value, "value", false, "print only the properties' values")
	fl.BoolVar(&a.devDir, "r", false, "print node and link names with /dev/ (udevadm's --root)")
	fl.StringVar(&a.root, "root", "/", "the system's root `DIR`: sysfs at DIR/sys, the database at DIR/run/udev, nodes at DIR/dev")
	fl.Usage = func() {
		fmt.Fprintln(fl.Output(), "usage: gudevd info [OPTIONS] [DEVPATH|FILE...]")
		fl.PrintDefaults()
	}
	for {
		if err := parseFlags(fl, args); err != nil {
			return infoArgs{}, err
		}
		if fl.NArg() == 0 {
			break
		}
		a.devices, args = append(a.devices, fl.Arg(0)), fl.Args()[1:]
	}
	return a, checkInfoArgs(fl, a)
}

func checkInfoArgs(fl *flag.FlagSet, a infoArgs) error {
	var msg string
	switch {
	case a.exportDB:
		return nil
	case !slices.Contains([]string{"all", "property", "env", "name", "symlink", "path"}, a.query):
		msg = "unknown query type"
	case len(a.devices) == 0:
		msg = "a device name or path is required"
	case a.walk && len(a.devices) > 1:
		msg = "only one device may be specified with -a/--attribute-walk"
	case a.export && a.value:
		msg = "-x/--export or -P/--export-prefix cannot be used with --value"
	default:
		return nil
	}
	fmt.Fprintln(fl.Output(), "gudevd info: "+msg)
	return errUsage
}

// prefixed is what udevadm makes of --name sda and --path /devices/...:
// the prefix is added unless the argument has it already.
func prefixed(prefix, s string) string {
	if s == strings.TrimSuffix(prefix, "/") || strings.HasPrefix(path.Clean(s), prefix) {
		return s
	}
	return path.Join(prefix, s)
}

// info reads one system: sysfs, the database, /dev.
type info struct {
	root  string
	sysfs fs.FS
	db    *devdb.Store
	out   *bufio.Writer
	dest  io.Writer
}

func newInfo(root string, out io.Writer) *info {
	return &info{
		root:  root,
		sysfs: os.DirFS(filepath.Join(root, "sys")),
		db:    &devdb.Store{Dir: filepath.Join(root, "run/udev")},
		dest:  out,
	}
}

func (in *info) show(d *sdDevice, a infoArgs) error {
	in.out = bufio.NewWriter(in.dest)
	switch {
	case a.walk:
		in.attributeWalk(d)
	default:
		if err := in.query(d, a); err != nil {
			return err
		}
	}
	return in.out.Flush()
}

func (in *info) query(d *sdDevice, a infoArgs) error {
	switch a.query {
	case "name":
		if d.devname() == "" {
			return errors.New("no device node found")
		}
		in.printf("%s\n", in.devPath(a, d.devname()))
	case "symlink":
		var links []string
		for _, l := range d.devlinks() {
			links = append(links, in.devPath(a, l))
		}
		in.printf("%s\n", strings.Join(links, " "))
	case "path":
		in.printf("%s\n", d.devpath())
	case "property", "env":
		in.properties(d, a)
	default:
		in.record(d)
	}
	return nil
}

func (in *info) devPath(a infoArgs, p string) string {
	if a.devDir {
		return p
	}
	return strings.TrimPrefix(p, "/dev/")
}

func (in *info) properties(d *sdDevice, a infoArgs) {
	for _, p := range d.properties() {
		switch {
		case a.properties != nil && !slices.Contains(a.properties, p.Key):
		case a.export:
			in.printf("%s%s='%s'\n", a.prefix, p.Key, p.Value)
		case a.value:
			in.printf("%s\n", p.Value)
		default:
			in.printf("%s=%s\n", p.Key, p.Value)
		}
	}
}

func (in *info) printf(format string, v ...any) { fmt.Fprintf(in.out, format, v...) }

// record is print_record: the fields in its order, each asked of the
// device when printed (which decides the properties' order), then a blank
// line.
func (in *info) record(d *sdDevice) {
	in.printf("P: %s\n", d.devpath())
	in.printf("M: %s\n", d.sys.Sysname())
	if n := d.sys.Sysnum(); n != "" {
		in.printf("R: %s\n", n)
	}
	sub := d.subsystem()
	if sub != "" {
		in.printf("U: %s\n", sub)
	}
	if t := d.devtype(); t != "" {
		in.printf("T: %s\n", t)
	}
	if maj, mnr, ok := d.devnum(); ok {
		kind := 'c'
		if sub == "block" {
			kind = 'b'
		}
		in.printf("D: %c %d:%d\n", kind, maj, mnr)
	}
	if i := d.ifindex(); i > 0 {
		in.printf("I: %d\n", i)
	}
	in.node(d)
	if q := d.diskseq(); q != 0 {
		in.printf("Q: %d\n", q)
	}
	if drv := d.driver(); drv != "" {
		in.printf("V: %s\n", drv)
	}
	for _, p := range d.properties() {
		in.printf("E: %s=%s\n", p.Key, p.Value)
	}
	in.printf("\n")
}

// node prints N:, L: and S:; only a device with a node gets them, and
// only then is the database read this early.
func (in *info) node(d *sdDevice) {
	n := d.devname()
	if n == "" {
		return
	}
	in.printf("N: %s\n", strings.TrimPrefix(n, "/dev/"))
	in.printf("L: %d\n", d.linkPriority())
	for _, l := range d.devlinks() {
		in.printf("S: %s\n", strings.TrimPrefix(l, "/dev/"))
	}
}

// exportDB is export_devices: every device the enumerator finds, with
// uninitialized ones, in its order.
func (in *info) exportDB() error {
	in.out = bufio.NewWriter(in.dest)
	for _, sd := range enumerateDevices(in.sysfs) {
		d := in.newDevice(sd)
		d.subsystem() // test_matches asks first
		in.record(d)
	}
	return in.out.Flush()
}

// enumerateDevices is enumerator_scan_devices_all and the sort of
// sd_device_enumerator: the entries of bus/*/devices/ and class/*/ that
// are devices with a subsystem, each once, md and dm block devices last,
// the rest by devpath compared component by component (path_compare).
// (252's sound card rule is a no-op: it compares from the devpath's start.)
func enumerateDevices(sysfs fs.FS) []builtin.SysDevice {
	seen := map[string]bool{}
	var devs []builtin.SysDevice
	add := func(p string) {
		sd, err := builtin.NewSysDevice(sysfs, p)
		if err != nil || seen[sd.Path] || sd.Subsystem() == "" {
			return
		}
		seen[sd.Path] = true
		devs = append(devs, sd)
	}
	for _, sub := range kobjectDirs(sysfs, "bus") {
		for _, d := range kobjectDirs(sysfs, "bus/"+sub+"/devices") {
			add("bus/" + sub + "/devices/" + d)
		}
	}
	for _, sub := range kobjectDirs(sysfs, "class") {
		for _, d := range kobjectDirs(sysfs, "class/"+sub) {
			add("class/" + sub + "/" + d)
		}
	}
	slices.SortFunc(devs, func(a, b builtin.SysDevice) int {
		if la, lb := lateBlock(a.Path), lateBlock(b.Path); la != lb {
			if la {
				return 1
			}
			return -1
		}
		return slices.Compare(strings.Split(a.Path, "/"), strings.Split(b.Path, "/"))
	})
	return devs
}

// kobjectDirs are the names in dir that may be kobjects
// (relevant_sysfs_subdir): directories and links, no dot files.
func kobjectDirs(sysfs fs.FS, dir string) []string {
	ents, _ := fs.ReadDir(sysfs, dir)
	var names []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") && (e.IsDir() || e.Type()&fs.ModeSymlink != 0) {
			names = append(names, e.Name())
		}
	}
	return names
}

func lateBlock(p string) bool {
	return strings.Contains("/"+p, "/block/md") || strings.Contains("/"+p, "/block/dm-")
}

// attributeWalk is print_device_chain.
func (in *info) attributeWalk(d *sdDevice) {
	in.printf("\nUdevadm info starts with the device specified by the devpath and then\n" +
		"walks up the chain of parent devices. It prints for every device\n" +
		"found, all possible attributes in the udev rules key format.\n" +
		"A rule to match, can be composed by the attributes of the device\n" +
		"and the attributes from one single parent device.\n\n")
	in.attributes(d.sys, false)
	for p, ok := d.sys.Parent(); ok; p, ok = p.Parent() {
		in.attributes(p, true)
	}
}

// attributes is print_all_attributes: the device's match keys, then its
// attributes sorted by name, without those shown otherwise (uevent, dev,
// modalias, resource, driver, subsystem, module), values that look like a
// path or have an unprintable byte, and attributes that fail to read for
// another reason than permission.
func (in *info) attributes(sd builtin.SysDevice, parent bool) {
	kernel, subsystem, driver, attr, what := "KERNEL", "SUBSYSTEM", "DRIVER", "ATTR", "device"
	if parent {
		kernel, subsystem, driver, attr, what = "KERNELS", "SUBSYSTEMS", "DRIVERS", "ATTRS", "parent device"
	}
	in.printf("  looking at %s '%s':\n", what, "/"+sd.Path)
	in.printf("    %s==\"%s\"\n", kernel, sd.Sysname())
	in.printf("    %s==\"%s\"\n", subsystem, sd.Subsystem())
	in.printf("    %s==\"%s\"\n", driver, sd.Driver())
	for _, name := range sysattrNames(sd) {
		if v, ok := shownAttr(sd, name); ok {
			in.printf("    %s{%s}==\"%s\"\n", attr, name, v)
		}
	}
	in.printf("\n")
}

func shownAttr(sd builtin.SysDevice, name string) (string, bool) {
	switch name {
	case "uevent", "dev", "modalias", "resource", "driver", "subsystem", "module":
		return "", false
	}
	v, err := rules.ReadSysAttr(sd.FS, "/sys/"+sd.Path, name)
	switch {
	case errors.Is(err, fs.ErrPermission):
		return "(not readable)", true
	case err != nil, strings.HasPrefix(v, "/"):
		return "", false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e { // isprint in the C locale
			return "", false
		}
	}
	return v, true
}

// sysattrNames is device_sysattrs_read_all, sorted: the links and regular
// files with a user read or write bit in the device's directory and in
// its subdirectories at any depth, except subdirectories that are devices
// themselves (they have a uevent file).
func sysattrNames(sd builtin.SysDevice) []string {
	var names []string
	todo := []string{""}
	for len(todo) > 0 {
		sub := todo[0]
		todo = todo[1:]
		dir := path.Join(sd.Path, sub)
		if sub != "" {
			if _, err := fs.Stat(sd.FS, path.Join(dir, "uevent")); err == nil {
				continue
			}
		}
		ents, _ := fs.ReadDir(sd.FS, dir)
		for _, e := range ents {
			name := path.Join(sub, e.Name())
			switch {
			case e.IsDir():
				todo = append(todo, name)
			case e.Type()&fs.ModeSymlink == 0 && !e.Type().IsRegular():
			case userRW(sd.FS, path.Join(sd.Path, name)):
				names = append(names, name)
			}
		}
	}
	slices.Sort(names)
	return names
}

func userRW(fsys fs.FS, p string) bool {
	fi, err := fs.Lstat(fsys, p)
	return err == nil && fi.Mode().Perm()&0o600 != 0
}

// find is udevadm's find_device: a path below /dev is a node or a link to
// one, found by its device number; anything else a syspath.
func (in *info) find(arg string) (*sdDevice, error) {
	p := path.Clean(arg)
	if p == "/dev" || strings.HasPrefix(p, "/dev/") {
		return in.fromDevname(p)
	}
	rel, ok := strings.CutPrefix(p, "/sys/")
	if !ok {
		return nil, fmt.Errorf("%w: not an absolute path in /dev/ or /sys/", fs.ErrInvalid)
	}
	sd, err := builtin.NewSysDevice(in.sysfs, rel)
	if err != nil {
		return nil, err
	}
	return in.newDevice(sd), nil
}

// fromDevname is sd_device_new_from_devname: /dev/block/M:m and
// /dev/char/M:m name the number themselves, other paths are stat'ed.
// sd-device then opens dev/{block,char}/M:m in sysfs and checks the
// device's number and whether it is a block device, which reads its
// uevent file and then its subsystem.
func (in *info) fromDevname(p string) (*sdDevice, error) {
	kind, num, ok := devnumPath(p)
	if !ok {
		var st syscall.Stat_t
		if err := syscall.Stat(filepath.Join(in.root, p), &st); err != nil {
			return nil, fmt.Errorf("stat %s: %w", p, err)
		}
		switch st.Mode & syscall.S_IFMT {
		case syscall.S_IFBLK:
			kind = "block"
		case syscall.S_IFCHR:
			kind = "char"
		default:
			return nil, fmt.Errorf("%s: not a device node: %w", p, fs.ErrInvalid)
		}
		num = fmt.Sprintf("%d:%d", unixMajor(st.Rdev), unixMinor(st.Rdev))
	}
	sd, err := builtin.NewSysDevice(in.sysfs, "dev/"+kind+"/"+num)
	if err != nil {
		return nil, err
	}
	d := in.newDevice(sd)
	maj, mnr, _ := d.devnum()
	if fmt.Sprintf("%d:%d", maj, mnr) != num || (d.subsystem() == "block") != (kind == "block") {
		return nil, fmt.Errorf("%s: %w", p, builtin.ErrNoDevice)
	}
	return d, nil
}

// devnumPath parses /dev/block/M:m and /dev/char/M:m.
func devnumPath(p string) (kind, num string, ok bool) {
	rest, ok := strings.CutPrefix(p, "/dev/")
	kind, num, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || (kind != "block" && kind != "char") {
		return "", "", false
	}
	a, b, ok := strings.Cut(num, ":")
	_, err1 := strconv.ParseUint(a, 10, 32)
	_, err2 := strconv.ParseUint(b, 10, 32)
	return kind, num, ok && err1 == nil && err2 == nil
}

// unixMajor and unixMinor are glibc's gnu_dev_major and gnu_dev_minor.
func unixMajor(dev uint64) uint32 { return uint32((dev>>8)&0xfff | (dev>>32)&^0xfff) }
func unixMinor(dev uint64) uint32 { return uint32(dev&0xff | (dev>>12)&^0xff) }

// sdDevice is an sd_device as udevadm info sees it: loaded lazily, its
// properties in the order the loads happened.
type sdDevice struct {
	sys   builtin.SysDevice
	store *devdb.Store
	props []devdb.Property

	subsystemDone, ueventDone, dbDone, driverDone, prepared bool

	subsys, driverName, devtypeName, devnode string
	major, minor                             uint32
	ifidx                                    int
	seq                                      uint64
	entry                                    devdb.Entry
}

func (in *info) newDevice(sd builtin.SysDevice) *sdDevice {
	d := &sdDevice{sys: sd, store: in.db}
	d.set("DEVPATH", d.devpath())
	return d
}

func (d *sdDevice) devpath() string { return "/" + d.sys.Path }

// set is device_add_property_internal: a known key keeps its place.
func (d *sdDevice) set(k, v string) {
	if i := slices.IndexFunc(d.props, func(p devdb.Property) bool { return p.Key == k }); i >= 0 {
		d.props[i].Value = v
		return
	}
	d.props = append(d.props, devdb.Property{Key: k, Value: v})
}

func (d *sdDevice) subsystem() string {
	return d.once(&d.subsystemDone, &d.subsys, "SUBSYSTEM", d.sys.Subsystem)
}

func (d *sdDevice) driver() string {
	return d.once(&d.driverDone, &d.driverName, "DRIVER", d.sys.Driver)
}

// once is how sd-device sets its subsystem and driver: read at the first
// question, and added as a property then.
func (d *sdDevice) once(done *bool, v *string, key string, read func() string) string {
	if !*done {
		*done = true
		if *v = read(); *v != "" {
			d.set(key, *v)
		}
	}
	return *v
}

// readUevent is device_read_uevent_file: each line a property, in order,
// except MAJOR and MINOR, which are added after the loop (and not at all
// for major 0); DEVNAME is made absolute.
func (d *sdDevice) readUevent() {
	if d.ueventDone {
		return
	}
	d.ueventDone = true
	var major, minor string
	for _, p := range d.sys.UeventProps() {
		switch p.Key {
		case "MAJOR":
			major = p.Value
		case "MINOR":
			minor = p.Value
		default:
			d.ueventLine(p.Key, p.Value)
		}
	}
	maj, err := strconv.ParseUint(major, 10, 32)
	if err != nil || maj == 0 {
		return
	}
	d.major = uint32(maj)
	d.set("MAJOR", major)
	if minor != "" {
		mnr, _ := strconv.ParseUint(minor, 10, 32)
		d.minor = uint32(mnr)
		d.set("MINOR", minor)
	}
}

func (d *sdDevice) ueventLine(k, v string) {
	switch k {
	case "DEVTYPE":
		d.devtypeName = v
	case "IFINDEX":
		d.ifidx, _ = strconv.Atoi(v)
	case "DEVNAME":
		if !strings.HasPrefix(v, "/") {
			v = "/dev/" + v
		}
		d.devnode = v
	case "DISKSEQ":
		d.seq, _ = strconv.ParseUint(v, 10, 64)
	}
	d.set(k, v)
}

func (d *sdDevice) devtype() string { d.readUevent(); return d.devtypeName }
func (d *sdDevice) devname() string { d.readUevent(); return d.devnode }
func (d *sdDevice) ifindex() int    { d.readUevent(); return d.ifidx }
func (d *sdDevice) diskseq() uint64 { d.readUevent(); return d.seq }

func (d *sdDevice) devnum() (uint32, uint32, bool) {
	d.readUevent()
	return d.major, d.minor, d.major > 0
}

// readDB is device_read_db: the id needs the subsystem and the uevent
// file; USEC_INITIALIZED (I:) and the E: lines become properties.
func (d *sdDevice) readDB() {
	if d.dbDone {
		return
	}
	d.dbDone = true
	sub := d.subsystem()
	maj, mnr, _ := d.devnum()
	id := devdb.ID(sub, "/sys/"+d.sys.Path, maj, mnr, d.ifindex())
	if id == "" {
		return
	}
	e, err := d.store.Read(id)
	if err != nil {
		return // absent or unreadable: an uninitialized device
	}
	d.entry = e
	if e.Usec != 0 {
		d.set("USEC_INITIALIZED", strconv.FormatUint(e.Usec, 10))
	}
	for _, p := range e.Props {
		d.set(p.Key, p.Value)
	}
}

func (d *sdDevice) devlinks() []string { d.readDB(); return d.entry.Devlinks }
func (d *sdDevice) linkPriority() int  { d.readDB(); return d.entry.LinkPriority }

// properties is device_properties_prepare and the property iteration:
// the uevent file and the database, then DEVLINKS, TAGS and CURRENT_TAGS
// when not empty.
func (d *sdDevice) properties() []devdb.Property {
	d.readUevent()
	d.readDB()
	if !d.prepared {
		d.prepared = true
		if l := d.entry.Devlinks; len(l) > 0 {
			d.set("DEVLINKS", strings.Join(l, " "))
		}
		if t := d.entry.Tags; len(t) > 0 {
			d.set("TAGS", ":"+strings.Join(t, ":")+":")
		}
		if t := d.entry.CurrentTags; len(t) > 0 {
			d.set("CURRENT_TAGS", ":"+strings.Join(t, ":")+":")
		}
	}
	return d.props
}
