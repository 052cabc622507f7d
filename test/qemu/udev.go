package qemu

import (
	"context"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
)

// udevPackages are the Debian packages whose files the udevd scenarios run:
// systemd-udevd and udevadm (one binary), their helpers and packaged rules,
// kmod for the kernel's modprobe helper, and the libraries bookworm's
// builds of them need. addUdev follows DT_NEEDED from the binaries; a
// library none of these packages has is looked up with dpkg-query on the
// host, so a newer udev that needs one more library still works there.
var udevPackages = []string{
	"udev", "libudev1", "libsystemd-shared", "kmod", "libc6",
	"libacl1", "libblkid1", "libcap2", "libkmod2", "liblzma5", "libpcre2-8-0",
	"libselinux1", "libssl3", "libzstd1",
}

// libDirs are where the dynamic loader looks without an ld.so.cache, plus
// systemd's private library directory (udevadm's RUNPATH).
var libDirs = []string{
	"lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu/systemd",
	"lib/systemd", "usr/lib/systemd", "lib", "usr/lib",
}

// userspace is the files of some extracted packages being copied into an
// initramfs, with their libraries.
type userspace struct {
	h     *Harness
	r     *Initramfs
	roots []string
	done  map[string]bool
}

// addUdev adds systemd-udevd, udevadm, kmod, the udev helpers, rules and
// modprobe.d files, and every shared library they need.
func (h *Harness) addUdev(ctx context.Context, r *Initramfs) error {
	u := &userspace{h: h, r: r, done: map[string]bool{}}
	for _, p := range udevPackages {
		root, err := h.debs().Root(ctx, p)
		if err != nil {
			return err
		}
		u.roots = append(u.roots, root)
	}
	udevRoot, kmodRoot := u.roots[0], u.roots[3]
	for _, p := range []string{"bin/udevadm", "lib/systemd/systemd-udevd", "bin/kmod", "sbin/modprobe"} {
		root := udevRoot
		if strings.Contains(p, "mod") {
			root = kmodRoot
		}
		if err := u.add(ctx, root, p); err != nil {
			return err
		}
	}
	for _, dir := range []string{"lib/udev", "lib/modprobe.d"} {
		for _, root := range u.roots {
			if err := u.addDir(ctx, root, dir); err != nil {
				return err
			}
		}
	}
	// Rules name users and groups; without them udevd logs every lookup.
	r.File("etc/passwd", []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644)
	r.File("etc/group", []byte(guestGroups), 0o644)
	return nil
}

const guestGroups = `root:x:0:
tty:x:5:
disk:x:6:
lp:x:7:
kmem:x:15:
dialout:x:20:
cdrom:x:24:
tape:x:26:
audio:x:29:
video:x:44:
input:x:101:
kvm:x:102:
render:x:103:
sgx:x:104:
`

// addDir adds every file under dir of root, with the libraries of any ELF
// executable among them.
func (u *userspace) addDir(ctx context.Context, root, dir string) error {
	base := filepath.Join(root, dir)
	if _, err := os.Stat(base); err != nil {
		return nil
	}
	return filepath.WalkDir(base, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		return u.add(ctx, root, rel)
	})
}

// add copies rel from root, follows it if it is a symlink, and adds the
// interpreter and libraries of ELF files.
func (u *userspace) add(ctx context.Context, root, rel string) error {
	rel = clean(rel)
	if u.done[rel] {
		return nil
	}
	u.done[rel] = true
	src := filepath.Join(root, rel)
	if err := u.r.Copy(rel, src); err != nil {
		return err
	}
	fi, err := os.Lstat(src)
	if err != nil {
		return fmt.Errorf("stat %s: %w", src, err)
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		t, _ := os.Readlink(src)
		if !path.IsAbs(t) {
			t = path.Join(path.Dir(rel), t)
		}
		return u.addFromAnyRoot(ctx, t)
	}
	f, err := elf.Open(src)
	if err != nil {
		return nil // not an ELF file: a rule, a script, a config
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b := make([]byte, p.Filesz)
			if _, err := p.ReadAt(b, 0); err == nil {
				if err := u.addFromAnyRoot(ctx, strings.TrimRight(string(b), "\x00")); err != nil {
					return err
				}
			}
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		return fmt.Errorf("read libraries of %s: %w", rel, err)
	}
	for _, l := range libs {
		if err := u.addLib(ctx, l); err != nil {
			return fmt.Errorf("add %s (needed by %s): %w", l, rel, err)
		}
	}
	return nil
}

// addFromAnyRoot adds an absolute guest path from whichever extracted
// package has it.
func (u *userspace) addFromAnyRoot(ctx context.Context, p string) error {
	p = clean(p)
	for _, root := range u.roots {
		if _, err := os.Lstat(filepath.Join(root, p)); err == nil {
			return u.add(ctx, root, p)
		}
	}
	return fmt.Errorf("find %s in packages %s", p, strings.Join(udevPackages, ", "))
}

// addLib finds a shared library in the extracted packages, or asks dpkg on
// the host which package owns it and downloads that package.
func (u *userspace) addLib(ctx context.Context, name string) error {
	for attempt := 0; attempt < 2; attempt++ {
		for _, root := range u.roots {
			for _, d := range libDirs {
				if _, err := os.Lstat(filepath.Join(root, d, name)); err == nil {
					return u.add(ctx, root, path.Join(d, name))
				}
			}
		}
		if attempt == 1 {
			break
		}
		pkg, err := ownerOf(ctx, name)
		if err != nil {
			return err
		}
		root, err := u.h.debs().Root(ctx, pkg)
		if err != nil {
			return err
		}
		u.roots = append(u.roots, root)
	}
	return fmt.Errorf("find library %s in any package", name)
}

// ownerOf returns the Debian package that ships a library, from the host's
// dpkg database (the host runs the same Debian release as the guest).
func ownerOf(ctx context.Context, lib string) (string, error) {
	out, err := exec.CommandContext(ctx, "dpkg-query", "-S", "*/"+lib).Output()
	if err != nil {
		return "", fmt.Errorf("find the package of %s with dpkg-query -S: %w (install it on the host or add its package to udevPackages)", lib, err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		pkg, _, ok := strings.Cut(l, ": ")
		if !ok || strings.Contains(pkg, ",") || strings.HasPrefix(pkg, "diversion") {
			continue
		}
		pkg, _, _ = strings.Cut(pkg, ":")
		return pkg, nil
	}
	return "", fmt.Errorf("find the package of %s: dpkg-query gave no owner", lib)
}
