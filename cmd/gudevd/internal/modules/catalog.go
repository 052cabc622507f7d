package modules

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/gudevd/gudevd/modalias"
	"github.com/gudevd/gudevd/modload"
	"golang.org/x/sys/unix"
)

// Tree names a module tree and the root its modprobe.d directories are read
// under, as modprobe -d ROOT -S VERSION does.
type Tree struct {
	Root string // modprobe.d is read under Root (normally "/")
	Dir  string // the modules directory, /lib/modules/VERSION
	// Config, if not nil, replaces the modprobe.d directories with
	// these files and directories under Root, as modprobe -C does.
	Config []string
}

// DefaultTree returns the tree of the running kernel under root:
// root/lib/modules/$(uname -r), or dir when it is not empty.
func DefaultTree(root, dir string) (Tree, error) {
	if dir != "" {
		return Tree{Root: root, Dir: dir}, nil
	}
	rel, err := KernelRelease()
	if err != nil {
		return Tree{}, err
	}
	return Tree{Root: root, Dir: filepath.Join(root, "lib/modules", rel)}, nil
}

// KernelRelease is `uname -r`: the default module tree is
// /lib/modules/$(uname -r), as for modprobe.
func KernelRelease() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", fmt.Errorf("read kernel release: %w", err)
	}
	return unix.ByteSliceToString(u.Release[:]), nil
}

// ReadCmdline returns the kernel command line, or "" where /proc is not
// mounted: the module options and blacklist it carries are optional.
func ReadCmdline() string {
	b, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return ""
	}
	return string(b)
}

// Catalog is one generation of the module index and its plans: what a
// reload replaces. It is immutable but for its plan cache, and safe for
// concurrent use.
type Catalog struct {
	index   *modalias.Index
	planner *modload.Planner

	mu    sync.Mutex // guards plans
	plans map[string]*aliasPlan

	// Guarded by the owning Modules' mu (see Modules.pin).
	pins    int  // lookups using the index now
	retired bool // replaced: close when pins drops to 0
}

// aliasPlan is one MODALIAS's plan, computed once: the first of a storm's
// identical CPU events computes it while the others wait on once.
type aliasPlan struct {
	once sync.Once
	plan *modload.Plan
}

// maxCachedPlans bounds the MODALIAS -> plan cache. A machine has a few
// hundred distinct modaliases however many CPUs it has; past the bound the
// cache starts over rather than grow with hostile input.
const maxCachedPlans = 4096

// LoadCatalog opens the module index (depmod's files and modprobe.d) of t
// for the daemon: OpenCatalog's mapped .bin indexes, as libkmod reads them,
// so the daemon neither parses every text file at start (2.5 s of a TCG
// guest's boot for Debian's 4022 modules) nor keeps them parsed on its heap;
// the pages it touches are the page cache's, shared with every kmod. A tree
// without .bin indexes is parsed from the text files. A damaged line or
// node loses only what is on it, and each is logged.
func LoadCatalog(log *slog.Logger, t Tree, cmdline string) (*Catalog, error) {
	c, err := OpenCatalog(t, cmdline)
	if err != nil {
		return nil, err
	}
	for _, p := range c.index.Problems() {
		log.Warn("skip damaged part of the module index", "err", p)
	}
	log.Info("module index", "dir", t.Dir, "size", c.index.Stats().String())
	return c, nil
}

// NewCatalog plans from idx.
func NewCatalog(idx *modalias.Index) *Catalog {
	return &Catalog{index: idx, planner: modload.NewPlanner(idx)}
}

// Plan resolves a MODALIAS and plans its modules, as a uevent does, once
// per distinct string: every CPU of a machine sends the same CPU modalias, and resolving
// and planning it (~160 µs on Debian's index) for each of 4096 CPUs would be
// most of the daemon's work. Plans are immutable, so callers share them.
func (c *Catalog) Plan(alias string) *modload.Plan {
	c.mu.Lock()
	if c.plans == nil || len(c.plans) >= maxCachedPlans {
		c.plans = map[string]*aliasPlan{}
	}
	e, ok := c.plans[alias]
	if !ok {
		e = &aliasPlan{}
		c.plans[alias] = e
	}
	c.mu.Unlock()
	// udev loads what a MODALIAS finds as modprobe -b does: the
	// blacklist drops every blacklisted module it finds, however found.
	e.once.Do(func() {
		e.plan = c.planner.PlanLookup([]string{alias}, modload.LookupOptions{Blacklist: modload.BlacklistAll})
	})
	return e.plan
}

// Lookup answers names as modprobe does, without loading: what each finds
// and its probe list, for --show-depends and --dry-run.
func (c *Catalog) Lookup(names []string, o modload.LookupOptions) []modload.Lookup {
	return c.planner.Lookup(names, o)
}
