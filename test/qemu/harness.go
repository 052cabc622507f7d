package qemu

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/gudevd/gudevd/test/qemu/internal/kmodset"
	"github.com/gudevd/gudevd/test/qemu/internal/report"
)

// Harness builds guests and boots them. The zero value is not usable; set
// at least Cache.
type Harness struct {
	Cache    string    // see CacheDir
	Progress io.Writer // progress lines; nil for silence
	Console  bool      // copy every guest console line to Progress

	// DaemonFlags are added to every `gudevd daemon` in the guest (the
	// kernel command line's gudevd.flags=, comma-separated, so no flag may
	// hold a comma or a space): a policy experiment without a rebuild.
	DaemonFlags []string

	images map[string]string // initramfs built by this process, by release and userspace
}

func (h *Harness) debs() *Debs { return &Debs{Dir: h.Cache, Progress: h.Progress} }

func (h *Harness) progress(format string, args ...any) {
	if h.Progress != nil {
		fmt.Fprintf(h.Progress, format+"\n", args...)
	}
}

// sourceDir is the directory of this file at build time: the harness builds
// the guest programs from the module it was built from.
func sourceDir() string {
	_, file, _, _ := runtime.Caller(0)
	if filepath.IsAbs(file) {
		return filepath.Dir(file)
	}
	// Built with -trimpath: find the module from the working directory.
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if gomod := strings.TrimSpace(string(out)); err == nil && gomod != "" && gomod != os.DevNull {
		return filepath.Join(filepath.Dir(gomod), "test", "qemu")
	}
	return filepath.Dir(file)
}

// buildStatic compiles a Go main package of this module into dst without
// cgo, so it runs in a guest that has no libc.
func (h *Harness) buildStatic(ctx context.Context, pkg, dst string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", dst, pkg)
	cmd.Dir = sourceDir()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("build %s: %w: %s", pkg, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// ModuleSet returns the modules a kernel's guest needs, the same for every
// scenario: the list committed in testdata/modules-<kernel>.txt, which
// `qemu-harness capture` regenerates with DiscoverModules, plus what the
// request storm's names resolve to (report.StormRequestNames) with their
// dependencies and soft dependencies. No device asks for those, so the
// coldplug scenarios never load them.
func (h *Harness) ModuleSet(ctx context.Context, k Kernel) ([]string, error) {
	var mods []string
	b, err := os.ReadFile(moduleSetFile(k))
	if err == nil {
		mods = strings.Fields(string(b))
	} else if mods, err = h.DiscoverModules(ctx, k); err != nil {
		return nil, err
	}
	_, set, err := h.moduleIndex(ctx, k)
	if err != nil {
		return nil, err
	}
	return union(mods, set.Closure(report.StormRequestNames())), nil
}

// moduleIndex returns a kernel's extracted tree and kmodset's reading of
// its depmod files.
func (h *Harness) moduleIndex(ctx context.Context, k Kernel) (*kernelTree, *kmodset.Set, error) {
	t, err := h.kernelTree(ctx, k)
	if err != nil {
		return nil, nil, err
	}
	set, err := kmodset.Load(os.DirFS(t.ModDir))
	if err != nil {
		return nil, nil, err
	}
	return t, set, nil
}

func moduleSetFile(k Kernel) string {
	return filepath.Join(sourceDir(), "testdata", "modules-"+k.Name+".txt")
}

// DiscoverModules finds every module the guest's modaliases resolve to, with
// dependencies, by booting with the modules found so far, loading them all
// and looking again until no new device appears (virtio and USB children
// only exist once their bus driver is loaded). It writes the result to
// testdata/modules-<kernel>.txt.
func (h *Harness) DiscoverModules(ctx context.Context, k Kernel) ([]string, error) {
	cache := moduleSetFile(k)
	t, set, err := h.moduleIndex(ctx, k)
	if err != nil {
		return nil, err
	}
	var mods []string
	for round := 1; round <= 5; round++ {
		h.progress("discovering modules of %s, round %d (%d modules so far)", k.Name, round, len(mods))
		b, err := h.boot(ctx, t, mods, "discover", 4, false)
		if err != nil {
			return nil, err
		}
		aliases := strings.Fields(string(b.Files["modaliases.txt"]))
		if len(aliases) == 0 {
			return nil, fmt.Errorf("discover modules of %s: guest reported no modaliases", k.Name)
		}
		next := union(mods, set.Closure(aliases))
		if len(next) == len(mods) {
			if err := os.MkdirAll(filepath.Dir(cache), 0o755); err != nil {
				return nil, fmt.Errorf("save module set: %w", err)
			}
			if err := os.WriteFile(cache, []byte(strings.Join(mods, "\n")+"\n"), 0o644); err != nil {
				return nil, fmt.Errorf("cache module set: %w", err)
			}
			return mods, nil
		}
		mods = next
	}
	return nil, fmt.Errorf("discover modules of %s: no fixed point after 5 boots", k.Name)
}

func union(a, b []string) []string {
	m := map[string]bool{}
	for _, s := range a {
		m[s] = true
	}
	for _, s := range b {
		m[s] = true
	}
	out := make([]string, 0, len(m))
	for s := range m {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}
