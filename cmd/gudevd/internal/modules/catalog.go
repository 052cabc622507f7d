package modules

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
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
	deps    *modload.Deps
	planner *modload.Planner

	mu    sync.Mutex // guards plans
	plans map[string]*aliasPlan
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

// LoadCatalog reads the module index, modules.dep and modprobe.d of t. A
// damaged modules.dep line loses only the modules on it: the rest of the
// tree still loads, and the damage is logged.
func LoadCatalog(log *slog.Logger, t Tree, cmdline string) (*Catalog, error) {
	mfs := os.DirFS(t.Dir)
	idx, err := modalias.Load(modalias.Sources{Modules: mfs, Root: os.DirFS(t.Root), Cmdline: cmdline})
	if err != nil {
		return nil, fmt.Errorf("load module index: %w", err)
	}
	deps, err := modload.LoadDeps(mfs)
	if deps == nil {
		return nil, fmt.Errorf("load module dependencies: %w", err)
	}
	if err != nil {
		log.Warn("skip damaged modules.dep lines", "err", err)
	}
	return NewCatalog(idx, deps), nil
}

// NewCatalog plans with idx's own configuration.
func NewCatalog(idx *modalias.Index, deps *modload.Deps) *Catalog {
	return (&Catalog{index: idx, deps: deps}).withConfig(idx.Config())
}

// planAlias resolves a MODALIAS and plans its modules, once per distinct
// string: every CPU of a machine sends the same CPU modalias, and resolving
// and planning it (~160 µs on Debian's index) for each of 4096 CPUs would be
// most of the daemon's work. Plans are immutable, so callers share them.
func (c *Catalog) planAlias(alias string) *modload.Plan {
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
	e.once.Do(func() { e.plan = c.planner.Plan(c.index.Resolve(alias)) })
	return e.plan
}

// Plan resolves a MODALIAS and plans its modules, as a uevent does.
func (c *Catalog) Plan(modalias string) *modload.Plan { return c.planAlias(modalias) }

// withConfig returns the catalog planning with cfg instead of the index's
// own configuration.
func (c *Catalog) withConfig(cfg *modalias.Config) *Catalog {
	return &Catalog{
		index:   c.index,
		deps:    c.deps,
		planner: modload.NewPlanner(c.deps, cfg, c.index.Builtin, modload.WithAliases(c.index.Lookup)),
	}
}

// WithParams returns the catalog with params appended to module name's
// options, as `modprobe NAME param=value` does.
func (c *Catalog) WithParams(name, params string) *Catalog {
	cfg := *c.index.Config()
	opts := make(map[string]string, len(cfg.Options)+1)
	for k, v := range cfg.Options {
		opts[k] = v
	}
	key := strings.ReplaceAll(name, "-", "_")
	opts[key] = strings.TrimSpace(opts[key] + " " + params)
	cfg.Options = opts
	return c.withConfig(&cfg)
}
