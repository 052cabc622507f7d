package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gudevd/gudevd/uevent"
	"github.com/gudevd/gudevd/workers"
)

// eventSource is the kernel's uevent socket as the daemon uses it.
type eventSource interface {
	Receive(ctx context.Context) (*uevent.Event, error)
	Stats() uevent.Stats
}

// daemon listens to the kernel, resolves every MODALIAS in this process and
// hands unique module names to the pool through the modules group.
type daemon struct {
	log      *slog.Logger
	level    *slog.LevelVar
	src      eventSource
	queue    *uevent.Queue
	mods     *modules
	sysfs    fs.FS
	children int // events handled at once
	reload   func() error

	coldplugged chan struct{} // closed once coldplug has asked for every event
	exitReq     chan struct{} // closed by `gudevd control --exit`
	exitOnce    sync.Once
	stopped     chan struct{} // closed when every job has finished and the pool is closed

	mu       sync.Mutex // guards the fields below
	lastSeq  uint64     // highest SEQNUM received, or covered by a resync
	busy     int        // module work outside the queue: scans, resyncs, load requests
	resyncs  uint64
	malforms uint64
}

// readSeqnum reads the SEQNUM of the last uevent the kernel sent: settle
// waits until the daemon has seen that one.
func (d *daemon) readSeqnum() (uint64, error) {
	b, err := fs.ReadFile(d.sysfs, "kernel/uevent_seqnum")
	if err != nil {
		return 0, fmt.Errorf("read kernel uevent seqnum: %w", err)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse kernel uevent seqnum: %w", err)
	}
	return n, nil
}

func (d *daemon) seen(seq uint64) {
	d.mu.Lock()
	if seq > d.lastSeq {
		d.lastSeq = seq
	}
	d.mu.Unlock()
}

// hold marks module work that runs outside the event queue, so settle waits
// for it too; the returned func ends it.
func (d *daemon) hold() func() {
	d.mu.Lock()
	d.busy++
	d.mu.Unlock()
	return func() {
		d.mu.Lock()
		d.busy--
		d.mu.Unlock()
	}
}

// receive reads uevents until ctx ends. An overflow (ENOBUFS) lost events:
// reading on alone would miss their modules, so every device's modalias is
// read from sysfs again and sent through the same path.
func (d *daemon) receive(ctx context.Context, wg *sync.WaitGroup) {
	for {
		ev, err := d.src.Receive(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, uevent.ErrOverflow):
			d.log.Warn("uevent receive buffer overflowed; resynchronising from sysfs")
			wg.Add(1)
			go func() {
				defer wg.Done()
				d.resync(ctx)
			}()
			continue
		case err != nil:
			d.log.Error("receive uevent", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		if err := d.queue.Push(ev); err != nil {
			d.mu.Lock()
			d.malforms++
			d.mu.Unlock()
			d.log.Warn("queue uevent", "seqnum", ev.Seqnum, "devpath", ev.DevPath, "err", err)
		}
		// Only once the event is queued: settle reads "seen and the queue
		// empty" as "handled".
		d.seen(ev.Seqnum)
	}
}

// startEvents starts receiving and dispatching events until ctx ends; wg
// counts the goroutines, and those they start, for the caller to wait on.
func (d *daemon) startEvents(ctx context.Context, wg *sync.WaitGroup) {
	wg.Add(2)
	go func() { defer wg.Done(); d.receive(ctx, wg) }()
	go func() { defer wg.Done(); d.dispatch(ctx) }()
}

// dispatch hands runnable events to at most d.children handlers at once and
// waits for them before returning.
func (d *daemon) dispatch(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, d.children)
	for {
		ev, err := d.queue.Next(ctx)
		if err != nil {
			return
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			d.queue.Done(ev)
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			// A started event runs to its end even when the daemon stops:
			// its module load cannot be taken back, and the pool's timeout
			// bounds it.
			d.handle(context.WithoutCancel(ctx), ev)
			d.queue.Done(ev)
		}()
	}
}

// handle does what 80-drivers.rules does for an event, and forgets a module
// the kernel removed so that a later request loads it again.
func (d *daemon) handle(ctx context.Context, ev *uevent.Event) {
	if ev.Subsystem == "module" && ev.Action == uevent.ActionRemove {
		d.mods.forget(path.Base(ev.DevPath))
		return
	}
	if ev.Action != uevent.ActionAdd {
		return
	}
	if alias := ev.Get("MODALIAS"); alias != "" {
		d.mods.loadModalias(ctx, alias)
	}
}

// scan loads the modules of every device in sysfs without a round trip
// through the kernel: the coldplug of an initramfs, and the resync after an
// overflow. Devices that share a MODALIAS (one per CPU) cost one lookup.
func (d *daemon) scan(ctx context.Context) error {
	defer d.hold()()
	devs, err := uevent.Scan(d.sysfs)
	if err != nil {
		return fmt.Errorf("scan sysfs: %w", err)
	}
	seen := map[string]bool{}
	var wg sync.WaitGroup
	sem := make(chan struct{}, d.children)
	for _, dev := range devs {
		if dev.Modalias == "" || seen[dev.Modalias] {
			continue
		}
		seen[dev.Modalias] = true
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			d.mods.loadModalias(ctx, dev.Modalias)
		}()
	}
	wg.Wait()
	return nil
}

func (d *daemon) resync(ctx context.Context) {
	release := d.hold()
	defer release()
	seq, seqErr := d.readSeqnum()
	if err := d.scan(ctx); err != nil {
		d.log.Error("resynchronise after overflow", "err", err)
		return
	}
	d.mu.Lock()
	d.resyncs++
	d.mu.Unlock()
	// Every event up to seq was either received or lost; a lost one's device
	// was just scanned, so settle must not wait for it.
	if seqErr == nil {
		d.seen(seq)
	}
}

// coldplug asks for the modules of every device present at start.
func (d *daemon) coldplug(ctx context.Context, mode, sysRoot string) {
	defer close(d.coldplugged)
	switch mode {
	case "":
	case "scan":
		if err := d.scan(ctx); err != nil {
			d.log.Error("coldplug", "err", err)
		}
	case "trigger":
		res, err := uevent.Trigger(ctx, uevent.TriggerOptions{Root: sysRoot})
		if err != nil {
			d.log.Error("coldplug trigger", "err", err)
			return
		}
		d.log.Info("coldplug trigger", "uuid", res.UUID, "written", len(res.DevPaths), "failed", len(res.Failed))
	}
}

// settle waits until coldplug has been asked for, the daemon has received
// every uevent the kernel sent before the call, the queue is empty and no
// module work is running.
func (d *daemon) settle(ctx context.Context) error {
	select {
	case <-d.coldplugged:
	case <-ctx.Done():
		return ctx.Err()
	}
	target, err := d.readSeqnum()
	if err != nil {
		return err
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		d.mu.Lock()
		done := d.lastSeq >= target && d.busy == 0
		d.mu.Unlock()
		if done && d.queue.Len() == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for events up to seqnum %d: %w", target, ctx.Err())
		case <-tick.C:
		}
	}
}

func (d *daemon) requestExit() {
	d.exitOnce.Do(func() { close(d.exitReq) })
}

// serveControl answers one control request.
func (d *daemon) serveControl(ctx context.Context, req request) reply {
	switch req.Op {
	case "settle":
		if err := d.settle(ctx); err != nil {
			return reply{Error: err.Error()}
		}
		return reply{}
	case "stats":
		return reply{Stats: d.stats()}
	case "load", "modprobe":
		defer d.hold()()
		res, err := d.mods.loadNamed(ctx, req.Modules, req.Op == "load")
		if err != nil {
			return reply{Results: res, Error: err.Error()}
		}
		return reply{Results: res}
	case "reload":
		if err := d.reload(); err != nil {
			return reply{Error: err.Error()}
		}
		return reply{}
	case "log-level":
		var l slog.Level
		if err := l.UnmarshalText([]byte(syslogToSlog(req.LogLevel))); err != nil {
			return reply{Error: fmt.Sprintf("set log level: %v", err)}
		}
		d.level.Set(l)
		return reply{}
	case "exit":
		d.requestExit()
		select {
		case <-d.stopped:
			return reply{}
		case <-ctx.Done():
			return reply{Error: "exit: the client went away before the daemon stopped"}
		}
	}
	return reply{Error: fmt.Sprintf("unknown control request %q", req.Op)}
}

func (d *daemon) stats() *stats {
	var s stats
	cs := d.src.Stats()
	s.EventsReceived = cs.Received
	s.EventsDroppedCreds = cs.DroppedCredentials
	s.EventsMalformed = cs.Malformed
	s.Overflows = cs.Overflows
	d.mu.Lock()
	s.Resyncs = d.resyncs
	s.EventsMalformed += d.malforms
	d.mu.Unlock()
	s.EventsQueued = d.queue.Len()
	d.mods.fill(&s)
	if p, ok := d.mods.pool.(*workers.Pool); ok {
		ps := p.Stats()
		s.WorkerCrashes = ps.Died
		s.WorkerTimeouts = ps.TimedOut
	}
	return &s
}

// daemonFlags are `gudevd daemon`'s settings.
type daemonFlags struct {
	coldplug       string
	root           string
	sysfs          string
	modulesDir     string
	control        string
	children       int
	loadWorkers    int
	eventTimeout   time.Duration
	kernelModprobe bool
	logLevel       string
}

// coldplugFlag accepts --coldplug alone (trigger) or --coldplug=trigger|scan.
type coldplugFlag struct{ mode *string }

func (c coldplugFlag) String() string {
	if c.mode == nil {
		return ""
	}
	return *c.mode
}
func (c coldplugFlag) IsBoolFlag() bool { return true }
func (c coldplugFlag) Set(s string) error {
	switch s {
	case "true", "trigger":
		*c.mode = "trigger"
	case "scan":
		*c.mode = "scan"
	case "false":
		*c.mode = ""
	default:
		return fmt.Errorf("want trigger or scan, got %q", s)
	}
	return nil
}

func parseDaemonFlags(e *env, args []string) (daemonFlags, error) {
	var f daemonFlags
	fs := newFlags(e, "daemon")
	fs.Var(coldplugFlag{&f.coldplug}, "coldplug", "load the modules of the devices present at start: `trigger` (default) or scan")
	fs.StringVar(&f.root, "root", "/", "root `DIR` for the module tree and modprobe.d")
	fs.StringVar(&f.sysfs, "sysfs", "/sys", "sysfs mount `DIR`")
	fs.StringVar(&f.modulesDir, "modules-dir", "", "module tree `DIR` (default ROOT/lib/modules/$(uname -r))")
	fs.StringVar(&f.control, "control", defaultControl, "control socket `PATH`")
	fs.IntVar(&f.children, "children-max", 0, "events handled at once `N` (default min(2*CPUs+16, RAM/128MiB, 2048))")
	fs.IntVar(&f.loadWorkers, "load-workers", 0, "module loads at once `N` (default min(children-max, CPUs+2, 8))")
	fs.DurationVar(&f.eventTimeout, "event-timeout", workers.DefaultTimeout, "kill a worker whose load runs longer than `DUR`")
	fs.BoolVar(&f.kernelModprobe, "kernel-modprobe", false, "point /proc/sys/kernel/modprobe at gudevd while running")
	fs.StringVar(&f.logLevel, "log-level", "info", "log `LEVEL`: debug, info, warning, err")
	if err := parseFlags(fs, args); err != nil {
		return f, err
	}
	return f, nil
}

// applyKnobs lets the kernel command line override the defaults, as udevd's
// udev.children_max= does; explicit flags win over both.
func (f *daemonFlags) applyKnobs(k knobs, set map[string]bool) {
	if k.childrenMax > 0 && !set["children-max"] {
		f.children = k.childrenMax
	}
	if k.eventTimeout > 0 && !set["event-timeout"] {
		f.eventTimeout = k.eventTimeout
	}
}

func cmdDaemon(ctx context.Context, e *env, args []string) error {
	f, err := parseDaemonFlags(e, args)
	if err != nil {
		return err
	}
	level := new(slog.LevelVar)
	if err := level.UnmarshalText([]byte(syslogToSlog(f.logLevel))); err != nil {
		return fmt.Errorf("parse --log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	cmdline := readCmdline()
	k, errs := parseKnobs(cmdline)
	for _, err := range errs {
		log.Warn("ignore kernel command line knob", "err", err)
	}
	if k.logLevel != nil {
		level.Set(*k.logLevel)
	}
	f.applyKnobs(k, explicitFlags(args))
	return runDaemon(ctx, log, level, f, cmdline)
}

// explicitFlags names the flags given on the command line.
func explicitFlags(args []string) map[string]bool {
	set := map[string]bool{}
	for _, a := range args {
		if a == "--" {
			break
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") {
			set[name] = true
		}
	}
	return set
}

func runDaemon(ctx context.Context, log *slog.Logger, level *slog.LevelVar, f daemonFlags, cmdline string) error {
	modulesDir, err := modulesDirFor(f.root, f.modulesDir)
	if err != nil {
		return err
	}
	cat, err := loadCatalog(log, f.root, modulesDir, cmdline)
	if err != nil {
		return err
	}
	if f.children <= 0 {
		f.children = workers.DefaultLimit()
	}
	if f.loadWorkers <= 0 {
		// Every load in flight holds its module image in vmalloc space
		// and its per-CPU data in the kernel's small module reserve; a
		// machine has a few dozen distinct modules, so more than a handful
		// at once buys nothing and risks ENOMEM (seen with 66 at once on a
		// 64-vCPU 6.1 guest).
		f.loadWorkers = min(f.children, runtime.NumCPU()+2, 8)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable for workers: %w", err)
	}
	pool, err := workers.NewPool(workers.Config{
		Start: func(ctx context.Context) *exec.Cmd {
			cmd := exec.CommandContext(ctx, exe, "worker", "--modules-dir", modulesDir, "--sysfs", f.sysfs, "--log-level", level.Level().String())
			cmd.Stderr = os.Stderr
			return cmd
		},
		Max:     f.loadWorkers,
		Timeout: f.eventTimeout,
		Logger:  log,
	})
	if err != nil {
		return fmt.Errorf("start worker pool: %w", err)
	}
	conn, err := uevent.Listen(uevent.GroupKernel, log)
	if err != nil {
		pool.Close(context.Background())
		return err
	}
	defer conn.Close()

	mods := newModules(log, cat, pool, f.loadWorkers)
	d := &daemon{
		log:         log,
		level:       level,
		src:         conn,
		queue:       uevent.NewQueue(),
		mods:        mods,
		sysfs:       os.DirFS(f.sysfs),
		children:    f.children,
		coldplugged: make(chan struct{}),
		exitReq:     make(chan struct{}),
		stopped:     make(chan struct{}),
	}
	d.reload = func() error {
		cat, err := loadCatalog(log, f.root, modulesDir, readCmdline())
		if err != nil {
			return err
		}
		n := mods.replace(cat)
		log.Info("reload module index", "dir", modulesDir, "forgotten_failures", n)
		return nil
	}
	if seq, err := d.readSeqnum(); err == nil {
		d.seen(seq)
	}
	return d.run(ctx, f, pool)
}

// run owns every goroutine of the daemon and stops them in order: events
// first, then module work, then the workers, then the control socket.
func (d *daemon) run(ctx context.Context, f daemonFlags, pool *workers.Pool) error {
	if f.kernelModprobe {
		restore, err := setKernelModprobe(d.log)
		if err != nil {
			return err
		}
		defer restore()
	}
	evctx, stopEvents := context.WithCancel(ctx)
	defer stopEvents()
	var wg sync.WaitGroup
	d.startEvents(evctx, &wg)

	ctlctx, stopControl := context.WithCancel(context.Background())
	defer stopControl()
	srv, err := listenControl(f.control, d, d.log)
	if err != nil {
		stopEvents()
		wg.Wait()
		pool.Close(context.Background())
		return err
	}
	var ctlwg sync.WaitGroup
	ctlwg.Add(1)
	go func() { defer ctlwg.Done(); srv.serve(ctlctx) }()

	wg.Add(1)
	go func() { defer wg.Done(); d.coldplug(evctx, f.coldplug, f.sysfs) }()
	d.log.Info("gudevd running", "children_max", d.children, "load_workers", f.loadWorkers, "coldplug", f.coldplug)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sig)
wait:
	for {
		select {
		case s := <-sig:
			if s == syscall.SIGHUP {
				if err := d.reload(); err != nil {
					d.log.Error("reload", "err", err)
				}
				continue
			}
			d.log.Info("shut down", "signal", s.String())
			break wait
		case <-d.exitReq:
			d.log.Info("shut down", "reason", "control --exit")
			break wait
		case <-ctx.Done():
			break wait
		}
	}
	// Running events finish: a module load cannot be taken back, and its
	// result must be recorded. Queued events that did not start are left to
	// the next udev daemon, as udevd does on exit.
	stopEvents()
	wg.Wait()
	closeCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = errors.Join(d.mods.close(closeCtx), pool.Close(closeCtx))
	close(d.stopped)
	stopControl()
	ctlwg.Wait()
	if err != nil {
		return fmt.Errorf("stop workers: %w", err)
	}
	return nil
}
