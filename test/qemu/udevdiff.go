package qemu

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/gudevd/gudevd/test/qemu/internal/kmodset"
)

//go:embed guest/boot/gudevd-udev-snapshot
var udevSnapshotScript []byte

//go:embed guest/boot/gudevd-udev-snapshot.service
var udevSnapshotUnit []byte

//go:embed guest/boot/gudevd-diff-init
var diffInitScript []byte

// DiffConfig is one side of the boot diff: which daemon runs as
// systemd-udevd.service on the full-boot image.
type DiffConfig string

// The boot diff's configurations. Udevd is the stock unit, systemd-udevd
// 252. Gudevd is the same root with systemd-udevd.service's ExecStart
// replaced by `gudevd daemon --udev` through a drop-in, everything else of
// the unit (its sockets, Type=notify, the sandboxing) as Debian ships it.
const (
	DiffUdevd  DiffConfig = "udevd"
	DiffGudevd DiffConfig = "gudevd"
)

// DiffConfigs lists the configurations in the order the diff compares them.
var DiffConfigs = []DiffConfig{DiffUdevd, DiffGudevd}

// replaceUdevdDropIn is the shipped drop-in that makes gudevd
// systemd-udevd.service, relative to the repository.
const replaceUdevdDropIn = "dist/systemd/replace-udevd/systemd-udevd.service.d/gudevd.conf"

// diffRootModules are what the boot diff's initramfs loads to mount the
// root (gudevd-diff-init): the disk's driver, the file system and the
// checksum ext4's journal asks the crypto API for (modules.softdep's
// "ext4 pre: crypto-crc32c"; with no modprobe in the initramfs the
// kernel's own request would fail). Built-in ones (6.12's virtio_pci) are
// skipped.
var diffRootModules = []string{"virtio_pci", "virtio_blk", "crc32c_generic", "ext4"}

// UdevDiffSide is one boot of the diff.
type UdevDiffSide struct {
	Config DiffConfig
	Label  string // the directory under the diff's out directory
	Facts  []Fact
	Boot   *Boot
}

// UdevDiffResult is the diff of two boots.
type UdevDiffResult struct {
	Kernel   Kernel
	A, B     UdevDiffSide
	Diffs    []Difference
	Problems []string // checks either side failed (snapshotProblems), prefixed with its label
}

// UdevDiff boots the full-boot image twice with kernel k at 4 vCPUs and the
// conformance devices, once in configuration a and once in b, and diffs
// what the udev daemon left (the snapshot, gudevd-udev-snapshot). It writes
// each boot's files to out/LABEL/, the diff to out/diff.txt and the counts
// by kind to out/summary.txt. a and b may be the same configuration: two
// stock boots show which facts are noisy between boots.
//
// Neither boot runs Debian's initramfs, whose systemd-udevd would process
// the coldplug before the root system's daemon and leave its nodes, links
// and database behind for it (see gudevd-diff-init): both boot through
// the same busybox initramfs that loads the root's modules and nothing
// else, so each root system's daemon does all of the work it is compared
// on.
func (h *Harness) UdevDiff(ctx context.Context, k Kernel, a, b DiffConfig, out string) (*UdevDiffResult, error) {
	res := newUdevDiff(k, a, b)
	for _, s := range []*UdevDiffSide{&res.A, &res.B} {
		boot, facts, err := h.udevDiffBoot(ctx, k, s.Config)
		s.Boot, s.Facts = boot, facts
		if werr := writeDiffSide(filepath.Join(out, s.Label), boot); werr != nil && err == nil {
			err = werr
		}
		if err != nil {
			return res, fmt.Errorf("udev diff, %s: %w", s.Label, err)
		}
	}
	return res, res.finish(out)
}

// UdevDiffReport diffs again the boots an earlier UdevDiff kept in out,
// booting nothing: for a change to the normalization or the allow-list.
func UdevDiffReport(k Kernel, a, b DiffConfig, out string) (*UdevDiffResult, error) {
	res := newUdevDiff(k, a, b)
	for _, s := range []*UdevDiffSide{&res.A, &res.B} {
		dir := filepath.Join(out, s.Label)
		snap, err := os.ReadFile(filepath.Join(dir, "snapshot", "snapshot.txt"))
		if err != nil {
			return nil, fmt.Errorf("udev diff report: %w", err)
		}
		state, err := os.ReadFile(filepath.Join(dir, "system-state.txt"))
		if err != nil {
			return nil, fmt.Errorf("udev diff report: %w", err)
		}
		if s.Facts, err = snapshotFacts(snap, state); err != nil {
			return nil, err
		}
	}
	return res, res.finish(out)
}

func newUdevDiff(k Kernel, a, b DiffConfig) *UdevDiffResult {
	res := &UdevDiffResult{Kernel: k, A: UdevDiffSide{Config: a, Label: string(a)}, B: UdevDiffSide{Config: b, Label: string(b)}}
	if a == b {
		res.A.Label, res.B.Label = string(a)+"-1", string(b)+"-2"
	}
	return res
}

// finish checks both sides, diffs them and writes the diff, the summary
// and each side's normalized snapshot.
func (res *UdevDiffResult) finish(out string) error {
	for _, s := range []*UdevDiffSide{&res.A, &res.B} {
		for _, p := range snapshotProblems(s.Facts) {
			res.Problems = append(res.Problems, s.Label+": "+p)
		}
		lines := make([]string, 0, len(s.Facts))
		for _, f := range s.Facts {
			lines = append(lines, f.Key+"\t"+f.Kind+"\t"+f.Value+"\n")
		}
		sort.Strings(lines)
		var b strings.Builder
		for _, l := range lines {
			b.WriteString(l)
		}
		if err := os.MkdirAll(filepath.Join(out, s.Label), 0o755); err != nil {
			return fmt.Errorf("write udev diff: %w", err)
		}
		if err := os.WriteFile(filepath.Join(out, s.Label, "normalized.txt"), []byte(b.String()), 0o644); err != nil {
			return fmt.Errorf("write udev diff: %w", err)
		}
	}
	res.Diffs = DiffSnapshots(res.A.Facts, res.B.Facts)
	var d bytes.Buffer
	if err := WriteUdevDiff(&d, res); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "diff.txt"), d.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write udev diff: %w", err)
	}
	var s bytes.Buffer
	if err := WriteUdevDiffSummary(&s, res); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "summary.txt"), s.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write udev diff summary: %w", err)
	}
	return nil
}

// writeDiffSide keeps one boot's files and console in dir.
func writeDiffSide(dir string, b *Boot) error {
	if b == nil {
		return nil
	}
	files := map[string][]byte{"console.txt": b.Console}
	for n, data := range b.Files {
		files[n] = data
	}
	for n, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(n))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("keep boot files: %w", err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return fmt.Errorf("keep boot files: %w", err)
		}
	}
	return nil
}

// udevDiffBoot boots configuration c and returns the guest's files and its
// snapshot, with the report's `systemctl is-system-running --wait` as the
// fact "- state system=STATE".
func (h *Harness) udevDiffBoot(ctx context.Context, k Kernel, c DiffConfig) (*Boot, []Fact, error) {
	root, err := h.diffRoot(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	img, err := h.rootImage(ctx, root)
	if err != nil {
		return nil, nil, err
	}
	initrd, err := h.diffInitramfs(ctx, root, k)
	if err != nil {
		return nil, nil, err
	}
	disk := filepath.Join(h.Cache, "boot", "conformance-data.img")
	if err := dataDisk(ctx, disk); err != nil {
		return nil, nil, err
	}
	vm := &VM{
		Kernel:    filepath.Join(root, "boot", "vmlinuz-"+k.Release),
		Initramfs: initrd,
		RootDisk:  img,
		CPUs:      4,
		Cmdline:   "root=/dev/vda ro",
		Timeout:   2 * BootTimeout(4),
		Extra:     conformanceDevices(disk),
	}
	if h.Console {
		vm.Progress = h.Progress
	} else {
		vm.Status = h.Progress
	}
	h.progress("booting bookworm (udev diff, %s) with %s at 4 vCPUs", c, k.Name)
	b, err := vm.Run(ctx)
	if err != nil {
		return b, nil, err
	}
	snap := b.Files["snapshot/snapshot.txt"]
	if len(snap) == 0 {
		return b, nil, fmt.Errorf("%w: the guest sent no snapshot (system state: %s)", ErrGuestFailed, b.Files["system-state.txt"])
	}
	facts, err := snapshotFacts(snap, b.Files["system-state.txt"])
	return b, facts, err
}

// snapshotFacts parses a boot's snapshot, adds the report's system state
// and normalizes what the kernel enumerates.
func snapshotFacts(snap, systemState []byte) ([]Fact, error) {
	facts, err := ParseSnapshot(snap)
	if err != nil {
		return nil, err
	}
	state, _, _ := strings.Cut(string(systemState), "\n")
	facts = append(facts, Fact{Key: "-", Kind: "state", Value: "system=" + strings.TrimSpace(state)})
	return normalizeEnumeration(facts), nil
}

// inputDevpath matches an input device's devpath: the physical device, the
// inputN the input core numbered, and an eventN, mouseN or jsN handler
// device (or an LED, inputN::capslock) below it.
var inputDevpath = regexp.MustCompile(`^(.*)/input/(input[0-9]+)(?:/((?:event|mouse|js)[0-9]+))?$`)

// enumeratedToken matches a kernel-numbered input name where it stands as
// a path component or a device number's minor: input3, event3, mouse0.
var enumeratedToken = regexp.MustCompile(`(^|[^A-Za-z0-9])((?:input|event|mouse|js)[0-9]+)($|[^0-9])`)

// normalizeEnumeration replaces the numbers the kernel hands out in the
// order drivers register with names taken from the physical device, so
// that two boots compare by what a device is: udevd's workers (and
// gudevd's) load pcspkr, psmouse, e1000 and virtio_net at once, and
// whichever module's probe runs first gets input3 or ifindex 2 (two stock
// boots swapped the i8042 mouse's input3 with the PC speaker's input4 and
// the two network cards' ifindexes). An input device inputN below the
// physical device X becomes input{X} (input{X}#K for the K-th of several),
// its handlers eventM, mouseM, jsM become event{X} and so on, in devpaths,
// /dev paths, link targets, DEVPATH and DEVNAME, the records' names and
// device numbers (13:67, and d:43 as stat prints it), with MINOR and the
// sysnum R: replaced. A net device's IFINDEX and I: record become
// {enumerated}; its name, which udev chooses, stays. A link that points at
// the wrong device still differs: its target names that device.
func normalizeEnumeration(facts []Fact) []Fact {
	type input struct {
		parent string
		num    int
	}
	// The inputN devices of each physical device, in the kernel's order.
	byParent := map[string][]input{}
	devnum := map[string]string{} // devpath → "13:67"
	net := map[string]bool{}
	for _, f := range facts {
		if f.Kind == "record" && strings.HasPrefix(f.Value, "D: c ") {
			devnum[f.Key] = strings.TrimPrefix(f.Value, "D: c ")
		}
		if f.Kind == "prop" && strings.HasPrefix(f.Value, "INTERFACE=") {
			net[f.Key] = true
		}
		m := inputDevpath.FindStringSubmatch(f.Key)
		if m == nil || m[3] != "" || f.Kind != "record" || !strings.HasPrefix(f.Value, "M: ") {
			continue
		}
		var n int
		fmt.Sscanf(m[2], "input%d", &n)
		byParent[m[1]] = append(byParent[m[1]], input{m[1], n})
	}
	names := map[string]string{} // "input3" → "input{platform/i8042/serio1}"
	for parent, ins := range byParent {
		sort.Slice(ins, func(i, j int) bool { return ins[i].num < ins[j].num })
		for k, in := range ins {
			id := strings.TrimPrefix(parent, "/devices/")
			if len(ins) > 1 {
				id = fmt.Sprintf("%s#%d", id, k+1)
			}
			names[fmt.Sprintf("input%d", in.num)] = "input{" + id + "}"
		}
	}
	renamed := map[string]bool{} // devpaths whose sysnum was enumerated
	numbers := map[string]string{}
	for _, f := range facts {
		m := inputDevpath.FindStringSubmatch(f.Key)
		if m == nil || f.Kind != "record" || !strings.HasPrefix(f.Value, "M: ") {
			continue
		}
		renamed[f.Key] = true
		in, ok := names[m[2]]
		if m[3] == "" || !ok {
			continue
		}
		handler := strings.TrimRight(m[3], "0123456789")
		canon := handler + strings.TrimPrefix(in, "input")
		names[m[3]] = canon
		if d, ok := devnum[f.Key]; ok {
			var maj, min int
			if _, err := fmt.Sscanf(d, "%d:%d", &maj, &min); err == nil {
				numbers[d] = fmt.Sprintf("%d:%s", maj, canon)
				numbers[fmt.Sprintf("%x:%x", maj, min)] = fmt.Sprintf("%x:%s", maj, canon)
			}
		}
	}
	rename := func(s string) string {
		// Twice: a match consumes the separator the next one starts with
		// (input/input3/event3's "/").
		for range 2 {
			s = enumeratedToken.ReplaceAllStringFunc(s, func(t string) string {
				m := enumeratedToken.FindStringSubmatch(t)
				if c, ok := names[m[2]]; ok {
					return m[1] + c + m[3]
				}
				return t
			})
		}
		return s
	}
	out := make([]Fact, 0, len(facts))
	for _, f := range facts {
		key := rename(f.Key)
		if n, ok := numbers[strings.TrimPrefix(f.Key, "/dev/char/")]; ok && strings.HasPrefix(f.Key, "/dev/char/") {
			key = "/dev/char/" + n
		}
		v := f.Value
		sub := ""
		if i := strings.IndexByte(v, ' '); i > 0 && subKinds[v[:i]] {
			sub, v = v[:i+1], v[i+1:]
		}
		k, _, isProp := strings.Cut(v, "=")
		switch {
		case f.Kind == "node":
			// "c d:43 root input 0660"
			if fs := strings.Fields(v); len(fs) > 1 {
				if n, ok := numbers[fs[1]]; ok {
					fs[1] = n
					v = strings.Join(fs, " ")
				}
			}
		case (f.Kind == "prop" || sub == "prop ") && isProp:
			switch {
			case k == "DEVPATH" || k == "DEVNAME":
				v = rename(v)
			case k == "MINOR" && renamed[f.Key]:
				v = "MINOR={enumerated}"
			case k == "IFINDEX" && net[f.Key]:
				v = "IFINDEX={enumerated}"
			}
		case (f.Kind == "record" || sub == "record ") && strings.HasPrefix(v, "R: ") && renamed[f.Key]:
			v = "R: {enumerated}"
		case (f.Kind == "record" || sub == "record ") && strings.HasPrefix(v, "I: ") && net[f.Key]:
			v = "I: {enumerated}"
		case (f.Kind == "record" || sub == "record ") && strings.HasPrefix(v, "D: c "):
			if n, ok := numbers[strings.TrimPrefix(v, "D: c ")]; ok {
				v = "D: c " + n
			} else {
				v = rename(v)
			}
		case f.Kind == "tag" || f.Kind == "settle" || f.Kind == "control" || f.Kind == "state":
		default:
			v = rename(v)
		}
		out = append(out, Fact{Key: key, Kind: f.Kind, Value: sub + v})
	}
	return out
}

// diffRoot is a copy of the stock root with the snapshot script and its
// unit enabled and, for gudevd, the static gudevd at /usr/local/sbin and
// the drop-in that makes it systemd-udevd.service. The udevd root holds no
// gudevd, so it stays cached while gudevd changes; the two differ in
// nothing else.
func (h *Harness) diffRoot(ctx context.Context, c DiffConfig) (string, error) {
	return h.udevRoot(ctx, c, "udevdiff", guestUnit{"gudevd-udev-snapshot", udevSnapshotScript, udevSnapshotUnit})
}

// guestUnit is a script installed as /usr/local/sbin/NAME with its unit
// NAME.service enabled in multi-user.target.
type guestUnit struct {
	name         string
	script, unit []byte
}

// udevRoot is the stock root with u installed and, for gudevd, the static
// gudevd and the shipped drop-in: the boot diff's roots and the scale
// benchmark's. kind names the cached directory and the binary's build
// path, so a udev-diff and a udev-scale building at the same time do not
// swap the binary under each other's copy.
func (h *Harness) udevRoot(ctx context.Context, c DiffConfig, kind string, u guestUnit) (string, error) {
	if c != DiffUdevd && c != DiffGudevd {
		return "", fmt.Errorf("%s configuration %q: unknown (have %s, %s)", kind, c, DiffUdevd, DiffGudevd)
	}
	base, err := h.bootRoot(ctx)
	if err != nil {
		return "", err
	}
	files := []rootFile{
		{"usr/local/sbin/" + u.name, u.script, 0o755},
		{"etc/systemd/system/" + u.name + ".service", u.unit, 0o644},
	}
	if c == DiffGudevd {
		g, err := h.gudevdFiles(ctx, filepath.Join(h.Cache, "bin", "gudevd-"+kind))
		if err != nil {
			return "", err
		}
		files = append(files, g...)
	}
	sum := sha256.New()
	for _, f := range files {
		fmt.Fprintf(sum, "%s %o %d\n", f.path, f.mode, len(f.data))
		sum.Write(f.data)
	}
	dir := filepath.Join(h.Cache, "boot", fmt.Sprintf("%s-%s-%s-%s", kind, c, filepath.Base(base), hex.EncodeToString(sum.Sum(nil)[:6])))
	if _, err := os.Stat(filepath.Join(dir, ".gudevd-done")); err == nil {
		return dir, nil
	}
	h.progress("making the %s root of the %s", c, kind)
	if err := copyRoot(ctx, base, dir, kind+"-"+string(c)+"-*"); err != nil {
		return "", err
	}
	if err := writeRootFiles(dir, files); err != nil {
		return "", fmt.Errorf("make %s %s root: %w", c, kind, err)
	}
	// Enabled as systemctl enable would: a link in multi-user.target.wants.
	wants := filepath.Join(dir, "etc/systemd/system/multi-user.target.wants")
	if err := os.MkdirAll(wants, 0o755); err != nil {
		return "", fmt.Errorf("make %s %s root: %w", c, kind, err)
	}
	unit := u.name + ".service"
	if err := os.Symlink("/etc/systemd/system/"+unit, filepath.Join(wants, unit)); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("enable %s: %w", unit, err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".gudevd-done"), nil, 0o644); err != nil {
		return "", fmt.Errorf("mark %s %s root built: %w", c, kind, err)
	}
	return dir, nil
}

// gudevdFiles are what makes a root's systemd-udevd.service gudevd: the
// static binary, built at bin, as /usr/local/sbin/gudevd, and the shipped
// drop-in with that path, as make install's sed turns /usr/sbin/gudevd
// into SBINDIR's.
func (h *Harness) gudevdFiles(ctx context.Context, bin string) ([]rootFile, error) {
	if err := h.buildStatic(ctx, "../../cmd/gudevd", bin); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		return nil, fmt.Errorf("read gudevd: %w", err)
	}
	dropIn, err := os.ReadFile(filepath.Join(sourceDir(), "..", "..", replaceUdevdDropIn))
	if err != nil {
		return nil, fmt.Errorf("read gudevd drop-in: %w", err)
	}
	dropIn = bytes.ReplaceAll(dropIn, []byte("/usr/sbin/gudevd"), []byte("/usr/local/sbin/gudevd"))
	return []rootFile{
		{"usr/local/sbin/gudevd", b, 0o755},
		{"etc/systemd/system/systemd-udevd.service.d/gudevd.conf", dropIn, 0o644},
	}, nil
}

// diffInitramfs builds, once per kernel and module list, the busybox
// initramfs of gudevd-diff-init with root's modules for mounting /dev/vda,
// decompressed (6.12's .ko.xz) for busybox insmod and listed in load
// order, each module's dependencies before it.
func (h *Harness) diffInitramfs(ctx context.Context, root string, k Kernel) (string, error) {
	modDir := filepath.Join(root, "lib", "modules", k.Release)
	set, err := kmodset.Load(os.DirFS(modDir))
	if err != nil {
		return "", err
	}
	var order []string
	seen := map[string]bool{}
	for _, m := range diffRootModules {
		if set.Builtin(m) {
			continue
		}
		if _, ok := set.Path(m); !ok {
			return "", fmt.Errorf("udev diff initramfs: module %s not in %s's modules.dep", m, k.Release)
		}
		for _, d := range append(set.Deps(m), m) {
			if !seen[d] {
				seen[d] = true
				order = append(order, d)
			}
		}
	}
	sum := sha256.New()
	fmt.Fprintf(sum, "%s\n%s\n", k.Release, strings.Join(order, " "))
	sum.Write(diffInitScript)
	out := filepath.Join(h.Cache, "boot", fmt.Sprintf("udevdiff-initrd-%s-%s.img", k.Release, hex.EncodeToString(sum.Sum(nil)[:6])))
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	r := NewInitramfs()
	r.File("init", diffInitScript, 0o755)
	bb, err := h.debs().Root(ctx, "busybox-static")
	if err != nil {
		return "", err
	}
	if err := r.Copy("bin/busybox", filepath.Join(bb, "bin", "busybox")); err != nil {
		return "", err
	}
	var list []string
	for _, m := range order {
		p, _ := set.Path(m)
		data, err := moduleFile(ctx, filepath.Join(modDir, p))
		if err != nil {
			return "", err
		}
		r.File("lib/modules/"+m+".ko", data, 0o644)
		list = append(list, m+".ko")
	}
	r.File("etc/gudevd-diff/modules", []byte(strings.Join(list, "\n")+"\n"), 0o644)
	var buf bytes.Buffer
	if _, err := r.WriteTo(&buf); err != nil {
		return "", err
	}
	tmp := fmt.Sprintf("%s.%d.tmp", out, os.Getpid())
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return "", fmt.Errorf("write udev diff initramfs: %w", err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return "", fmt.Errorf("write udev diff initramfs: %w", err)
	}
	return out, nil
}

// moduleFile reads a module, decompressing an .xz or .zst one with the
// host's xz or zstd.
func moduleFile(ctx context.Context, path string) ([]byte, error) {
	var tool string
	switch {
	case strings.HasSuffix(path, ".xz"):
		tool = "xz"
	case strings.HasSuffix(path, ".zst"):
		tool = "zstd"
	default:
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read module: %w", err)
		}
		return b, nil
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, tool, "-dc", path)
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("decompress %s: %w: %s", path, err, strings.TrimSpace(stderr.String()))
	}
	return b, nil
}

// Fact is one line of a snapshot (gudevd-udev-snapshot): what one device,
// /dev path or unit had, of one kind.
type Fact struct {
	Key   string // devpath, /dev path, unit name, or "-"
	Kind  string // record, prop, link, tag, symlink, node, netif, unit, ...
	Value string
}

// ParseSnapshot reads a snapshot: "KEY<TAB>KIND<TAB>VALUE" lines.
func ParseSnapshot(b []byte) ([]Fact, error) {
	var facts []Fact
	for i, l := range strings.Split(string(b), "\n") {
		if l == "" {
			continue
		}
		f := strings.SplitN(l, "\t", 3)
		if len(f) != 3 || f[0] == "" || f[1] == "" {
			return nil, fmt.Errorf("parse snapshot line %d %q: want KEY<TAB>KIND<TAB>VALUE", i+1, l)
		}
		facts = append(facts, Fact{Key: f[0], Kind: f[1], Value: f[2]})
	}
	return facts, nil
}

// Difference is one fact the two boots disagree on: the values of one
// name (a property's key, a record field, a link) of one key and kind on
// each side, nil on a side that lacks it.
type Difference struct {
	Kind, Key, Name string
	A, B            []string
}

// subKinds prefix the values of the query and monitor kinds, which repeat
// the database's kinds for one device.
var subKinds = map[string]bool{"record": true, "prop": true, "link": true, "tag": true}

// factName is what a value is compared by within its key and kind: a
// property's or control's KEY (so that a changed value is one difference
// with both values), a record's field letter, and for set members (tags
// as TAGS+=T, links) the whole value, since a device has any number. A
// kind with one value per key (symlink, node, netif, unit) has the name "".
func factName(kind, v string) string {
	sub := ""
	if i := strings.IndexByte(v, ' '); i > 0 && subKinds[v[:i]] {
		sub, v = v[:i+1], v[i+1:]
		kind = strings.TrimSpace(sub)
	}
	eq := strings.IndexByte(v, '=')
	switch {
	case kind == "link", eq > 0 && v[eq-1] == '+':
		return sub + v
	case eq > 0:
		return sub + v[:eq]
	case len(v) >= 3 && v[0] >= 'A' && v[0] <= 'Z' && v[1] == ':' && v[2] == ' ':
		return sub + v[:2]
	}
	return strings.TrimSpace(sub)
}

// DiffSnapshots compares two snapshots name by name and returns every
// difference, sorted by kind, key and name.
func DiffSnapshots(a, b []Fact) []Difference {
	type id struct{ kind, key, name string }
	group := func(facts []Fact) map[id][]string {
		m := map[id][]string{}
		for _, f := range facts {
			k := id{f.Kind, f.Key, factName(f.Kind, f.Value)}
			m[k] = append(m[k], f.Value)
		}
		for k, v := range m {
			sort.Strings(v)
			m[k] = compactStrings(v)
		}
		return m
	}
	ga, gb := group(a), group(b)
	ids := map[id]bool{}
	for k := range ga {
		ids[k] = true
	}
	for k := range gb {
		ids[k] = true
	}
	var out []Difference
	for k := range ids {
		va, vb := ga[k], gb[k]
		if !equalStrings(va, vb) {
			out = append(out, Difference{Kind: k.kind, Key: k.key, Name: k.name, A: va, B: vb})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		x, y := out[i], out[j]
		if x.Kind != y.Kind {
			return x.Kind < y.Kind
		}
		if x.Key != y.Key {
			return x.Key < y.Key
		}
		return x.Name < y.Name
	})
	return out
}

func compactStrings(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// allowedDiff is a difference the boot diff accepts, with its reason. Nil
// patterns and an empty kind match anything; patterns are anchored.
type allowedDiff struct {
	Kind      string
	Key, Name *regexp.Regexp
	Reason    string
}

// udevDiffAllowed is the boot diff's allow-list: each entry a difference
// between systemd-udevd and gudevd that is expected, and why. Noise
// between two boots of the same daemon does not belong here: the snapshot
// normalizes it away, so that udevd against udevd diffs to zero.
var udevDiffAllowed = []allowedDiff{}

// allowed returns the reason of the first entry of list matching d.
func allowed(list []allowedDiff, d Difference) (string, bool) {
	for _, a := range list {
		if (a.Kind == "" || a.Kind == d.Kind) && (a.Key == nil || a.Key.MatchString(d.Key)) && (a.Name == nil || a.Name.MatchString(d.Name)) {
			return a.Reason, true
		}
	}
	return "", false
}

// Unexplained returns the differences no entry of the allow-list explains.
func (r *UdevDiffResult) Unexplained() []Difference {
	var out []Difference
	for _, d := range r.Diffs {
		if _, ok := allowed(udevDiffAllowed, d); !ok {
			out = append(out, d)
		}
	}
	return out
}

// WriteUdevDiff writes the differences, grouped by kind and key: "-" is a
// value only the first boot had, "+" one only the second had, each
// difference followed by its reason when the allow-list accepts it.
func WriteUdevDiff(w io.Writer, r *UdevDiffResult) error {
	return writeUdevDiff(w, r, udevDiffAllowed)
}

func writeUdevDiff(w io.Writer, r *UdevDiffResult, list []allowedDiff) error {
	var b strings.Builder
	fmt.Fprintf(&b, "--- %s\n+++ %s\n", r.A.Label, r.B.Label)
	fmt.Fprintf(&b, "# kernel %s, 4 vCPUs; %d differences\n", r.Kernel.Name, len(r.Diffs))
	for _, d := range r.Diffs {
		fmt.Fprintf(&b, "%s %s", d.Kind, d.Key)
		if d.Name != "" {
			fmt.Fprintf(&b, " [%s]", d.Name)
		}
		b.WriteString("\n")
		for _, v := range d.A {
			fmt.Fprintf(&b, "\t- %s\n", v)
		}
		for _, v := range d.B {
			fmt.Fprintf(&b, "\t+ %s\n", v)
		}
		if why, ok := allowed(list, d); ok {
			fmt.Fprintf(&b, "\tallowed: %s\n", why)
		}
	}
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "problem: %s\n", p)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteUdevDiffSummary writes how many facts each boot had and the
// differences by kind, allowed and not.
func WriteUdevDiffSummary(w io.Writer, r *UdevDiffResult) error {
	return writeUdevDiffSummary(w, r, udevDiffAllowed)
}

func writeUdevDiffSummary(w io.Writer, r *UdevDiffResult, list []allowedDiff) error {
	type count struct {
		facts          [2]int
		diffs, allowed int
	}
	kinds := map[string]*count{}
	get := func(k string) *count {
		if kinds[k] == nil {
			kinds[k] = &count{}
		}
		return kinds[k]
	}
	for i, facts := range [][]Fact{r.A.Facts, r.B.Facts} {
		for _, f := range facts {
			get(f.Kind).facts[i]++
		}
	}
	var total count
	for _, d := range r.Diffs {
		c := get(d.Kind)
		c.diffs++
		total.diffs++
		if _, ok := allowed(list, d); ok {
			c.allowed++
			total.allowed++
		}
	}
	names := make([]string, 0, len(kinds))
	for k := range kinds {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	fmt.Fprintf(&b, "udev diff: %s against %s, kernel %s, 4 vCPUs\n\n", r.A.Label, r.B.Label, r.Kernel.Name)
	fmt.Fprintf(&b, "%-10s %8s %8s %11s %8s\n", "kind", r.A.Label, r.B.Label, "differences", "allowed")
	for _, k := range names {
		c := kinds[k]
		fmt.Fprintf(&b, "%-10s %8d %8d %11d %8d\n", k, c.facts[0], c.facts[1], c.diffs, c.allowed)
		total.facts[0] += c.facts[0]
		total.facts[1] += c.facts[1]
	}
	fmt.Fprintf(&b, "%-10s %8d %8d %11d %8d\n", "total", total.facts[0], total.facts[1], total.diffs, total.allowed)
	fmt.Fprintf(&b, "\n%d differences, %d allowed, %d unexplained; %d problems\n", total.diffs, total.allowed, total.diffs-total.allowed, len(r.Problems))
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "problem: %s\n", p)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// snapshotProblems checks what one boot must show whichever daemon ran:
// the first settle and the control ping succeeded, the boot reached
// multi-user.target and finished running, the database has /dev/vda
// (udevadm info reads it), systemd made active device units for the disk
// and every network card (pid 1 saw the daemon's broadcasts with the
// systemd tag), and udevadm monitor received the triggered change of vda.
func snapshotProblems(facts []Fact) []string {
	has := map[Fact]bool{}
	var vda string
	var nics []string
	for _, f := range facts {
		has[f] = true
		if f.Kind == "record" && f.Value == "N: vda" {
			vda = f.Key
		}
		if f.Kind == "netif" && f.Value != "lo" {
			nics = append(nics, f.Value)
		}
	}
	var out []string
	want := func(f Fact, what string) {
		if !has[f] {
			out = append(out, what)
		}
	}
	want(Fact{"-", "settle", "exit=0"}, "udevadm settle did not exit 0")
	want(Fact{"-", "control", "ping exit=0"}, "udevadm control --ping did not exit 0")
	want(Fact{"multi-user.target", "state", "active"}, "multi-user.target is not active")
	want(Fact{"-", "state", "system=running"}, "systemctl is-system-running --wait did not say running")
	want(Fact{"/dev/vda", "query", "prop DEVNAME=/dev/vda"}, "udevadm info --query=all --name=/dev/vda has no DEVNAME=/dev/vda")
	if vda == "" {
		out = append(out, "udevadm info --export-db has no device with node vda")
	} else {
		want(Fact{vda, "monitor", "prop ACTION=change"}, "udevadm monitor --udev received no change event of vda")
	}
	unitActive := func(unit string) {
		for f := range has {
			if f.Key == unit && f.Kind == "unit" && strings.HasPrefix(f.Value, "loaded active plugged") {
				return
			}
		}
		out = append(out, fmt.Sprintf("device unit %s is not active", unit))
	}
	unitActive("dev-vda.device")
	if len(nics) < 2 {
		out = append(out, fmt.Sprintf("%d network interfaces besides lo (%v), want the e1000 and the virtio-net card", len(nics), nics))
	}
	sort.Strings(nics)
	for _, n := range nics {
		unitActive("sys-subsystem-net-devices-" + n + ".device")
	}
	return out
}
