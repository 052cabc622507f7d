package qemu

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// BootConfig names what runs on the full-boot image.
type BootConfig string

// The full-boot configurations. Stock is Debian as installed: systemd-udevd
// loads modules with libkmod, the kernel's helper is kmod's modprobe.
// Alongside adds gudevd installed as the README says (make install,
// systemctl enable, update-initramfs): gudevd loads every module, udevd
// keeps rules, nodes and the database. Instead is make
// install-replace-udevd with gudevd.service disabled: the root system's
// systemd-udevd.service runs `gudevd daemon --udev` (rules, nodes,
// database, broadcast and every module load); the initramfs stays
// alongside's (see installSteps).
const (
	Stock     BootConfig = "stock"
	Alongside BootConfig = "alongside"
	Instead   BootConfig = "instead"
)

// BootConfigs lists the configurations in table order.
var BootConfigs = []BootConfig{Stock, Alongside, Instead}

// rootPackages is what the bookworm root holds beyond minbase: systemd as
// init, udev, kmod, initramfs-tools and both pinned kernels (their postinst
// builds each initramfs inside the chroot, as on a real install).
func rootPackages() []string {
	p := []string{"systemd-sysv", "udev", "kmod", "initramfs-tools"}
	for _, k := range Kernels {
		p = append(p, k.Package)
	}
	return p
}

// bootRootRecipe is everything that decides the base root's contents; its
// hash names the cached directory, so a change rebuilds it.
func bootRootRecipe() string {
	return strings.Join(append([]string{"bookworm", "minbase", string(bootReportScript), string(bootReportUnit), string(bootSettleUnit)}, rootPackages()...), "\n")
}

//go:embed guest/boot/gudevd-boot-report
var bootReportScript []byte

//go:embed guest/boot/gudevd-boot-report.service
var bootReportUnit []byte

//go:embed guest/boot/gudevd-boot-settle.service
var bootSettleUnit []byte

// debianMirrors are the archives the root is built from: the ones this
// machine's apt uses (Debian's, with the security archive that carries the
// 6.12 kernel).
var debianMirrors = []string{
	"deb http://deb.debian.org/debian bookworm main",
	"deb http://deb.debian.org/debian-security bookworm-security main",
}

// bootRoot returns the base root directory of the full-boot image: a
// minbase bookworm built by mmdebstrap in root mode, configured so that a
// boot reaches multi-user.target without a prompt and reports (see
// configureRoot). It is built once per recipe and kept in the cache.
func (h *Harness) bootRoot(ctx context.Context) (string, error) {
	sum := sha256.Sum256([]byte(bootRootRecipe()))
	dir := filepath.Join(h.Cache, "boot", "root-"+hex.EncodeToString(sum[:6]))
	unlock, err := lockBuild(dir)
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(dir, ".gudevd-done")); err == nil {
		return dir, nil
	}
	if err := clearRoot(dir); err != nil {
		return "", err
	}
	h.progress("building the bookworm root with mmdebstrap (about 3 minutes)")
	args := []string{"--variant=minbase", "--mode=root", "--components=main",
		"--include=" + strings.Join(rootPackages(), ","), "bookworm", dir}
	if err := runToolEnv(ctx, "", []string{"SOURCE_DATE_EPOCH=1735689600"}, "mmdebstrap", append(args, debianMirrors...)...); err != nil {
		return "", fmt.Errorf("build boot root: %w", err)
	}
	if err := configureRoot(ctx, dir); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, ".gudevd-done"), nil, 0o644); err != nil {
		return "", fmt.Errorf("mark boot root built: %w", err)
	}
	return dir, nil
}

// configureRoot makes the root boot unattended and report:
//   - /etc/machine-id filled in, since an empty one means first boot and
//     systemd-firstboot's prompts;
//   - /etc/fstab mounting /dev/vda, as Debian's installer writes it;
//   - the report unit after multi-user.target (it collects systemd-analyze,
//     the trace and the module list, sends them on the second serial port
//     and powers off), and a settle probe that records when udev's queue
//     first went empty after systemd-udev-trigger, without ordering any
//     other unit after it.
func configureRoot(ctx context.Context, dir string) error {
	if err := runTool(ctx, "", "systemd-machine-id-setup", "--root="+dir); err != nil {
		// The host may lack systemd; chroot runs the root's own copy.
		if err := runTool(ctx, "", "chroot", dir, "systemd-machine-id-setup"); err != nil {
			return fmt.Errorf("set machine id: %w", err)
		}
	}
	files := []rootFile{
		{"etc/hostname", []byte("gudevd-boot\n"), 0o644},
		{"etc/fstab", []byte("/dev/vda / ext4 errors=remount-ro 0 1\n"), 0o644},
		{"usr/local/sbin/gudevd-boot-report", bootReportScript, 0o755},
		{"etc/systemd/system/gudevd-boot-report.service", bootReportUnit, 0o644},
		{"etc/systemd/system/gudevd-boot-settle.service", bootSettleUnit, 0o644},
	}
	if err := writeRootFiles(dir, files); err != nil {
		return fmt.Errorf("configure root: %w", err)
	}
	return chrootRun(ctx, dir, "systemctl", "enable", "gudevd-boot-report.service", "gudevd-boot-settle.service")
}

// rootFile is a file the harness writes into a root directory.
type rootFile struct {
	path string // below the root
	data []byte
	mode fs.FileMode
}

// writeRootFiles writes files into the root dir, creating directories.
func writeRootFiles(dir string, files []rootFile) error {
	for _, f := range files {
		p := filepath.Join(dir, f.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, f.data, f.mode); err != nil {
			return err
		}
	}
	return nil
}

// chrootRun runs a command in root with /proc mounted, in a private mount
// namespace that dies with it, so nothing stays mounted on the host.
func chrootRun(ctx context.Context, root string, args ...string) error {
	script := `mount -t proc proc "$1/proc" && mount -t sysfs sysfs "$1/sys" && root=$1 && shift && exec chroot "$root" "$@"`
	return runTool(ctx, "", "unshare", append([]string{"--mount", "--propagation", "private", "--fork", "sh", "-c", script, "sh", root}, args...)...)
}

// configRoot returns the root directory of one configuration. Stock is the
// base root; the others are copies with gudevd installed into them by
// installSteps. A copy is keyed by its configuration, its steps and what
// they install (the repository's shipped files and the binary built from
// them), so an unchanged tree reuses it and no two configurations share one.
func (h *Harness) configRoot(ctx context.Context, c BootConfig) (string, error) {
	base, err := h.bootRoot(ctx)
	if err != nil || c == Stock {
		return base, err
	}
	steps := installSteps(c)
	if steps == nil {
		return "", fmt.Errorf("boot configuration %q: unknown (have %s)", c, joinConfigs(BootConfigs))
	}
	repo, key, err := h.installSource(filepath.Join(sourceDir(), "..", ".."))
	if err != nil {
		return "", err
	}
	dir := filepath.Join(h.Cache, "boot", fmt.Sprintf("%s-%s-%s", c, filepath.Base(base), configKey(key, steps)))
	unlock, err := lockBuild(dir)
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(dir, ".gudevd-done")); err == nil {
		return dir, nil
	}
	h.progress("installing gudevd into a copy of the boot root for %s (%s)", c, stepNames(steps))
	if err := copyRoot(ctx, base, dir, string(c)+"-*"); err != nil {
		return "", err
	}
	for _, st := range steps {
		if err := st.run(ctx, repo, dir); err != nil {
			return "", fmt.Errorf("%s root: %w", c, err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, ".gudevd-done"), nil, 0o644); err != nil {
		return "", fmt.Errorf("mark %s root built: %w", c, err)
	}
	return dir, nil
}

func joinConfigs(cs []BootConfig) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = string(c)
	}
	return strings.Join(s, ", ")
}

// lockBuild serializes the builds of one cached root between processes:
// several harnesses (go test, qemu-harness, another engineer's run) share
// the cache, and one that found a root half-built would clear it under the
// other's feet. The lock is the file dir+".lock", held until unlock.
func lockBuild(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, fmt.Errorf("create boot cache: %w", err)
	}
	f, err := os.OpenFile(dir+".lock", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", filepath.Base(dir), err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", filepath.Base(dir), err)
	}
	return func() { f.Close() }, nil
}

// rootStep is one step of installing gudevd into a root: exactly one of
// host (a command run on the host in the repository, "ROOT" standing for
// the root directory) or chroot (a command run inside the root). Steps are
// data so that configKey can hash them: a change to a configuration's
// recipe builds its root again.
type rootStep struct {
	host, chroot []string
}

// installSteps is each configuration's install, in order, as the README's
// Install section says (update-initramfs -k all: a chroot's uname -r is the
// host's); nil for stock and unknown configurations.
//
// Alongside: make install, systemctl enable gudevd.service,
// update-initramfs.
//
// Instead: make install-replace-udevd (make install plus the drop-in that
// makes systemd-udevd.service run `gudevd daemon --udev`), gudevd.service
// disabled (the --udev daemon serves /run/gudevd/control too, and two
// daemons would both claim it), update-initramfs. The initramfs is then
// alongside's: Debian's initramfs-tools starts /lib/systemd/systemd-udevd
// --daemon itself (scripts/init-top/udev) and gudevd ships no script that
// replaces it there, so udevd keeps rules and nodes in the initramfs, with
// gudevd's hook loading the modules and the 80-drivers.rules override
// (which Debian's udev hook copies in) keeping udevd's kmod builtin out.
// The override stays in the root system too, where the --udev daemon loads
// every add event's MODALIAS before the rules run.
func installSteps(c BootConfig) []rootStep {
	initramfs := rootStep{chroot: []string{"update-initramfs", "-u", "-k", "all"}}
	switch c {
	case Alongside:
		return []rootStep{
			{host: []string{"make", "install", "DESTDIR=ROOT", "PREFIX=/usr"}},
			{chroot: []string{"systemctl", "enable", "gudevd.service"}},
			initramfs,
		}
	case Instead:
		return []rootStep{
			{host: []string{"make", "install-replace-udevd", "DESTDIR=ROOT", "PREFIX=/usr"}},
			{chroot: []string{"systemctl", "disable", "gudevd.service"}},
			initramfs,
		}
	}
	return nil
}

func (st rootStep) String() string {
	if st.host != nil {
		return strings.Join(st.host, " ")
	}
	return "chroot: " + strings.Join(st.chroot, " ")
}

func stepNames(steps []rootStep) string {
	s := make([]string, len(steps))
	for i, st := range steps {
		s[i] = st.String()
	}
	return strings.Join(s, "; ")
}

// run carries out the step against root.
func (st rootStep) run(ctx context.Context, repo, root string) error {
	var err error
	if st.host != nil {
		args := make([]string, len(st.host))
		for i, a := range st.host {
			args[i] = strings.ReplaceAll(a, "ROOT", root)
		}
		err = runTool(ctx, repo, args[0], args[1:]...)
	} else {
		err = chrootRun(ctx, root, st.chroot...)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", st, err)
	}
	return nil
}

// configKey names a configuration's root by what make install takes from
// the repository (installKey) and by the configuration's steps.
func configKey(install string, steps []rootStep) string {
	sum := sha256.Sum256([]byte(install + "\n" + stepNames(steps)))
	return hex.EncodeToString(sum[:6])
}

// copyRoot makes dir a fresh copy of the base root. A root per state of
// the tree: the older ones matching stale in the boot cache (about 1 GiB
// each) go first, with their images.
func copyRoot(ctx context.Context, base, dir, stale string) error {
	old, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), stale))
	for _, p := range append(old, dir) {
		// Images go with their roots (clearRoot); a lock file stays, as
		// another process may hold it.
		if !strings.HasSuffix(p, ".ext4") && !strings.HasSuffix(p, ".lock") {
			if err := clearRoot(p); err != nil {
				return err
			}
		}
	}
	if err := runTool(ctx, "", "cp", "-a", "--reflink=auto", base, dir); err != nil {
		return fmt.Errorf("copy boot root: %w", err)
	}
	// The copy took the base's done marker: without this, a build cut
	// short (an interrupted bench) left a root that looked finished, with
	// the base's initramfs and no gudevd in it, and the next run booted it.
	if err := os.Remove(filepath.Join(dir, ".gudevd-done")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("copy boot root: %w", err)
	}
	return nil
}

// installInputs reads what make install takes from the repository: the Go
// sources (no tests), the Makefile, go.mod and go.sum, the shipped files
// (dist/) and the rules (rules/udev), by path relative to repo.
func installInputs(repo string) (map[string][]byte, error) {
	files := map[string][]byte{}
	err := filepath.WalkDir(repo, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(repo, p)
		if d.IsDir() {
			if rel == ".git" || rel == "test" || rel == "bin" || strings.HasPrefix(d.Name(), ".") && rel != "." {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(rel, ".go") && !strings.HasSuffix(rel, "_test.go") || rel == "Makefile" || rel == "go.mod" || rel == "go.sum" ||
			strings.HasPrefix(rel, "dist"+string(filepath.Separator)) || strings.HasPrefix(rel, filepath.Join("rules", "udev")) {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			files[rel] = b
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read install inputs: %w", err)
	}
	return files, nil
}

// installKey hashes the install inputs.
func installKey(files map[string][]byte) string {
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	h := sha256.New()
	for _, p := range paths {
		fmt.Fprintf(h, "%s %d\n", p, len(files[p]))
		h.Write(files[p])
	}
	return hex.EncodeToString(h.Sum(nil)[:6])
}

// sources holds each process's snapshot of the install inputs, by
// repository and cache.
var sources struct {
	sync.Mutex
	m map[[2]string]source
}

type source struct{ dir, key string }

// installSource returns a copy of the install inputs in the cache
// (boot/src-KEY) and their key, the same for the whole process: the
// repository is edited while benchmarks run, and each configuration's root
// is built when first booted, so building from the live tree gave the
// configurations of one run different binaries (and rebuilt a root in the
// middle of a run). make install runs in the copy, so a root holds exactly
// what its key says.
func (h *Harness) installSource(repo string) (dir, key string, err error) {
	sources.Lock()
	defer sources.Unlock()
	id := [2]string{h.Cache, repo}
	if s, ok := sources.m[id]; ok {
		return s.dir, s.key, nil
	}
	files, err := installInputs(repo)
	if err != nil {
		return "", "", err
	}
	key = installKey(files)
	dir = filepath.Join(h.Cache, "boot", "src-"+key)
	unlock, err := lockBuild(dir)
	if err != nil {
		return "", "", err
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(dir, ".gudevd-done")); err != nil {
		if err := os.RemoveAll(dir); err != nil {
			return "", "", fmt.Errorf("snapshot install inputs: %w", err)
		}
		for rel, b := range files {
			p := filepath.Join(dir, rel)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return "", "", fmt.Errorf("snapshot install inputs: %w", err)
			}
			mode := fs.FileMode(0o644)
			if fi, err := os.Stat(filepath.Join(repo, rel)); err == nil {
				mode = fi.Mode().Perm() // the initramfs scripts are executable
			}
			if err := os.WriteFile(p, b, mode); err != nil {
				return "", "", fmt.Errorf("snapshot install inputs: %w", err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, ".gudevd-done"), nil, 0o644); err != nil {
			return "", "", fmt.Errorf("snapshot install inputs: %w", err)
		}
	}
	if sources.m == nil {
		sources.m = map[[2]string]source{}
	}
	sources.m[id] = source{dir, key}
	return dir, key, nil
}

// rootImage makes the raw ext4 image of a root directory with mkfs.ext4 -d
// (no loop mount). The guest opens it with snapshot=on, so a boot never
// changes it and one image serves every boot of a configuration.
func (h *Harness) rootImage(ctx context.Context, root string) (string, error) {
	img := root + ".ext4"
	if _, err := os.Stat(img); err == nil {
		return img, nil
	}
	tmp := fmt.Sprintf("%s.%d.tmp", img, os.Getpid())
	h.progress("making %s (mkfs.ext4 -d)", filepath.Base(img))
	if err := runTool(ctx, "", "mkfs.ext4", "-q", "-F", "-L", "root",
		// A fixed UUID: the udev capture's by-uuid links stay the same
		// from one image to the next.
		"-U", "5f0c8e1a-7d2b-4e9c-a3f6-2b8d4c1e9a07", "-E", "hash_seed=5f0c8e1a-7d2b-4e9c-a3f6-2b8d4c1e9a07",
		"-d", root, tmp, "4G"); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("make root image: %w", err)
	}
	if err := os.Rename(tmp, img); err != nil {
		return "", fmt.Errorf("make root image: %w", err)
	}
	return img, nil
}

// clearRoot removes a half-built root and its image.
func clearRoot(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("clear %s: %w", dir, err)
	}
	if err := os.Remove(dir + ".ext4"); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("clear %s: %w", dir, err)
	}
	return nil
}
