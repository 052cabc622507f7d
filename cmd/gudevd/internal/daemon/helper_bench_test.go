package daemon

// The cost of one execution of the kernel's modprobe helper. The kernel runs
// the helper once per request_module() (kernel/module/kmod.c), so on a
// request storm its fixed cost is paid once per CPU and request: kmod's
// modprobe against gudevd's, with and without a daemon.
//
// It runs the real binaries on a real module tree with depmod's .bin
// indexes (kmod reads only those), which `make bench-helper` unpacks from
// Debian's kernel package and names in GUDEVD_BENCH_TREE (the root) and
// GUDEVD_BENCH_KVER (the release):
//
//	make bench-helper
//
// Nothing is loaded on the host: the daemon-less runs are dry runs (-n: the
// whole lookup and the check of /sys/module, then no syscall), for kmod and
// for gudevd alike, and the daemon's runs go to a daemon whose loads go to
// a fake kernel in this process. What a real load adds (the same
// finit_module for either helper) is left out; the request storms in
// test/qemu measure helpers on real kernels.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/gudevd/gudevd/cmd/gudevd/internal/control"
	"github.com/gudevd/gudevd/cmd/gudevd/internal/modules"
)

// helperNames are names the kernel requests: a crypto algorithm, a file
// system and a protocol family, as the request storms in test/qemu use.
var helperNames = []string{"crypto-md4", "fs-minix", "net-pf-29"}

func BenchmarkHelper(b *testing.B) {
	root, kver := os.Getenv("GUDEVD_BENCH_TREE"), os.Getenv("GUDEVD_BENCH_KVER")
	if root == "" || kver == "" {
		b.Skip("GUDEVD_BENCH_TREE and GUDEVD_BENCH_KVER are not set: run make bench-helper")
	}
	kmod, err := exec.LookPath("modprobe")
	if err != nil {
		b.Skipf("no kmod modprobe: %v", err)
	}
	bin := filepath.Join(b.TempDir(), "gudevd")
	// Static, as the QEMU guests and `make build` build it: a binary
	// linked against libc pays for the dynamic loader on every run
	// (~1.5 ms of the helper's ~4.5 ms here).
	build := exec.Command("go", "build", "-o", bin, "github.com/gudevd/gudevd/cmd/gudevd")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build gudevd: %v\n%s", err, out)
	}
	tree := []string{"-d", root, "-S", kver}
	for _, name := range helperNames {
		b.Run("kmod/no-daemon/"+name, func(b *testing.B) {
			runHelper(b, kmod, append(append([]string{"-q", "-n"}, tree...), name)...)
		})
		b.Run("gudevd/no-daemon/"+name, func(b *testing.B) {
			runHelper(b, bin, append(append([]string{"modprobe", "-q", "-n"}, tree...), name)...)
		})
	}
	link := helperDaemonLink(b, bin, modules.Tree{Root: root, Dir: filepath.Join(root, "lib/modules", kver)})
	for _, name := range helperNames {
		// The first run loads (into the fake kernel); every later one is
		// the daemon's answer for a module it has loaded.
		b.Run("gudevd/daemon/loaded/"+name, func(b *testing.B) {
			runHelper(b, link, "-q", "--", name)
		})
	}
}

// runHelper runs the helper b.N times and fails on a non-zero exit.
func runHelper(b *testing.B, path string, args ...string) {
	for b.Loop() {
		if out, err := exec.Command(path, args...).CombinedOutput(); err != nil {
			b.Fatalf("%s %v: %v\n%s", path, args, err, out)
		}
	}
}

// helperDaemonLink runs a daemon over tree, loading into a fake kernel,
// and returns the helper link next to its control socket, as
// --kernel-modprobe makes it, pointing at bin.
func helperDaemonLink(b *testing.B, bin string, tree modules.Tree) string {
	dir := filepath.Join(b.TempDir(), "run")
	d, err := New(Config{
		Tree:    tree,
		Control: filepath.Join(dir, "control"),
		Runner:  &fakeKernel{},
		Source:  newFakeSource(),
		SysfsFS: testSysfs(0),
	})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(context.Background()) }()
	select {
	case <-d.Ready():
	case err := <-done:
		b.Fatalf("daemon: %v", err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := control.Call(ctx, filepath.Join(dir, "control"), control.Request{Op: control.OpExit}); err != nil {
			b.Errorf("stop daemon: %v", err)
		}
		<-done
	})
	link := filepath.Join(dir, HelperName)
	if err := os.Symlink(bin, link); err != nil {
		b.Fatal(fmt.Errorf("link helper: %w", err))
	}
	return link
}
