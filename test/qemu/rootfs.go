package qemu

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// BootConfig names what runs on the full-boot image.
type BootConfig string

// The full-boot configurations. Stock is Debian as installed: systemd-udevd
// loads modules with libkmod, the kernel's helper is kmod's modprobe.
// Alongside adds gudevd installed as the README says (make install,
// systemctl enable, update-initramfs): gudevd loads every module, udevd
// keeps rules, nodes and the database. Instead, gudevd in place of
// systemd-udevd, comes with the rules engine and the database.
const (
	Stock     BootConfig = "stock"
	Alongside BootConfig = "alongside"
)

// BootConfigs lists the configurations in table order.
var BootConfigs = []BootConfig{Stock, Alongside}

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
	if _, err := os.Stat(filepath.Join(dir, ".gudevd-done")); err == nil {
		return dir, nil
	}
	if err := clearRoot(dir); err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", fmt.Errorf("create boot cache: %w", err)
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
// base root; alongside is a copy with gudevd installed into it exactly as
// the README's install section says. The copy is keyed by what it installs
// (the repository's shipped files and the binary built from them), so an
// unchanged tree reuses it.
func (h *Harness) configRoot(ctx context.Context, c BootConfig) (string, error) {
	base, err := h.bootRoot(ctx)
	if err != nil || c == Stock {
		return base, err
	}
	if c != Alongside {
		return "", fmt.Errorf("boot configuration %q: unknown (have %s, %s)", c, Stock, Alongside)
	}
	repo := filepath.Join(sourceDir(), "..", "..")
	key, err := installKey(repo)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(h.Cache, "boot", fmt.Sprintf("%s-%s-%s", c, filepath.Base(base), key))
	if _, err := os.Stat(filepath.Join(dir, ".gudevd-done")); err == nil {
		return dir, nil
	}
	h.progress("installing gudevd into a copy of the boot root (make install, systemctl enable, update-initramfs)")
	if err := copyRoot(ctx, base, dir, string(c)+"-*"); err != nil {
		return "", err
	}
	if err := installGudevd(ctx, repo, dir); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, ".gudevd-done"), nil, 0o644); err != nil {
		return "", fmt.Errorf("mark %s root built: %w", c, err)
	}
	return dir, nil
}

// copyRoot makes dir a fresh copy of the base root. A root per state of
// the tree: the older ones matching stale in the boot cache (about 1 GiB
// each) go first, with their images.
func copyRoot(ctx context.Context, base, dir, stale string) error {
	old, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), stale))
	for _, p := range append(old, dir) {
		if !strings.HasSuffix(p, ".ext4") {
			if err := clearRoot(p); err != nil {
				return err
			}
		}
	}
	if err := runTool(ctx, "", "cp", "-a", "--reflink=auto", base, dir); err != nil {
		return fmt.Errorf("copy boot root: %w", err)
	}
	return nil
}

// installGudevd is the README's install section, run against root.
func installGudevd(ctx context.Context, repo, root string) error {
	if err := runTool(ctx, repo, "make", "install", "DESTDIR="+root, "PREFIX=/usr"); err != nil {
		return fmt.Errorf("install gudevd: %w", err)
	}
	if err := chrootRun(ctx, root, "systemctl", "enable", "gudevd.service"); err != nil {
		return fmt.Errorf("enable gudevd: %w", err)
	}
	if err := chrootRun(ctx, root, "update-initramfs", "-u", "-k", "all"); err != nil {
		return fmt.Errorf("rebuild initramfs with gudevd: %w", err)
	}
	return nil
}

// installKey hashes what make install takes from the repository: the Go
// sources, the Makefile and the shipped files.
func installKey(repo string) (string, error) {
	h := sha256.New()
	var paths []string
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
			paths = append(paths, rel)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hash install inputs: %w", err)
	}
	sort.Strings(paths)
	for _, p := range paths {
		b, err := os.ReadFile(filepath.Join(repo, p))
		if err != nil {
			return "", fmt.Errorf("hash install inputs: %w", err)
		}
		fmt.Fprintf(h, "%s %d\n", p, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)[:6]), nil
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
