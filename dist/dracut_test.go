package dist

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The kernel whose module tree the dracut test builds for: the 6.1 kernel
// the QEMU tests boot.
const (
	dracutKernelPkg = "linux-image-6.1.0-47-amd64-unsigned"
	dracutKernel    = "6.1.0-47-amd64"
)

// kernelTree is the unpacked kernel package, depmod'ed (its postinst
// would have run depmod; dracut reads modules.dep).
func kernelTree(t *testing.T) string {
	t.Helper()
	tree := deb(t, dracutKernelPkg)
	if _, err := os.Stat(filepath.Join(tree, "lib/modules", dracutKernel, "modules.dep")); err != nil {
		requireTool(t, "depmod")
		run(t, "", nil, "depmod", "-b", tree, dracutKernel)
	}
	return tree
}

// dracutRoot is the script that builds an initrd in a private mount
// namespace (unshare -m): a root whose /usr and /etc are the host's with
// the DESTDIR of `make install` laid over them (overlayfs, read-only: the
// host's own /usr is never written), chrooted into, so dracut finds
// gudevd, its unit and the rules where an installed system has them. The
// kernel tree, the dracut base directory (a copy of the host's
// /usr/lib/dracut plus our module) and the output directory are bound in.
const dracutRoot = `set -e
root=$1 dest=$2 base=$3 kernel=$4 out=$5; shift 5
mkdir -p "$root/usr" "$root/etc" "$root/var/tmp" "$root/tmp" "$root/run" "$root/proc" "$root/sys" "$root/dev" \
	"$root/dracut-base" "$root/kernel" "$root/out" "$root/noconf"
for l in bin lib lib64 sbin; do [ -e "$root/$l" ] || ln -s "usr/$l" "$root/$l"; done
mount -t overlay overlay -o "lowerdir=$dest/usr:/usr" "$root/usr"
mount -t overlay overlay -o "lowerdir=$dest/etc:/etc" "$root/etc"
mount --rbind /proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --rbind /dev "$root/dev"
mount --bind "$base" "$root/dracut-base"
mount --bind "$kernel" "$root/kernel"
mount --bind "$out" "$root/out"
exec chroot "$root" env dracutbasedir=/dracut-base "$@"
`

// TestDracutBuilds runs the host's dracut (dracut-core) with our module on
// Debian's 6.1 module tree, with and without dracut's systemd module, and
// checks that the image holds gudevd, the override rules and either the
// enabled unit with its initrd drop-in or the pre-udev and cleanup hooks.
func TestDracutBuilds(t *testing.T) {
	for _, tool := range []string{"dracut", "unshare", "chroot", "cpio"} {
		requireTool(t, tool)
	}
	if _, err := os.Stat("/usr/lib/dracut/dracut-functions.sh"); err != nil {
		unavailable(t, "dracut's base directory /usr/lib/dracut: %v", err)
	}
	probeOverlay(t)
	kernel := kernelTree(t)
	dest := install(t, "PREFIX=/usr")
	base := filepath.Join(t.TempDir(), "dracut")
	run(t, "", nil, "cp", "-a", "/usr/lib/dracut", base)
	run(t, "", nil, "cp", "-a", filepath.Join(dest, "usr/lib/dracut/modules.d/90gudevd"), filepath.Join(base, "modules.d/"))
	rules := readFile(t, filepath.Join(dest, "etc/udev/rules.d/80-drivers.rules"))
	common := []string{"usr/sbin/gudevd", "etc/udev/rules.d/80-drivers.rules"}
	for _, tt := range []struct {
		name    string
		modules string
		want    []string
		absent  []string
	}{
		{"systemd", "systemd systemd-udevd udev-rules gudevd base", append([]string{
			"usr/lib/systemd/system/gudevd.service",
			"etc/systemd/system/sysinit.target.wants/gudevd.service",
			"usr/lib/systemd/system/initrd-udevadm-cleanup-db.service.d/gudevd.conf",
			"usr/lib/systemd/system/modprobe@.service.d/gudevd.conf",
		}, common...), []string{"usr/lib/dracut/hooks/pre-udev/00-gudevd-start.sh"}},
		{"no systemd", "udev-rules gudevd base", append([]string{
			"usr/lib/dracut/hooks/pre-udev/00-gudevd-start.sh",
			"usr/lib/dracut/hooks/cleanup/00-gudevd-stop.sh",
		}, common...), []string{"usr/lib/systemd/system/gudevd.service"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := t.TempDir()
			dracut := []string{"dracut", "--kmoddir", "/kernel/lib/modules/" + dracutKernel, "--kver", dracutKernel,
				"--no-hostonly", "--no-compress", "--no-early-microcode", "--conf", "/dev/null", "--confdir", "/noconf",
				"--modules", tt.modules, "--force", "/out/initrd.img", dracutKernel}
			log := run(t, "", nil, "unshare", append([]string{"--mount", "--propagation", "private", "sh", "-c", dracutRoot, "sh", chrootDir(t), dest, base, kernel, out}, dracut...)...)
			if !strings.Contains(log, "*** Including module: gudevd ***") {
				t.Errorf("dracut did not include the gudevd module:\n%s", log)
			}
			files := listCpio(t, filepath.Join(out, "initrd.img"))
			for _, f := range tt.want {
				if !slices.Contains(files, f) {
					t.Errorf("initrd lacks %s", f)
				}
			}
			for _, f := range tt.absent {
				if slices.Contains(files, f) {
					t.Errorf("initrd has %s, which belongs to the other init", f)
				}
			}
			x := t.TempDir()
			extract(t, filepath.Join(out, "initrd.img"), x, "etc/udev/rules.d/80-drivers.rules")
			if got := readFile(t, filepath.Join(x, "etc/udev/rules.d/80-drivers.rules")); got != rules {
				t.Error("the initrd's /etc/udev/rules.d/80-drivers.rules is not the installed override")
			}
		})
	}
}

// chrootDir is an empty directory for dracutRoot's root. It is removed
// only when no mount is left below it: a mount that escaped the private
// namespace would make RemoveAll delete the host's /usr through it.
func chrootDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "gudevd-dracut-root-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		mounts, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil || strings.Contains(string(mounts), " "+dir+"/") {
			t.Errorf("left %s in place: mounts below it are visible outside the namespace (%v)", dir, err)
			return
		}
		os.RemoveAll(dir)
	})
	return dir
}

// probeOverlay skips (or fails) the test where this machine cannot make a
// private mount namespace with an overlay mount.
func probeOverlay(t *testing.T) {
	t.Helper()
	d := t.TempDir()
	for _, s := range []string{"lower", "mnt"} {
		if err := os.Mkdir(filepath.Join(d, s), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "mount", "-t", "overlay", "overlay", "-o", "lowerdir="+filepath.Join(d, "lower")+":/usr", filepath.Join(d, "mnt"))
	if out, err := cmd.CombinedOutput(); err != nil {
		unavailable(t, "no overlay mount in a private mount namespace here (dracut must see the installed files): %v: %s", err, out)
	}
}

// listCpio lists an uncompressed initramfs (dracut --no-compress, no early
// microcode: one cpio archive).
func listCpio(t *testing.T, img string) []string {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command("cpio", "-it", "--quiet")
	cmd.Stdin = f
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("cpio -it %s: %v", img, err)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

func extract(t *testing.T, img, dir string, files ...string) {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command("cpio", append([]string{"-id", "--quiet"}, files...)...)
	cmd.Dir, cmd.Stdin = dir, f
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cpio -id %s: %v: %s", img, err, out)
	}
}
