package qemu

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/gudevd/gudevd/test/qemu/internal/kmodset"
)

//go:embed guest/init.sh
var initScript []byte

// faultScript is sourced by init.sh for the fault-* scenarios (faults.go).
//
//go:embed guest/faults.sh
var faultScript []byte

// image describes what goes into one guest's initramfs.
type image struct {
	tree    *kernelTree
	modules []string // module names, with their dependencies already included
	udev    bool     // systemd-udevd, udevadm, their libraries and rules
	gudevd  bool     // the gudevd binary under test
	// coldplug is the set the coldplug scenarios load
	// (testdata/coldplug-<kernel>.txt), which the oracle scenario loads
	// from oracleModules.
	coldplug []string
}

// oracleModules is where the image holds the coldplug module set for
// guesttool oracle.
const oracleModules = "etc/gudevd-test/oracle-modules.txt"

// stageModules copies the chosen modules into a private module directory
// and runs depmod there, so the guest's modules.alias and modules.dep list
// exactly what it has: libkmod in systemd-udevd must not resolve an alias
// to a module file that is not in the image.
func (h *Harness) stageModules(ctx context.Context, t *kernelTree, mods []string) (string, error) {
	sum := sha256.Sum256([]byte(t.Release + "\n" + strings.Join(mods, "\n")))
	root := filepath.Join(h.Cache, "stage", t.Release+"-"+hex.EncodeToString(sum[:6]))
	dst := filepath.Join(root, "lib", "modules", t.Release)
	if _, err := os.Stat(filepath.Join(dst, "modules.dep")); err == nil {
		return root, nil
	}
	set, err := kmodset.Load(os.DirFS(t.ModDir))
	if err != nil {
		return "", err
	}
	if err := os.RemoveAll(root); err != nil {
		return "", fmt.Errorf("clear %s: %w", root, err)
	}
	for _, m := range mods {
		p, ok := set.Path(m)
		if !ok {
			return "", fmt.Errorf("stage module %s for %s: not in modules.dep", m, t.Release)
		}
		if err := linkOrCopy(filepath.Join(t.ModDir, p), filepath.Join(dst, p)); err != nil {
			return "", err
		}
	}
	for _, f := range []string{"modules.builtin", "modules.builtin.modinfo", "modules.order"} {
		if err := linkOrCopy(filepath.Join(t.ModDir, f), filepath.Join(dst, f)); err != nil {
			return "", err
		}
	}
	if err := runTool(ctx, "", "depmod", "-b", root, t.Release); err != nil {
		return "", fmt.Errorf("index staged modules of %s: %w", t.Release, err)
	}
	return root, nil
}

func linkOrCopy(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(dst), err)
	}
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	b, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return nil
}

// addTree adds every file below dir to the archive at the same path
// relative to root.
func addTree(r *Initramfs, root, dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		return r.Copy(rel, p)
	})
}

// build writes the compressed initramfs and returns its path.
func (h *Harness) build(ctx context.Context, im image) (string, error) {
	r := NewInitramfs()
	r.File("init", initScript, 0o755)
	r.File("faults.sh", faultScript, 0o644)
	r.File(oracleModules, []byte(strings.Join(im.coldplug, "\n")+"\n"), 0o644)
	bb, err := h.debs().Root(ctx, "busybox-static")
	if err != nil {
		return "", err
	}
	if err := r.Copy("bin/busybox", filepath.Join(bb, "bin", "busybox")); err != nil {
		return "", err
	}
	bin := filepath.Join(h.Cache, "bin")
	tool := filepath.Join(bin, "guesttool")
	if err := h.buildStatic(ctx, "./internal/guesttool", tool); err != nil {
		return "", err
	}
	if err := r.Copy("bin/guesttool", tool); err != nil {
		return "", err
	}
	if im.gudevd {
		g := filepath.Join(bin, "gudevd")
		if err := h.buildStatic(ctx, "../../cmd/gudevd", g); err != nil {
			return "", err
		}
		if err := r.Copy("usr/sbin/gudevd", g); err != nil {
			return "", err
		}
		// The rules file gudevd ships for machines that keep systemd-udevd;
		// the alongside scenario installs it in /etc/udev/rules.d.
		if err := r.Copy("usr/share/gudevd/80-drivers.rules", filepath.Join(sourceDir(), "..", "..", "rules", "udev", "80-drivers.rules")); err != nil {
			return "", err
		}
	}
	if im.udev {
		if err := h.addUdev(ctx, r); err != nil {
			return "", err
		}
	}
	stage, err := h.stageModules(ctx, im.tree, im.modules)
	if err != nil {
		return "", err
	}
	if err := addTree(r, stage, filepath.Join(stage, "lib", "modules")); err != nil {
		return "", fmt.Errorf("add modules to initramfs: %w", err)
	}
	// One file per process: a bench and a test may run side by side, and a
	// QEMU reading an image must not see another process rewrite it.
	out := filepath.Join(h.Cache, "images", fmt.Sprintf("initramfs-%s-%v-%d.img", im.tree.Release, im.udev, os.Getpid()))
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", fmt.Errorf("create image directory: %w", err)
	}
	f, err := os.Create(out)
	if err != nil {
		return "", fmt.Errorf("create initramfs: %w", err)
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	zw, _ := gzip.NewWriterLevel(bw, gzip.BestSpeed)
	if _, err := r.WriteTo(zw); err != nil {
		return "", err
	}
	if err := zw.Close(); err != nil {
		return "", fmt.Errorf("compress initramfs: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return "", fmt.Errorf("write initramfs: %w", err)
	}
	return out, f.Close()
}

// Close removes the images this harness built.
func (h *Harness) Close() error {
	var first error
	for _, img := range h.images {
		if err := os.Remove(img); err != nil && first == nil {
			first = fmt.Errorf("remove image: %w", err)
		}
	}
	h.images = nil
	return first
}

// boot builds an image for mode and runs it. Every image with userspace
// holds both systemd-udevd and gudevd, so scenarios differ only in what
// /init runs.
func (h *Harness) boot(ctx context.Context, t *kernelTree, mods []string, mode string, cpus int, userspace bool) (*Boot, error) {
	key := fmt.Sprintf("%s/%v", t.Release, userspace)
	img, ok := h.images[key]
	if !ok {
		var err error
		img, err = h.build(ctx, image{tree: t, modules: mods, udev: userspace, gudevd: userspace, coldplug: coldplugModules(t.Kernel)})
		if err != nil {
			return nil, err
		}
		if h.images == nil {
			h.images = map[string]string{}
		}
		h.images[key] = img
	}
	vm := &VM{Kernel: t.Vmlinuz, Initramfs: img, CPUs: cpus, Cmdline: "gudevd.mode=" + mode}
	if len(h.DaemonFlags) > 0 {
		vm.Cmdline += " gudevd.flags=" + strings.Join(h.DaemonFlags, ",")
	}
	if isStorm(mode) {
		// A coldplug and then the storm, whose loads at 64 vCPUs on 6.1
		// take minutes each under TCG (a 64-vCPU coldplug alone took ten).
		vm.Timeout = 3 * DefaultTimeout(cpus)
	}
	if h.Console {
		vm.Progress = h.Progress
	} else {
		vm.Status = h.Progress
	}
	h.progress("booting %s at %d vCPUs (mode %s)", t.Name, cpus, mode)
	return vm.Run(ctx)
}
