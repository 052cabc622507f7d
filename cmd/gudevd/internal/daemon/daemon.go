package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gudevd/gudevd/cmd/gudevd/internal/control"
	"github.com/gudevd/gudevd/cmd/gudevd/internal/modules"
	"github.com/gudevd/gudevd/cmd/gudevd/internal/sdaemon"
	"github.com/gudevd/gudevd/uevent"
	"github.com/gudevd/gudevd/workers"
)

// Coldplug says how the daemon asks for the devices present at start.
type Coldplug string

const (
	ColdplugNone    Coldplug = ""        // only events that arrive
	ColdplugTrigger Coldplug = "trigger" // write "add" to every uevent file, as udevadm trigger
	ColdplugScan    Coldplug = "scan"    // read every modalias from sysfs, without a kernel round trip
)

// DefaultEventTimeout is udevd's default event timeout: a worker whose load
// runs longer is killed.
const DefaultEventTimeout = workers.DefaultTimeout

// EventSource is the kernel's uevent socket as the daemon uses it.
type EventSource interface {
	Receive(ctx context.Context) (*uevent.Event, error)
	Stats() uevent.Stats
	Close() error
}

// Config is everything the daemon runs with. The fields below Tests are
// for tests: nil means the real thing.
type Config struct {
	Log   *slog.Logger
	Level *slog.LevelVar // changed by `gudevd control --log-level`

	Tree    modules.Tree // the module tree and modprobe.d root
	Sysfs   string       // sysfs mount, normally /sys
	Control string       // control socket path
	// UdevControl is where to serve systemd-udevd's control protocol
	// (control.UdevPath) for the real udevadm control; "" serves none, as
	// when systemd-udevd runs beside gudevd and owns that socket.
	UdevControl string
	// Ledger is the directory that keeps the kernel's refusals of this
	// boot for a restarted daemon (see modules.Config.LedgerDir); ""
	// keeps none.
	Ledger  string
	Cmdline func() string // the kernel command line, read at start and on every reload
	// Udev makes the daemon systemd-udevd (rules, nodes, database,
	// broadcast); nil only loads the modules of each MODALIAS.
	Udev *Udev

	Coldplug       Coldplug
	Children       int           // events handled at once; 0: workers.DefaultLimit()
	LoadWorkers    int           // module loads at once; 0: min(Children, CPUs+2, DefaultLoadWorkers)
	EventTimeout   time.Duration // kill a worker whose load runs longer; 0: workers.DefaultTimeout
	KernelModprobe bool          // point /proc/sys/kernel/modprobe at gudevd while running
	// ReceiveBuffer is the uevent socket's receive queue in bytes; 0:
	// uevent.DefaultReceiveBuffer. Events that overflow it are lost
	// (ENOBUFS) and the daemon rescans sysfs (resync).
	ReceiveBuffer int
	// UeventFile and UdevControlFile are the sockets systemd passed
	// (systemd-udevd-kernel.socket, systemd-udevd-control.socket, through
	// LISTEN_FDS; sdaemon.SplitUdev): the daemon uses them instead of
	// opening its own, and keeps the unit's receive buffer unless
	// ReceiveBuffer is set. Run owns them.
	UeventFile, UdevControlFile *os.File

	// Tests.
	Source        EventSource                     // the kernel's uevent socket, opened by Run
	WorkerCommand func(context.Context) *exec.Cmd // one worker: this binary as `gudevd worker`
	Runner        modules.Runner                  // instead of the pool of workers (then Run closes none)
	Trigger       func(ctx context.Context) error // coldplug trigger: uevent.Trigger on Sysfs
	Sysctl        string                          // KernelModprobePath
	Backoff       []time.Duration                 // retry waits: modules.DefaultBackoff()
	SysfsFS       fs.FS                           // os.DirFS(Sysfs)
	ProcFS        fs.FS                           // os.DirFS("/proc"): where waitOrphans looks for a previous daemon's workers
	Executable    string                          // os.Executable(): the binary those workers run
}

// Daemon listens to the kernel, resolves every MODALIAS in this process and
// hands unique module names to the worker pool through modules.
type Daemon struct {
	cfg   Config
	log   *slog.Logger
	sysfs fs.FS
	queue *uevent.Queue
	mods  *modules.Modules
	src   EventSource
	pool  *workers.Pool   // nil when Config.Runner replaced it
	srv   *control.Server // set by Run before it serves
	// udevSrv serves udev's control protocol when Config.UdevControl
	// names a socket; set by Run before it serves.
	udevSrv *control.UdevServer

	walks sync.WaitGroup // MODALIAS walks started by requestModalias; Run waits for them
	udev  *udevState     // nil without Config.Udev
	slots *slots         // the event handlers that run at once

	coldplugged chan struct{} // closed once coldplug has asked for every event
	ready       chan struct{} // closed once signals and the control socket are set up
	exitReq     chan struct{} // closed by `gudevd control --exit`
	exitOnce    sync.Once
	stopped     chan struct{} // closed when every job has finished and the pool is closed

	mu       sync.Mutex // guards the fields below
	lastSeq  uint64     // highest SEQNUM received, or covered by a resync
	busy     int        // module work outside the queue: scans, resyncs, load requests
	changed  chan struct{}
	resyncs  uint64
	malforms uint64
}

// DefaultLoadWorkers bounds the loads that run at once by default.
const DefaultLoadWorkers = 4

// New reads the module index and prepares a daemon; Run starts it.
func New(cfg Config) (*Daemon, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Level == nil {
		cfg.Level = new(slog.LevelVar)
	}
	if cfg.Cmdline == nil {
		cfg.Cmdline = modules.ReadCmdline
	}
	if cfg.Control == "" {
		cfg.Control = control.DefaultPath
	}
	if cfg.Sysfs == "" {
		cfg.Sysfs = "/sys"
	}
	if cfg.Sysctl == "" {
		cfg.Sysctl = KernelModprobePath
	}
	if cfg.SysfsFS == nil {
		cfg.SysfsFS = os.DirFS(cfg.Sysfs)
	}
	if cfg.ProcFS == nil {
		cfg.ProcFS = os.DirFS("/proc")
	}
	if cfg.Children <= 0 {
		cfg.Children = workers.DefaultLimit()
	}
	if cfg.LoadWorkers <= 0 {
		// Every load in flight holds its module image in vmalloc space
		// and its per-CPU data in the kernel's small module reserve; a
		// machine has a few dozen distinct modules, so more than a handful
		// at once buys nothing and risks ENOMEM (seen with 66 at once on a
		// 64-vCPU 6.1 guest). Loads also slow each other: on 6.1 at 16
		// vCPUs (TCG) kvm took 8.6 s among 8 loads and 15-20 s among 16 or
		// 35, and 4 at once settled sooner than 8 on 6.12 at 4 and 16
		// vCPUs and on 6.1 at 16 (README, "Where the time goes"), with one
		// worker's memory less per slot.
		cfg.LoadWorkers = min(cfg.Children, runtime.NumCPU()+2, DefaultLoadWorkers)
	}
	if cfg.EventTimeout <= 0 {
		cfg.EventTimeout = workers.DefaultTimeout
	}
	cat, err := modules.LoadCatalog(cfg.Log, cfg.Tree, cfg.Cmdline())
	if err != nil {
		return nil, err
	}
	d := &Daemon{
		cfg:         cfg,
		log:         cfg.Log,
		sysfs:       cfg.SysfsFS,
		queue:       uevent.NewQueue(),
		coldplugged: make(chan struct{}),
		ready:       make(chan struct{}),
		exitReq:     make(chan struct{}),
		stopped:     make(chan struct{}),
		changed:     make(chan struct{}),
		slots:       newSlots(cfg.Children),
	}
	if cfg.Udev != nil {
		d.udev = &udevState{cfg: cfg.Udev}
		if cfg.Udev.QueueFile != "" {
			d.udev.queue = &queueFile{path: cfg.Udev.QueueFile, log: cfg.Log}
		}
		d.loadRules()
	}
	runner := cfg.Runner
	if runner == nil {
		if d.pool, err = d.newPool(); err != nil {
			return nil, err
		}
		runner = d.pool
	}
	d.mods = modules.New(modules.Config{
		Log: cfg.Log, Catalog: cat, Runner: runner, Parallel: cfg.LoadWorkers, MaxLoads: cfg.LoadWorkers, Backoff: cfg.Backoff,
		LedgerDir: cfg.Ledger,
	})
	return d, nil
}

// newPool makes the pool of worker processes. It starts none: a worker
// starts when a load finds none idle.
func (d *Daemon) newPool() (*workers.Pool, error) {
	cmd := d.cfg.WorkerCommand
	if cmd == nil {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find own executable for workers: %w", err)
		}
		cmd = modules.WorkerCommand(exe, d.cfg.Tree, d.cfg.Sysfs, d.cfg.Ledger, d.cfg.Level.Level().String())
	}
	cmd = withoutNotifySocket(cmd)
	// modules bounds the loads to LoadWorkers; the pool has room for the
	// kernel's own requests on top, which must never wait for a worker.
	return modules.NewPool(modules.PoolConfig{Log: d.log, Command: cmd, Max: d.cfg.LoadWorkers + modules.KernelReserve, Timeout: d.cfg.EventTimeout})
}

// Ready is closed once the daemon handles signals and control requests.
func (d *Daemon) Ready() <-chan struct{} { return d.ready }

// reload rereads the module index and configuration, and the udev rules
// when the daemon runs them. Failed results are dropped, so a module that
// was missing or broken is tried again.
func (d *Daemon) reload() error {
	if d.udev != nil {
		d.loadRules()
	}
	cat, err := modules.LoadCatalog(d.log, d.cfg.Tree, d.cfg.Cmdline())
	if err != nil {
		return err
	}
	n := d.mods.Replace(cat)
	d.log.Info("reload module index", "dir", d.cfg.Tree.Dir, "forgotten_failures", n)
	return nil
}

// readSeqnum reads the SEQNUM of the last uevent the kernel sent: settle
// waits until the daemon has seen that one.
func (d *Daemon) readSeqnum() (uint64, error) {
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

// notifyLocked wakes every settle waiting on the daemon's state.
func (d *Daemon) notifyLocked() {
	close(d.changed)
	d.changed = make(chan struct{})
}

func (d *Daemon) seen(seq uint64) {
	d.mu.Lock()
	if seq > d.lastSeq {
		d.lastSeq = seq
		d.notifyLocked()
	}
	d.mu.Unlock()
}

// hold marks module work that runs outside the event queue, so settle waits
// for it too; the returned func ends it.
func (d *Daemon) hold() func() {
	d.mu.Lock()
	d.busy++
	d.mu.Unlock()
	d.syncQueueFile()
	return func() {
		d.mu.Lock()
		d.busy--
		d.notifyLocked()
		d.mu.Unlock()
		d.syncQueueFile()
	}
}

// receive reads uevents until ctx ends. An overflow (ENOBUFS) lost events:
// reading on alone would miss their modules, so every device's modalias is
// read from sysfs again and sent through the same path.
func (d *Daemon) receive(ctx context.Context, wg *sync.WaitGroup) {
	for {
		ev, err := d.src.Receive(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, uevent.ErrOverflow):
			d.log.Warn("uevent receive buffer overflowed; resynchronising from sysfs")
			wg.Go(func() { d.resync(ctx) })
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
		d.syncQueueFile()
		// Only once the event is queued: settle reads "seen and the queue
		// empty" as "handled".
		d.seen(ev.Seqnum)
	}
}

// startEvents starts receiving and dispatching events until ctx ends; wg
// counts the goroutines, and those they start, for the caller to wait on.
func (d *Daemon) startEvents(ctx context.Context, wg *sync.WaitGroup) {
	wg.Go(func() { d.receive(ctx, wg) })
	wg.Go(func() { d.dispatch(ctx) })
}

// dispatch hands runnable events to at most Children handlers at once
// (udevadm control --children-max changes it) and waits for them before
// returning. It takes a handler slot before it takes an event, so an
// event is marked running in the queue (and blocks its dependants) only
// once a handler is free to run it; while the exec queue is stopped no
// slot is free.
func (d *Daemon) dispatch(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		if d.slots.acquire(ctx) != nil {
			return
		}
		ev, err := d.queue.Next(ctx)
		if err != nil {
			d.slots.release()
			return
		}
		// The slot was taken before the event came: a stop-exec-queue
		// meanwhile holds it here, queued in all but name.
		if d.slots.waitStarted(ctx) != nil {
			d.slots.release()
			return
		}
		wg.Go(func() {
			defer d.slots.release()
			// A started event runs to its end even when the daemon stops:
			// its module load cannot be taken back, and the pool's timeout
			// bounds it.
			d.handle(context.WithoutCancel(ctx), ev)
			d.queue.Done(ev)
			d.syncQueueFile()
		})
	}
}

// scan loads the modules of every device in sysfs without a round trip
// through the kernel: the coldplug of an initramfs, and the resync after an
// overflow. Devices that share a MODALIAS (one per CPU) cost one lookup.
//
// It reads all of sysfs before it asks for any module. Asking as the walk
// went (tried) started the first loads 0.4 s sooner on 6.1 at 16 vCPUs
// (TCG), but the walk slows once loads run and the CPUs, whose
// x86cpu alias heads the longest chain (irqbypass, kvm, kvm_amd), come
// last in sysfs: one run each settled in 33.3 s streaming against 27.4 s
// reading first.
func (d *Daemon) scan(ctx context.Context) error {
	defer d.hold()()
	devs, err := uevent.Scan(d.sysfs)
	if err != nil {
		return fmt.Errorf("scan sysfs: %w", err)
	}
	seen := map[string]bool{}
	for _, dev := range devs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if dev.Modalias != "" && !seen[dev.Modalias] {
			seen[dev.Modalias] = true
			d.requestModalias(ctx, dev.Modalias)
		}
	}
	return nil
}

func (d *Daemon) resync(ctx context.Context) {
	defer d.hold()()
	seq, seqErr := d.readSeqnum()
	if err := d.scan(ctx); err != nil {
		d.log.Error("resynchronise after overflow", "err", err)
		return
	}
	if d.udev != nil {
		d.retrigger(ctx)
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

// retrigger is the udev stage's resync: the lost events' devices would
// keep no database entry, node permissions or links, and their clients
// (systemd's device units) would wait for them, so every device present is
// asked for an add event again, as a coldplug does; the rules run again,
// USEC_INITIALIZED is kept. A retrigger running already covers a second
// overflow: its events are still coming.
func (d *Daemon) retrigger(ctx context.Context) {
	if !d.udev.retriggering.CompareAndSwap(false, true) {
		return
	}
	defer d.udev.retriggering.Store(false)
	if err := d.trigger(ctx); err != nil {
		d.log.Error("retrigger after overflow", "err", err)
		return
	}
	// The resync holds settle until the retriggered events are queued:
	// the kernel counted them when the uevent files were written.
	d.waitReceived(ctx, retriggerWait)
}

// retriggerWait bounds the wait for a retrigger's events; one lost again
// makes another overflow, and another resync.
const retriggerWait = 10 * time.Second

// coldplug asks for the modules of every device present at start.
func (d *Daemon) coldplug(ctx context.Context) {
	defer close(d.coldplugged)
	switch d.cfg.Coldplug {
	case ColdplugScan:
		if err := d.scan(ctx); err != nil {
			d.log.Error("coldplug", "err", err)
		}
	case ColdplugTrigger:
		if err := d.trigger(ctx); err != nil {
			d.log.Error("coldplug trigger", "err", err)
		}
	}
}

func (d *Daemon) trigger(ctx context.Context) error {
	if d.cfg.Trigger != nil {
		return d.cfg.Trigger(ctx)
	}
	res, err := uevent.Trigger(ctx, uevent.TriggerOptions{Root: d.cfg.Sysfs})
	if err != nil {
		return err
	}
	d.log.Info("coldplug trigger", "uuid", res.UUID, "written", len(res.DevPaths), "failed", len(res.Failed))
	return nil
}

// settle waits until coldplug has been asked for, the daemon has received
// every uevent the kernel sent before the call, no module work runs outside
// the queue and the queue is empty.
func (d *Daemon) settle(ctx context.Context) error {
	select {
	case <-d.coldplugged:
	case <-ctx.Done():
		return ctx.Err()
	}
	target, err := d.readSeqnum()
	if err != nil {
		return err
	}
	for {
		d.mu.Lock()
		done := d.lastSeq >= target && d.busy == 0
		changed := d.changed
		d.mu.Unlock()
		if done {
			// Every event up to target is queued or done: wait for the
			// queue, then look again, since a load request may have
			// started meanwhile.
			if err := d.queue.Wait(ctx); err != nil {
				return fmt.Errorf("wait for events up to seqnum %d: %w", target, err)
			}
			d.mu.Lock()
			done = d.busy == 0
			changed = d.changed
			d.mu.Unlock()
			if done {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for events up to seqnum %d: %w", target, ctx.Err())
		case <-changed:
		}
	}
}

func (d *Daemon) requestExit() {
	d.exitOnce.Do(func() { close(d.exitReq) })
}

// ServeControl answers one control request.
func (d *Daemon) ServeControl(ctx context.Context, req control.Request) control.Reply {
	switch req.Op {
	case control.OpSettle:
		if err := d.settle(ctx); err != nil {
			return control.Reply{Error: err.Error()}
		}
		return control.Reply{}
	case control.OpStats:
		s := d.stats()
		return control.Reply{Stats: &s}
	case control.OpLoad, control.OpModprobe, control.OpProbe:
		defer d.hold()()
		if req.Op == control.OpModprobe {
			ctx = modules.KernelRequest(ctx)
		}
		res, err := d.mods.LoadNamed(ctx, req.Modules, req.Op == control.OpLoad)
		if err != nil {
			return control.Reply{Results: res, Error: err.Error()}
		}
		return control.Reply{Results: res}
	case control.OpReload:
		if err := d.reload(); err != nil {
			return control.Reply{Error: err.Error()}
		}
		return control.Reply{}
	case control.OpLogLevel:
		l, err := ParseLevel(req.LogLevel)
		if err != nil {
			return control.Reply{Error: fmt.Sprintf("set log level: %v", err)}
		}
		d.cfg.Level.Set(l)
		return control.Reply{}
	case control.OpExit:
		d.requestExit()
		select {
		case <-d.stopped:
			return control.Reply{}
		case <-ctx.Done():
			return control.Reply{Error: "exit: the client went away before the daemon stopped"}
		}
	}
	return control.Reply{Error: fmt.Sprintf("unknown control request %q", req.Op)}
}

func (d *Daemon) stats() control.Stats {
	var s control.Stats
	var cs uevent.Stats
	if d.src != nil {
		cs = d.src.Stats()
	}
	s.EventsReceived = cs.Received
	s.EventsDroppedCreds = cs.DroppedCredentials
	s.EventsMalformed = cs.Malformed
	s.Overflows = cs.Overflows
	d.mu.Lock()
	s.Resyncs = d.resyncs
	s.EventsMalformed += d.malforms
	d.mu.Unlock()
	s.EventsQueued = d.queue.Len()
	s.Stats = d.mods.Stats()
	if d.srv != nil {
		s.Control = d.srv.Stats()
	}
	if d.udevSrv != nil {
		u := d.udevSrv.Stats()
		s.UdevControl = &u
	}
	if d.udev != nil {
		d.udev.mu.Lock()
		u := d.udev.stats
		d.udev.mu.Unlock()
		s.Udev = &u
	}
	return s
}

// Run owns every goroutine of the daemon and stops them in order on SIGTERM,
// SIGINT, `gudevd control --exit` or the end of ctx: events first, then
// module work, then the workers, then the control socket. SIGHUP reloads.
func (d *Daemon) Run(ctx context.Context) error {
	stopWorkers := sync.OnceValue(d.stopWorkers)
	defer stopWorkers() // on an early return, nothing has run: no error to report
	defer d.closePassed()
	notify := newNotifier(d.log, os.Getenv(notifySocketEnv))
	if d.src == nil {
		if d.src = d.cfg.Source; d.src == nil {
			conn, err := d.openSource()
			if err != nil {
				return err
			}
			d.src = conn
		}
	}
	defer d.src.Close()
	// Events queue in the socket meanwhile; settle waits for the control
	// socket, which comes after.
	d.waitOrphans(ctx)
	d.mods.Inherit()
	restore := func() {}
	if d.cfg.KernelModprobe {
		r, err := setKernelModprobe(d.log, d.cfg.Sysctl, d.cfg.Control)
		if err != nil {
			return err
		}
		restore = sync.OnceFunc(r)
		defer restore()
	}
	if seq, err := d.readSeqnum(); err == nil {
		d.seen(seq)
	}
	srv, err := control.Listen(d.cfg.Control, d, d.log)
	if err != nil {
		return err
	}
	d.srv = srv
	ctlctx, stopControl := context.WithCancel(context.Background())
	var ctlwg sync.WaitGroup
	ctlwg.Go(func() { srv.Serve(ctlctx) })
	defer func() { stopControl(); ctlwg.Wait() }()
	if usrv, err := d.udevControl(); err != nil {
		return err
	} else if usrv != nil {
		d.udevSrv = usrv
		ctlwg.Go(func() { usrv.Serve(ctlctx) })
	}
	if every, ok := sdaemon.WatchdogInterval(); ok {
		ctlwg.Go(func() { notify.Watchdog(ctlctx, every, d.alive) })
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sig)

	evctx, stopEvents := context.WithCancel(ctx)
	defer stopEvents()
	var wg sync.WaitGroup
	if d.udev != nil {
		d.applyStaticNodes(ctx)
		if err := d.startWatcher(evctx); err != nil {
			return err
		}
		defer d.stopWatcher()
	}
	d.startEvents(evctx, &wg)
	wg.Go(func() { d.coldplug(evctx) })
	d.log.Info("gudevd running", "children_max", d.cfg.Children, "load_workers", d.cfg.LoadWorkers, "coldplug", string(d.cfg.Coldplug))
	close(d.ready)
	notify.send("READY=1")

	d.wait(ctx, sig)
	notify.send("STOPPING=1")
	// Running events finish: a module load cannot be taken back, and its
	// result must be recorded. Queued events that did not start are left to
	// the next udev daemon, as udevd does on exit.
	stopEvents()
	wg.Wait()
	d.stopWatcher()
	d.walks.Wait()
	err = stopWorkers()
	// The kernel's helper goes back before `control --exit` is answered:
	// an initramfs stops this daemon and the root system's starts at
	// once, and it must not save this daemon's link as the value to
	// restore.
	restore()
	d.removeQueueFile()
	close(d.stopped)
	return err
}

// openSource is the kernel's uevent socket: systemd's when it passed one,
// else a new one.
func (d *Daemon) openSource() (*uevent.Conn, error) {
	if f := d.cfg.UeventFile; f != nil {
		d.cfg.UeventFile = nil
		return uevent.FileConn(f, d.log, uevent.WithReceiveBuffer(d.cfg.ReceiveBuffer))
	}
	return uevent.Listen(uevent.GroupKernel, d.log, uevent.WithReceiveBuffer(d.cfg.ReceiveBuffer))
}

// udevControl is udev's control socket: systemd's when it passed one,
// else one at Config.UdevControl, else none.
func (d *Daemon) udevControl() (*control.UdevServer, error) {
	if f := d.cfg.UdevControlFile; f != nil {
		d.cfg.UdevControlFile = nil
		ln, err := control.UdevListenerFile(f)
		if err != nil {
			return nil, err
		}
		return control.NewUdevServer(ln, d, d.log), nil
	}
	if d.cfg.UdevControl == "" {
		return nil, nil
	}
	return control.ListenUdev(d.cfg.UdevControl, d, d.log)
}

// closePassed closes the sockets systemd passed that Run did not take
// (it returned before it got to them).
func (d *Daemon) closePassed() {
	for _, f := range []*os.File{d.cfg.UeventFile, d.cfg.UdevControlFile} {
		if f != nil {
			f.Close()
		}
	}
	d.cfg.UeventFile, d.cfg.UdevControlFile = nil, nil
}

// alive is the watchdog's check: it takes the locks every event takes, so
// a daemon deadlocked on them stops pinging and systemd restarts it, as
// udevd's pings stop when its event loop hangs.
func (d *Daemon) alive() bool {
	d.queue.Len()
	d.mu.Lock()
	d.mu.Unlock()
	return true
}

// stopWorkers waits for the loads in flight, then stops every worker.
func (d *Daemon) stopWorkers() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := d.mods.Close(ctx)
	if d.pool != nil {
		err = errors.Join(err, d.pool.Close(ctx))
	}
	if err != nil {
		return fmt.Errorf("stop workers: %w", err)
	}
	return nil
}

// wait returns when the daemon is asked to stop, reloading on SIGHUP.
func (d *Daemon) wait(ctx context.Context, sig <-chan os.Signal) {
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
			return
		case <-d.exitReq:
			d.log.Info("shut down", "reason", "control --exit")
			return
		case <-ctx.Done():
			return
		}
	}
}
