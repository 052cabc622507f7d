package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gudevd/gudevd/modalias"
	"github.com/gudevd/gudevd/modload"
	"github.com/gudevd/gudevd/workers"
	"golang.org/x/sync/singleflight"
	"golang.org/x/sys/unix"
)

// runner runs one load job; in the daemon it is a workers.Pool, so a module
// that crashes or hangs its loader takes only a worker process with it.
type runner interface {
	Run(ctx context.Context, job []byte) ([]byte, error)
}

// catalog is one generation of the module index: what a reload replaces.
type catalog struct {
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

// planAlias resolves a MODALIAS and plans its modules, once per distinct
// string: every CPU of a machine sends the same CPU modalias, and resolving
// and planning it (~160 µs on Debian's index) for each of 4096 CPUs would be
// most of the daemon's work. Plans are immutable, so callers share them.
func (c *catalog) planAlias(alias string) *modload.Plan {
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

// withConfig returns the catalog planning with cfg instead of the index's
// own configuration.
func (c *catalog) withConfig(cfg *modalias.Config) *catalog {
	return &catalog{
		index:   c.index,
		deps:    c.deps,
		planner: modload.NewPlanner(c.deps, cfg, c.index.Builtin, modload.WithAliases(c.index.Lookup)),
	}
}

// modules turns module names into exactly one load each. Every module of a
// plan, dependencies included, is a key of one workers.Group: the first
// request for a module sends one job to the pool, every later request, from
// any CPU's uevent, a dependency of another module, `gudevd load` or the
// kernel's modprobe helper, waits for and shares that one result.
type modules struct {
	log      *slog.Logger
	group    *workers.Group
	flights  singleflight.Group // walks of one MODALIAS's plan in progress
	pool     runner
	parallel int // steps of one plan that may run at once

	mu      sync.Mutex // guards the fields below
	cat     *catalog
	lookups uint64
	retries uint64            // loads tried again after a transient failure
	loads   map[string]uint64 // load syscalls by result
	failed  map[string]string // module -> last error
	mods    map[string]*moduleStats
}

func newModules(log *slog.Logger, cat *catalog, pool runner, parallel int) *modules {
	return &modules{
		log:      log,
		group:    workers.NewGroup(),
		pool:     pool,
		parallel: parallel,
		cat:      cat,
		loads:    map[string]uint64{},
		failed:   map[string]string{},
		mods:     map[string]*moduleStats{},
	}
}

func (m *modules) catalog() *catalog {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cat
}

// replace installs a new index. Failed results are dropped: a module that
// was missing or broken may be fixed in the new tree. Successes stay: a
// loaded module stays loaded whatever the index says now.
func (m *modules) replace(cat *catalog) int {
	m.mu.Lock()
	m.cat = cat
	m.mu.Unlock()
	return m.group.ForgetFailed()
}

// loadModalias loads every module a device's MODALIAS resolves to, with the
// udev path's blacklist applied.
func (m *modules) loadModalias(ctx context.Context, alias string) []loadResult {
	cat := m.catalog()
	m.mu.Lock()
	m.lookups++
	m.mu.Unlock()
	plan := cat.planAlias(alias)
	if len(plan.Steps) == 0 && len(plan.Errors) == 0 && len(plan.Blacklisted) == 0 {
		return nil
	}
	// Identical events that arrive together (one per CPU) share one walk of
	// the plan: the group already makes every module load once, and this
	// makes the storm's other events cost a wait instead of a goroutine per
	// module each. The walk must not end with the caller that started it.
	ch := m.flights.DoChan(alias, func() (any, error) {
		return m.run(context.WithoutCancel(ctx), plan, false), nil
	})
	select {
	case r := <-ch:
		return r.Val.([]loadResult)
	case <-ctx.Done():
		return nil
	}
}

// loadNamed loads modules named by a person or by the kernel's
// request_module: each name is looked up as plain modprobe does, so a module
// named directly ignores the blacklist and an alias honours it. retry asks
// again for modules whose earlier load failed.
func (m *modules) loadNamed(ctx context.Context, names []string, retry bool) ([]loadResult, error) {
	cat := m.catalog()
	var resolved []string
	var missing []loadResult
	for _, n := range names {
		got := cat.index.Lookup(n)
		if len(got) == 0 {
			missing = append(missing, loadResult{Module: n, Result: "failed", Error: fmt.Sprintf("find module %s: %v", n, modload.ErrUnknownModule)})
			continue
		}
		resolved = append(resolved, got...)
	}
	res := append(missing, m.load(ctx, cat, resolved, retry)...)
	for _, r := range res {
		if r.Error != "" {
			return res, errors.New("some modules failed to load")
		}
	}
	return res, nil
}

// load plans names and runs the plan through the group.
func (m *modules) load(ctx context.Context, cat *catalog, names []string, retry bool) []loadResult {
	return m.run(ctx, cat.planner.Plan(names), retry)
}

// run executes a plan through the group.
func (m *modules) run(ctx context.Context, plan *modload.Plan, retry bool) []loadResult {
	errs, ok := m.served(ctx, plan, retry)
	if !ok {
		errs = modload.Run(ctx, plan, m.parallel, func(ctx context.Context, s modload.Step) error {
			return m.loadStep(ctx, s, retry)
		})
	}
	out := make([]loadResult, 0, len(errs))
	for _, s := range plan.Steps {
		out = append(out, resultOf(s.Name, errs[s.Name]))
	}
	for name, err := range plan.Errors {
		var me *modload.ModuleError
		if errors.As(err, &me) && me.Op == "plan softdep" {
			// A softdep naming no module fails nobody, as in modprobe.
			m.log.Debug("skip unknown softdep", "module", name, "err", err)
			continue
		}
		m.recordFailure(name, err)
		out = append(out, resultOf(name, err))
	}
	for _, name := range plan.Blacklisted {
		out = append(out, loadResult{Module: name, Result: "blacklisted"})
	}
	return out
}

// served answers a plan whose every module has already been asked for, the
// common case in a storm: the first CPU's event starts the loads and the
// other CPUs' events wait for them in plan order, one goroutine each, instead
// of a goroutine per module per event. Waiting in order is safe: a module
// in the group was started only after its dependencies succeeded. A retry
// always takes the full path, since it may run failed modules again.
func (m *modules) served(ctx context.Context, plan *modload.Plan, retry bool) (map[string]error, bool) {
	if retry {
		return nil, false
	}
	for _, s := range plan.Steps {
		if !m.group.Has(s.Name) {
			return nil, false
		}
	}
	errs := make(map[string]error, len(plan.Steps)+len(plan.Errors))
	for name, err := range plan.Errors {
		errs[name] = err
	}
	for _, s := range plan.Steps {
		errs[s.Name] = m.loadStep(ctx, s, false)
	}
	return errs, true
}

func resultOf(name string, err error) loadResult {
	if err != nil {
		return loadResult{Module: name, Result: "failed", Error: err.Error()}
	}
	return loadResult{Module: name, Result: "loaded"}
}

// loadStep asks the group for one module. Only the request that starts the
// run sends a job; the others share its outcome.
func (m *modules) loadStep(ctx context.Context, s modload.Step, retry bool) error {
	do := m.group.Do
	if retry {
		do = m.group.Retry
	}
	_, err, how := do(ctx, s.Name, func(ctx context.Context) ([]byte, error) {
		return m.runStep(ctx, s)
	})
	if how != workers.Started {
		m.log.Debug("share module load", "module", s.Name, "how", how.String(), "err", err)
	}
	return err
}

// runStep is the one run of a module's load. Built-in modules need no
// worker: the kernel has them already.
func (m *modules) runStep(ctx context.Context, s modload.Step) ([]byte, error) {
	if s.Builtin {
		m.record(modload.Result{Module: s.Name, Skipped: modload.SkipBuiltin}, nil)
		return nil, nil
	}
	job, err := modload.MarshalStep(s)
	if err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		out, err := m.attempt(ctx, s, job)
		if !transient(err) || attempt == len(retryBackoff)+1 {
			return out, err
		}
		m.mu.Lock()
		m.retries++
		m.mu.Unlock()
		m.log.Warn("retry module load", "module", s.Name, "attempt", attempt, "err", err)
		if err := waitReaped(ctx, err); err != nil {
			return out, err
		}
		select {
		case <-time.After(retryBackoff[attempt-1]):
		case <-ctx.Done():
			return out, err
		}
	}
}

// retryBackoff spaces the retries of a load that failed for lack of memory.
var retryBackoff = []time.Duration{250 * time.Millisecond, time.Second}

// transient reports a load failure that says nothing about the module: the
// kernel ran short of memory (vmalloc space, the module per-CPU reserve) or
// asked to try again. Caching it would leave a needed module, and everything
// that depends on it, unloaded for the daemon's lifetime; retrying it costs a
// syscall that is not a duplicate, since the first one loaded nothing.
//
// A worker that overran the event timeout is transient too: its syscall may
// still be running in the kernel, so the retry waits until that worker is
// reaped (see waitReaped) and its worker then finds the module live or
// absent; its dependants still load.
func transient(err error) bool {
	return errors.Is(err, unix.ENOMEM) || errors.Is(err, unix.EAGAIN) || errors.Is(err, workers.ErrTimeout)
}

// waitReaped waits, after a timeout, until the killed worker is gone. Its
// finit_module may still be in the kernel's early phase, before sysfs shows
// the module as coming; a retry then would be a second load of it. Once the
// process is reaped its syscall has returned, and the retry's worker sees
// the module live, or absent and free to load.
func waitReaped(ctx context.Context, err error) error {
	var te *workers.TimeoutError
	if !errors.As(err, &te) {
		return nil
	}
	select {
	case <-te.Reaped:
		return nil
	case <-ctx.Done():
		return err
	}
}

// attempt sends one load job to the pool and records its outcome.
func (m *modules) attempt(ctx context.Context, s modload.Step, job []byte) ([]byte, error) {
	start := time.Now()
	out, err := m.pool.Run(ctx, job)
	if err != nil {
		// The worker died or timed out: no result came back, and whether the
		// kernel got the syscall is unknown. Count it as a failure of this
		// module only.
		err = fmt.Errorf("load module %s: %w", s.Name, err)
		m.record(modload.Result{Module: s.Name, Duration: time.Since(start)}, err)
		return nil, err
	}
	r, loadErr, derr := modload.UnmarshalResult(out)
	if derr != nil {
		err := fmt.Errorf("decode result of module %s: %w", s.Name, derr)
		m.record(modload.Result{Module: s.Name}, err)
		return nil, err
	}
	m.record(r, loadErr)
	return out, loadErr
}

// record counts one finished load and logs it: one line per module.
func (m *modules) record(r modload.Result, err error) {
	label := syscallLabel(r, err)
	m.mu.Lock()
	ms := m.moduleLocked(r.Module)
	ms.Millis = float64(r.Duration.Microseconds()) / 1000
	ms.Bytes += uint64(r.BytesRead)
	if label != "" {
		ms.Syscalls++
		m.loads[label]++
	}
	ms.Result = outcome(r, err)
	if err != nil {
		m.failed[r.Module] = err.Error()
	} else {
		delete(m.failed, r.Module)
	}
	m.mu.Unlock()

	attrs := []any{"module", r.Module, "result", ms.Result, "duration", r.Duration.Round(time.Microsecond)}
	if r.Syscall != "" {
		attrs = append(attrs, "syscall", r.Syscall)
	}
	if err != nil {
		m.log.Warn("load module", append(attrs, "err", err)...)
		return
	}
	m.log.Info("load module", attrs...)
}

func (m *modules) recordFailure(name string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.moduleLocked(name).Result = "failed"
	m.failed[name] = err.Error()
}

func (m *modules) moduleLocked(name string) *moduleStats {
	ms, ok := m.mods[name]
	if !ok {
		ms = &moduleStats{}
		m.mods[name] = ms
	}
	return ms
}

// forget drops a module's result when the kernel says it was removed, so
// the next request loads it again. A module whose init failed is removed
// too (the kernel sends remove for /module/NAME as it unwinds): that result
// stays, or every later CPU's event would retry the failing load.
func (m *modules) forget(name string) {
	m.mu.Lock()
	_, failed := m.failed[name]
	m.mu.Unlock()
	if failed {
		return
	}
	if m.group.Forget(name) {
		m.log.Debug("forget module", "module", name)
	}
}

// syscallLabel names the outcome of the load syscall, or "" when none was
// made (already live, built in, an install command, a failure before it).
func syscallLabel(r modload.Result, err error) string {
	if r.Syscall == "" {
		var me *modload.ModuleError
		if errors.As(err, &me) && (me.Op == modload.SyscallFinit || me.Op == modload.SyscallInit) {
			return errnoName(err)
		}
		return ""
	}
	switch {
	case err != nil:
		return errnoName(err)
	case r.Exists:
		return "eexist"
	}
	return "ok"
}

func errnoName(err error) string {
	var errno unix.Errno
	if errors.As(err, &errno) {
		if name := unix.ErrnoName(errno); name != "" {
			return name
		}
		return fmt.Sprintf("errno %d", int(errno))
	}
	return "error"
}

func outcome(r modload.Result, err error) string {
	switch {
	case err != nil:
		return "failed"
	case r.Skipped != "":
		return r.Skipped
	case r.Exists:
		return "eexist"
	case r.Install:
		return "install"
	case r.Waited:
		return "waited"
	}
	return "loaded"
}

// fill copies the module counters into s.
func (m *modules) fill(s *stats) {
	g := m.group.Stats()
	s.ModuleRequests = g.Requests
	s.JoinedInFlight = g.Joined
	s.ServedFromDone = g.Served
	keys := m.group.KeyStats()
	m.mu.Lock()
	defer m.mu.Unlock()
	s.ModaliasLookups = m.lookups
	s.LoadRetries = m.retries
	s.LoadSyscalls = make(map[string]uint64, len(m.loads))
	for k, v := range m.loads {
		s.LoadSyscalls[k] = v
	}
	s.Failed = make(map[string]string, len(m.failed))
	for k, v := range m.failed {
		s.Failed[k] = v
	}
	s.Modules = make(map[string]*moduleStats, len(m.mods))
	for k, v := range m.mods {
		c := *v
		c.Requests = keys[k].Requests
		s.Modules[k] = &c
	}
}

// close waits for runs in flight, so no load is abandoned half-recorded.
func (m *modules) close(ctx context.Context) error {
	return m.group.Close(ctx)
}
