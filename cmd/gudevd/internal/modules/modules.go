package modules

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/gudevd/gudevd/modload"
	"github.com/gudevd/gudevd/workers"
	"golang.org/x/sys/unix"
)

// Runner runs one load job; in the daemon it is a workers.Pool, so a module
// that crashes or hangs its loader takes only a worker process with it.
type Runner interface {
	Run(ctx context.Context, job []byte) ([]byte, error)
	// Stats reports the runner's worker counters (crashes, timeouts).
	Stats() workers.PoolStats
}

// DefaultBackoff spaces the retries of a load that failed for lack of
// memory or whose worker timed out: two retries, after 250 ms and 1 s.
func DefaultBackoff() []time.Duration {
	return []time.Duration{250 * time.Millisecond, time.Second}
}

// Config configures Modules.
type Config struct {
	Log     *slog.Logger
	Catalog *Catalog // the module index; Modules closes it (Replace, Close)
	Runner  Runner
	// Parallel is how many steps of one plan may run at once.
	Parallel int
	// MaxLoads is how many loads run at once, the kernel's own requests
	// aside (see KernelReserve); 0 means no bound.
	MaxLoads int
	// Backoff is the wait before each retry of a transient failure; its
	// length is the number of retries. Nil means DefaultBackoff().
	Backoff []time.Duration
	// LedgerDir keeps the kernel's refusals across a restart (see
	// ledger); "" keeps none.
	LedgerDir string
}

// Modules turns module names into exactly one load each. Every module of a
// plan, dependencies included, is a key of one workers.Group: the first
// request for a module sends one job to the pool, every later request, from
// any CPU's uevent, a dependency of another module, `gudevd load` or the
// kernel's modprobe helper, waits for and shares that one result.
type Modules struct {
	log      *slog.Logger
	group    *workers.Group
	pool     Runner
	parallel int             // steps of one plan that may run at once
	backoff  []time.Duration // waits before the retries of a transient failure
	slots    *slots

	flightMu sync.Mutex         // guards flights
	flights  map[string]*flight // walks of one MODALIAS's plan in progress

	mu      sync.Mutex // guards the fields below
	cat     *Catalog
	lookups uint64
	retries uint64            // loads tried again after a transient failure
	loads   map[string]uint64 // load syscalls by result
	failed  map[string]string // module -> last error
	mods    map[string]*ModuleStats

	ledger    ledger
	inherited map[string][]byte // refusals under a previous daemon, by module (Inherit)
	fromPrev  uint64            // module runs answered from inherited
}

// flight is one walk of a MODALIAS's plan that identical events share.
type flight struct {
	done chan struct{} // closed when res is set
	res  []Result
}

// New returns Modules loading through cfg.Runner. Close it to wait for the
// loads in flight.
func New(cfg Config) *Modules {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Backoff == nil {
		cfg.Backoff = DefaultBackoff()
	}
	return &Modules{
		ledger:   ledger{dir: cfg.LedgerDir, log: cfg.Log},
		log:      cfg.Log,
		group:    workers.NewGroup(),
		pool:     cfg.Runner,
		parallel: max(cfg.Parallel, 1),
		backoff:  cfg.Backoff,
		slots:    newSlots(cfg.MaxLoads),
		flights:  map[string]*flight{},
		cat:      cfg.Catalog,
		loads:    map[string]uint64{},
		failed:   map[string]string{},
		mods:     map[string]*ModuleStats{},
	}
}

// pin returns the module index in use and its release. An index opened
// from depmod's .bin files (OpenCatalog) answers from mapped memory, so a
// Replace must not unmap the old one under a lookup still walking it: the
// old index is closed when its last pin is released.
func (m *Modules) pin() (*Catalog, func()) {
	m.mu.Lock()
	c := m.cat
	c.pins++
	m.mu.Unlock()
	return c, func() {
		m.mu.Lock()
		c.pins--
		done := c.pins == 0 && c.retired
		m.mu.Unlock()
		if done {
			m.closeCatalog(c)
		}
	}
}

func (m *Modules) closeCatalog(c *Catalog) {
	if err := c.Close(m.log); err != nil {
		m.log.Warn("close module index", "err", err)
	}
}

// Replace installs a new index, closing the old one once no lookup uses
// it, and returns how many failed results it dropped. Failed results are
// dropped: a module that was missing or broken may be fixed in the new
// tree. Successes stay: a loaded module stays loaded whatever the index
// says now.
func (m *Modules) Replace(cat *Catalog) int {
	m.mu.Lock()
	old := m.cat
	m.cat = cat
	old.retired = true
	done := old.pins == 0
	m.mu.Unlock()
	if done {
		m.closeCatalog(old)
	}
	m.mu.Lock()
	m.inherited = nil
	m.mu.Unlock()
	m.ledger.clear()
	return m.group.ForgetFailed()
}

// Plan is the index in use's plan for a MODALIAS (Catalog.Plan).
func (m *Modules) Plan(alias string) *modload.Plan {
	cat, release := m.pin()
	defer release()
	return cat.Plan(alias)
}

// LoadModalias loads every module a device's MODALIAS resolves to, with the
// udev path's blacklist applied.
func (m *Modules) LoadModalias(ctx context.Context, alias string) []Result {
	m.mu.Lock()
	m.lookups++
	m.mu.Unlock()
	plan := m.Plan(alias)
	if len(plan.Steps) == 0 && len(plan.Errors) == 0 && len(plan.Blacklisted) == 0 {
		return nil
	}
	return m.share(ctx, alias, plan)
}

// Walking reports whether a walk of alias's plan is running: a caller that
// needs nothing back from it (an event) can leave it at that.
func (m *Modules) Walking(alias string) bool {
	m.flightMu.Lock()
	defer m.flightMu.Unlock()
	_, ok := m.flights[alias]
	return ok
}

// share lets identical events that arrive together (one per CPU) share one
// walk of the plan: the group already makes every module load once, and
// this makes the storm's other events cost a wait instead of a goroutine per
// module each. The first caller walks the plan itself, so the walk has an
// owner that waits for it; it runs to its end even if that caller's ctx
// ends, since the others share it and a started load cannot be taken back.
func (m *Modules) share(ctx context.Context, alias string, plan *modload.Plan) []Result {
	m.flightMu.Lock()
	f, joined := m.flights[alias]
	if !joined {
		f = &flight{done: make(chan struct{})}
		m.flights[alias] = f
	}
	m.flightMu.Unlock()
	if !joined {
		f.res = m.run(context.WithoutCancel(ctx), plan, false)
		m.flightMu.Lock()
		delete(m.flights, alias)
		m.flightMu.Unlock()
		close(f.done)
		return f.res
	}
	select {
	case <-f.done:
		return f.res
	case <-ctx.Done():
		return nil
	}
}

// LoadNamed loads modules named by a person or by the kernel's
// request_module: each name is looked up as plain modprobe does
// (modload.BlacklistAliases), so a module named directly loads even if
// blacklisted, one found through an alias does not, and the options of
// that alias apply. retry asks again for modules whose earlier load failed.
func (m *Modules) LoadNamed(ctx context.Context, names []string, retry bool) ([]Result, error) {
	return m.LoadLookups(ctx, names, modload.LookupOptions{}, retry)
}

// LoadLookups is LoadNamed with the rest of modprobe's choices: -b
// (o.Blacklist) and parameters for the modules the names find (o.Params).
// A name that finds nothing is a failed Result; a blacklisted module is a
// "blacklisted" one, and not a failure, as modprobe exits 0 for it.
func (m *Modules) LoadLookups(ctx context.Context, names []string, o modload.LookupOptions, retry bool) ([]Result, error) {
	cat, release := m.pin()
	plan := cat.planner.PlanLookup(names, o)
	release()
	var res []Result
	for _, n := range plan.NotFound {
		res = append(res, Result{Module: n, Result: "failed", Error: fmt.Sprintf("find module %s: %v", n, modload.ErrUnknownModule)})
	}
	res = append(res, m.run(ctx, plan, retry)...)
	for _, r := range res {
		if r.Error != "" {
			return res, errors.New("some modules failed to load")
		}
	}
	return res, nil
}

// run executes a plan through the group.
func (m *Modules) run(ctx context.Context, plan *modload.Plan, retry bool) []Result {
	errs, ok := m.served(ctx, plan, retry)
	if !ok {
		errs = modload.Run(ctx, plan, m.parallel, func(ctx context.Context, s modload.Step) error {
			return m.loadStep(ctx, s, retry)
		})
	}
	out := make([]Result, 0, len(errs))
	for _, s := range plan.Steps {
		out = append(out, resultOf(s.Name, errs[s.Name]))
	}
	for _, name := range plan.UnknownSoftdeps {
		// A softdep naming no module fails nobody, as in modprobe.
		m.log.Debug("skip unknown softdep", "module", name)
	}
	for name, err := range plan.Errors {
		m.recordFailure(name, err)
		out = append(out, resultOf(name, err))
	}
	for _, name := range plan.Blacklisted {
		out = append(out, Result{Module: name, Result: "blacklisted"})
	}
	return out
}

// served answers a plan whose every module has already been asked for, the
// common case in a storm: the first CPU's event starts the loads and the
// other CPUs' events wait for them in plan order, one goroutine each, instead
// of a goroutine per module per event. Waiting in order is safe: a module
// in the group was started only after its dependencies succeeded. A retry
// always takes the full path, since it may run failed modules again.
func (m *Modules) served(ctx context.Context, plan *modload.Plan, retry bool) (map[string]error, bool) {
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

func resultOf(name string, err error) Result {
	if err != nil {
		return Result{Module: name, Result: "failed", Error: err.Error()}
	}
	return Result{Module: name, Result: "loaded"}
}

// loadStep asks the group for one module. Only the request that starts the
// run sends a job; the others share its outcome.
func (m *Modules) loadStep(ctx context.Context, s modload.Step, retry bool) error {
	if isKernelRequest(ctx) {
		defer m.slots.urge(s.Name)()
	}
	do := m.group.Do
	if retry {
		do = m.group.Retry
	}
	_, err, how := do(ctx, s.Name, func(ctx context.Context) ([]byte, error) {
		if retry {
			m.dropInherited(s.Name)
		} else if out, err, ok := m.inheritedRefusal(s.Name); ok {
			return out, err
		}
		return m.runStep(ctx, s)
	})
	if how != workers.Started {
		m.log.Debug("share module load", "module", s.Name, "how", how.String(), "err", err)
	}
	return err
}

// Inherit reads the ledger a previous daemon's workers wrote: their
// refusals are answered from it, with no syscall. The daemon calls it once
// no previous daemon's worker is left (waitOrphans), so that a refusal
// such a worker writes at the end of its syscall is read too.
func (m *Modules) Inherit() {
	in := m.ledger.load()
	m.mu.Lock()
	m.inherited = in
	m.mu.Unlock()
}

// inheritedRefusal answers a module's run from the ledger of a previous
// daemon, with no worker and no syscall: the kernel refused it this boot.
func (m *Modules) inheritedRefusal(name string) ([]byte, error, bool) {
	m.mu.Lock()
	out, ok := m.inherited[name]
	if ok {
		m.fromPrev++
	}
	m.mu.Unlock()
	if !ok {
		return nil, nil, false
	}
	_, loadErr, _ := modload.UnmarshalResult(out) // checked at load
	err := fmt.Errorf("%w (refused under a previous daemon this boot; gudevd load or control --reload tries again)", loadErr)
	m.recordFailure(name, err)
	m.log.Warn("load module", "module", name, "result", "failed", "err", err)
	return out, err, true
}

func (m *Modules) dropInherited(name string) {
	m.mu.Lock()
	delete(m.inherited, name)
	m.mu.Unlock()
	m.ledger.drop(name)
}

// runStep is the one run of a module's load. Built-in modules need no
// worker: the kernel has them already.
func (m *Modules) runStep(ctx context.Context, s modload.Step) ([]byte, error) {
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
		if !transient(err) || attempt == len(m.backoff)+1 {
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
		case <-time.After(m.backoff[attempt-1]):
		case <-ctx.Done():
			return out, err
		}
	}
}

// transient reports a load failure that says nothing about the module: the
// kernel ran short of memory (vmalloc space, the module per-CPU reserve) or
// asked to try again. Caching it would leave a needed module, and everything
// that depends on it, unloaded for the daemon's lifetime; retrying it costs a
// syscall that is not a duplicate, since the first one loaded nothing.
//
// A worker that overran the event timeout is transient too: its syscall may
// still be running in the kernel, so the retry waits until that worker is
// reaped (see waitReaped) and its worker then finds the module live or
// absent; its dependants still load. So is a worker killed from outside
// (killedWorker).
func transient(err error) bool {
	return errors.Is(err, unix.ENOMEM) || errors.Is(err, unix.EAGAIN) || errors.Is(err, workers.ErrTimeout) || killedWorker(err)
}

// killedWorker reports a job whose worker was SIGKILLed, or died and was not
// reaped in time to tell: the OOM killer, an administrator or a test killed
// a process that said nothing about the module. Caching that as the
// module's failure would leave it and its dependants out, though the
// kernel may even have loaded it (a SIGKILL does not interrupt
// finit_module; the worker dies when the syscall returns). The retry, once
// the worker is reaped, finds the module live (no second syscall) or
// absent. A worker that died otherwise is not retried: one whose module's
// init oopsed is ended by the kernel with SIGSEGV and leaves the module
// "coming" for good, and a retry would wait on it until the event timeout.
func killedWorker(err error) bool {
	var de *workers.WorkerDiedError
	if !errors.As(err, &de) {
		return false
	}
	if de.State == nil {
		return true
	}
	sig, ok := de.Signal()
	return ok && sig == unix.SIGKILL
}

// waitReaped waits, after a timeout or a killed worker, until the worker is
// gone. Its finit_module may still be in the kernel's early phase, before
// sysfs shows the module as coming; a retry then would be a second load of
// it. Once the process is reaped its syscall has returned, and the retry's
// worker sees the module live, or absent and free to load.
func waitReaped(ctx context.Context, err error) error {
	var reaped <-chan struct{}
	var te *workers.TimeoutError
	var de *workers.WorkerDiedError
	switch {
	case errors.As(err, &te):
		reaped = te.Reaped
	case errors.As(err, &de):
		reaped = de.Reaped
	}
	if reaped == nil {
		return nil
	}
	select {
	case <-reaped:
		return nil
	case <-ctx.Done():
		return err
	}
}

// attempt sends one load job to the pool and records its outcome.
func (m *Modules) attempt(ctx context.Context, s modload.Step, job []byte) ([]byte, error) {
	release, err := m.slots.acquire(ctx, s.Name)
	if err != nil {
		return nil, fmt.Errorf("load module %s: wait for a load slot: %w", s.Name, err)
	}
	start := time.Now()
	out, err := m.pool.Run(ctx, job)
	release()
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
func (m *Modules) record(r modload.Result, err error) {
	label := r.SyscallOutcome(err)
	m.mu.Lock()
	ms := m.moduleLocked(r.Module)
	ms.Millis = float64(r.Duration.Microseconds()) / 1000
	ms.Bytes += uint64(r.BytesRead)
	if label != "" {
		ms.Syscalls++
		m.loads[label]++
	}
	ms.Result = r.Outcome(err)
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

func (m *Modules) recordFailure(name string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.moduleLocked(name).Result = "failed"
	m.failed[name] = err.Error()
}

func (m *Modules) moduleLocked(name string) *ModuleStats {
	ms, ok := m.mods[name]
	if !ok {
		ms = &ModuleStats{}
		m.mods[name] = ms
	}
	return ms
}

// Forget drops a module's result when the kernel says it was removed, so
// the next request loads it again. A module whose init failed is removed
// too (the kernel sends remove for /module/NAME as it unwinds): that result
// stays, or every later CPU's event would retry the failing load.
func (m *Modules) Forget(name string) {
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

// Stats returns the module counters.
func (m *Modules) Stats() Stats {
	var s Stats
	g := m.group.Stats()
	s.ModuleRequests = g.Requests
	s.JoinedInFlight = g.Joined
	s.ServedFromDone = g.Served
	cat, release := m.pin()
	s.IndexProblems = cat.index.Stats().Problems
	release()
	ps := m.pool.Stats()
	s.WorkerCrashes = ps.Died
	s.WorkerIdleDeaths = ps.IdleDied
	s.WorkerTimeouts = ps.TimedOut
	keys := m.group.KeyStats()
	m.mu.Lock()
	defer m.mu.Unlock()
	s.ModaliasLookups = m.lookups
	s.LoadRetries = m.retries
	s.LoadSyscalls = maps.Clone(m.loads)
	s.Failed = maps.Clone(m.failed)
	s.InheritedFailures = m.fromPrev
	s.Modules = make(map[string]*ModuleStats, len(m.mods))
	for k, v := range m.mods {
		c := *v
		c.Requests = keys[k].Requests
		s.Modules[k] = &c
	}
	return s
}

// Close waits for runs in flight, so no load is abandoned half-recorded,
// and closes the module index once no lookup uses it.
func (m *Modules) Close(ctx context.Context) error {
	err := m.group.Close(ctx)
	m.mu.Lock()
	c := m.cat
	c.retired = true
	done := c.pins == 0
	m.mu.Unlock()
	if done {
		m.closeCatalog(c)
	}
	return err
}
