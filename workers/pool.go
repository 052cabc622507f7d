package workers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// DefaultTimeout is udevd's default event timeout.
	DefaultTimeout = 180 * time.Second

	// diedWait bounds how long a job whose worker broke waits to learn the
	// worker's exit status after killing it. A process that closed its
	// socket is normally reapable within milliseconds; one that is not by
	// then is left to its reaper and the job is answered without a status.
	diedWait = 2 * time.Second

	// stopGrace is how long Close lets idle workers exit on their own, after
	// it closed their sockets, before it kills them.
	stopGrace = 2 * time.Second
)

// Config configures a Pool.
type Config struct {
	// Start returns the command for one worker process, not yet started;
	// the worker calls WorkerConn and Serve. The pool prepends its end of a
	// socketpair to cmd.ExtraFiles, so the worker finds it on WorkerFD
	// whatever else Start passes; a worker outlives the pool's process
	// only until its job returns (set SysProcAttr.Pdeathsig to kill it
	// sooner). Leave Stdout nil or an *os.File: Wait then does not depend
	// on copying goroutines. ctx ends when the pool is closed.
	Start func(ctx context.Context) *exec.Cmd

	// Max is the number of jobs that run at once, and so the number of live
	// workers. Zero means DefaultLimit().
	Max int

	// Timeout is how long one job may run before its worker is killed and
	// abandoned and the job fails with ErrTimeout. Zero means
	// DefaultTimeout.
	Timeout time.Duration

	// Warn is how long a job runs before the pool logs a warning about it.
	// Zero means Timeout/3.
	Warn time.Duration

	// Logger receives the pool's warnings; nil discards them.
	Logger *slog.Logger
}

// PoolStats is a snapshot of a Pool's state and counters.
type PoolStats struct {
	Max       int    // jobs that may run at once
	Running   int    // jobs holding one of the Max slots
	Workers   int    // live workers, idle or busy
	Idle      int    // live workers waiting for a job
	Processes int    // worker processes not yet reaped, live or not
	Abandoned int    // workers killed on timeout and not yet reaped
	Spawned   uint64 // workers ever started
	Jobs      uint64 // jobs answered by a worker or failed by one's death
	Failed    uint64 // jobs answered with an error, of any kind
	Died      uint64 // jobs whose worker died (ErrWorkerDied)
	IdleDied  uint64 // workers that died between jobs, noticed when reaped
	TimedOut  uint64 // jobs that overran Timeout (ErrTimeout)
}

// A Pool runs jobs on at most Max long-lived worker processes at once. A
// worker is started when a job finds none idle, kept for later jobs, and
// replaced when it dies; a worker that overruns Timeout is killed and
// abandoned to a reaper goroutine, so that a process stuck in the kernel
// (uninterruptible sleep in finit_module cannot be reaped until the syscall
// returns) never blocks the pool nor takes one of its slots.
type Pool struct {
	cfg     Config
	log     *slog.Logger
	ctx     context.Context // given to Start; ends when Close is done
	cancel  context.CancelFunc
	slots   chan struct{} // one token per running job
	closing chan struct{} // closed when Close starts
	jobs    sync.WaitGroup
	reapers sync.WaitGroup
	nextID  atomic.Uint64

	// signal sends a signal to a worker; tests replace it to model a process
	// that SIGKILL cannot end yet (one in uninterruptible sleep).
	signal func(*os.Process, os.Signal) error

	mu       sync.Mutex // guards the fields below
	closed   bool
	stopping bool             // Close is stopping workers: start none
	idle     []*worker        // live and waiting, most recently used last
	live     map[*worker]bool // in the pool, idle or busy
	procs    map[*worker]bool // started and not yet reaped
	stats    PoolStats
}

// A worker is one worker process and the daemon's end of its socket.
type worker struct {
	pid       int
	proc      *os.Process
	conn      *os.File
	closeConn func() error  // closes conn once
	exited    chan struct{} // closed by the reaper once the process is reaped
	state     *os.ProcessState
	abandoned bool // guarded by Pool.mu
}

// NewPool returns a pool that starts workers with cfg.Start when jobs need
// them. Close it to stop them.
func NewPool(cfg Config) (*Pool, error) {
	if cfg.Start == nil {
		return nil, errors.New("create pool: Config.Start is nil")
	}
	if cfg.Max < 0 || cfg.Timeout < 0 || cfg.Warn < 0 {
		return nil, fmt.Errorf("create pool: negative Max %d, Timeout %v or Warn %v", cfg.Max, cfg.Timeout, cfg.Warn)
	}
	if cfg.Max == 0 {
		cfg.Max = DefaultLimit()
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Warn == 0 {
		cfg.Warn = cfg.Timeout / 3
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Pool{
		cfg:     cfg,
		log:     log,
		ctx:     ctx,
		cancel:  cancel,
		slots:   make(chan struct{}, cfg.Max),
		closing: make(chan struct{}),
		signal:  (*os.Process).Signal,
		live:    make(map[*worker]bool),
		procs:   make(map[*worker]bool),
	}, nil
}

type result struct {
	val []byte
	err error
}

// Run runs job on a worker and returns the handler's result, or its error as
// a *JobError. It waits for a free slot first. A job whose worker dies fails
// with a *WorkerDiedError; one that overruns Timeout fails with ErrTimeout.
// If ctx ends first, Run returns ctx.Err() and the job goes on to its end
// (a module load cannot be taken back), holding its slot until then.
func (p *Pool) Run(ctx context.Context, job []byte) ([]byte, error) {
	if len(job) > MaxPayload {
		return nil, fmt.Errorf("run job of %d bytes: %w", len(job), ErrFrameTooLarge)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, fmt.Errorf("run job: %w", ErrClosed)
	}
	p.jobs.Add(1)
	p.mu.Unlock()

	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		p.jobs.Done()
		return nil, ctx.Err()
	case <-p.closing:
		p.jobs.Done()
		return nil, fmt.Errorf("run job: %w", ErrClosed)
	}
	res := make(chan result, 1)
	go func() {
		defer p.jobs.Done()
		val, err := p.exec(job)
		<-p.slots
		res <- result{val, err}
	}()
	select {
	case r := <-res:
		return r.val, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// exec runs one job, holding a slot, and leaves its worker idle, dead or
// abandoned.
func (p *Pool) exec(job []byte) ([]byte, error) {
	w, err := p.get()
	if err != nil {
		p.count(func(s *PoolStats) { s.Failed++ })
		return nil, err
	}
	id := p.nextID.Add(1)
	warn := time.AfterFunc(p.cfg.Warn, func() {
		p.log.Warn("job is slow", "job", id, "pid", w.pid, "running", p.cfg.Warn, "timeout", p.cfg.Timeout)
	})
	defer warn.Stop()

	reply, err := w.roundTrip(frame{kind: kindJob, id: id, payload: job}, time.Now().Add(p.cfg.Timeout))
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		p.abandon(w)
		p.count(func(s *PoolStats) { s.Jobs++; s.Failed++; s.TimedOut++ })
		return nil, &TimeoutError{Job: id, Pid: w.pid, Timeout: p.cfg.Timeout, Reaped: w.exited}
	case err != nil:
		return nil, p.bury(w, err.Error())
	case reply.id != id:
		return nil, p.bury(w, fmt.Sprintf("replied to job %d instead of %d", reply.id, id))
	case reply.kind == kindResult:
		p.put(w)
		p.count(func(s *PoolStats) { s.Jobs++ })
		return reply.payload, nil
	case reply.kind == kindError:
		p.put(w)
		p.count(func(s *PoolStats) { s.Jobs++; s.Failed++ })
		return nil, &JobError{Msg: string(reply.payload), Errno: reply.errno}
	default:
		return nil, p.bury(w, fmt.Sprintf("replied with a %v frame", reply.kind))
	}
}

// roundTrip sends one job frame and reads its reply, both before deadline.
func (w *worker) roundTrip(job frame, deadline time.Time) (frame, error) {
	if err := w.conn.SetDeadline(deadline); err != nil {
		return frame{}, fmt.Errorf("set deadline: %w", err)
	}
	if err := writeFrame(w.conn, job); err != nil {
		return frame{}, fmt.Errorf("send job: %w", err)
	}
	f, err := readFrame(w.conn)
	if err != nil {
		return frame{}, fmt.Errorf("read reply: %w", err)
	}
	return f, nil
}

func (p *Pool) count(f func(*PoolStats)) {
	p.mu.Lock()
	f(&p.stats)
	p.mu.Unlock()
}

// get returns an idle worker, or starts one. The caller holds a slot, and
// live workers are either idle or hold one, so this never exceeds Max.
func (p *Pool) get() (*worker, error) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		w := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return w, nil
	}
	p.mu.Unlock()

	w, cmd, err := p.start()
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats.Spawned++
	p.procs[w] = true
	p.reapers.Add(1)
	go p.reap(w, cmd)
	if p.stopping {
		// Close gave up waiting for this job and is killing every worker.
		p.signal(w.proc, syscall.SIGKILL)
		w.closeConn()
		return nil, fmt.Errorf("start worker: %w", ErrClosed)
	}
	p.live[w] = true
	return w, nil
}

// start starts one worker process with its end of a new socketpair.
func (p *Pool) start() (*worker, *exec.Cmd, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("start worker: create socketpair: %w", err)
	}
	// The daemon's end is non-blocking so os.File registers it with the
	// runtime poller and deadlines work; the worker's end stays blocking
	// until WorkerConn decides.
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, nil, fmt.Errorf("start worker: set socket non-blocking: %w", err)
	}
	conn := os.NewFile(uintptr(fds[0]), "gudevd-worker-conn")
	child := os.NewFile(uintptr(fds[1]), "gudevd-worker")
	defer child.Close()

	cmd := p.cfg.Start(p.ctx)
	if cmd == nil {
		conn.Close()
		return nil, nil, errors.New("start worker: Config.Start returned no command")
	}
	cmd.ExtraFiles = append([]*os.File{child}, cmd.ExtraFiles...)
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	// No parent-death signal: when the daemon dies the kernel closes its
	// end of the socket, and the worker finishes the job it is in, fails
	// to write the reply, or reads EOF if idle, and exits (Serve). A signal
	// would cut the job short inside the kernel: a SIGKILL (or an
	// unhandled SIGTERM, which the kernel makes fatal) pending on a task
	// in finit_module makes the module's init see a fatal signal. On 6.1
	// ghash_clmulni_intel's crypto_wait_for_test returned -ERESTARTSYS,
	// vmalloc gave up with ENOMEM, and a killed libata load left the
	// disk without a driver. systemd-udevd's workers get SIGTERM, which
	// they block, so they too finish their event.
	if err := cmd.Start(); err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("start worker: %w", err)
	}
	w := &worker{
		pid:       cmd.Process.Pid,
		proc:      cmd.Process,
		conn:      conn,
		closeConn: sync.OnceValue(conn.Close),
		exited:    make(chan struct{}),
	}
	p.log.Debug("started worker", "pid", w.pid)
	return w, cmd, nil
}

// reap waits for a worker's exit, whenever that is: for an abandoned worker
// it may be long after its job was answered.
func (p *Pool) reap(w *worker, cmd *exec.Cmd) {
	defer p.reapers.Done()
	cmd.Wait()
	w.state = cmd.ProcessState
	close(w.exited)

	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.procs, w)
	if w.abandoned {
		p.log.Info("reaped abandoned worker", "pid", w.pid, "status", w.state.String())
	}
	// A worker that dies while idle is noticed here; one that dies busy is
	// noticed, and removed, by its job.
	if i := slices.Index(p.idle, w); i >= 0 {
		p.idle = slices.Delete(p.idle, i, i+1)
		delete(p.live, w)
		w.closeConn()
		p.stats.IdleDied++
		p.log.Warn("idle worker died", "pid", w.pid, "status", w.state.String())
	}
}

// put returns a worker to the idle list after a job.
func (p *Pool) put(w *worker) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopping || !p.live[w] {
		w.closeConn()
		return
	}
	p.idle = append(p.idle, w)
}

// abandon kills a worker whose job overran Timeout and forgets it without
// waiting: its reaper collects it when the kernel lets it go.
func (p *Pool) abandon(w *worker) {
	p.signal(w.proc, syscall.SIGKILL)
	w.closeConn()
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.live, w)
	select {
	case <-w.exited:
	default:
		w.abandoned = true
	}
	p.log.Error("job timed out: killed and abandoned its worker", "pid", w.pid, "timeout", p.cfg.Timeout)
}

// bury removes a worker that broke mid-job (exited, was killed, or wrote
// something that is not a reply to its job) and returns the job's error. It
// kills the worker, which changes nothing for one already dead, and waits
// briefly for its exit status to report.
func (p *Pool) bury(w *worker, reason string) error {
	p.signal(w.proc, syscall.SIGKILL)
	w.closeConn()
	t := time.NewTimer(diedWait)
	defer t.Stop()
	var state *os.ProcessState
	select {
	case <-w.exited:
		state = w.state
	case <-t.C:
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.live, w)
	if state == nil {
		w.abandoned = true
	}
	p.stats.Jobs++
	p.stats.Failed++
	p.stats.Died++
	err := &WorkerDiedError{Pid: w.pid, Reason: reason, State: state, Reaped: w.exited}
	p.log.Warn("worker died mid-job", "err", err)
	return err
}

// Stats returns a snapshot of the pool's state and counters.
func (p *Pool) Stats() PoolStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Max = p.cfg.Max
	s.Running = len(p.slots)
	s.Workers = len(p.live)
	s.Idle = len(p.idle)
	s.Processes = len(p.procs)
	for w := range p.procs {
		if w.abandoned {
			s.Abandoned++
		}
	}
	return s
}

// Close stops accepting jobs, waits for running ones, then stops every
// worker: it closes their sockets, which a worker in Serve takes as the
// order to exit, kills those still there after a grace period, and waits
// for every worker process, abandoned ones included, to be reaped. When ctx
// ends first, Close kills every worker and returns ctx.Err() without
// waiting further; processes stuck in the kernel are then reaped by the
// pool's reaper goroutines once they can be.
func (p *Pool) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return fmt.Errorf("close pool: %w", ErrClosed)
	}
	p.closed = true
	close(p.closing)
	p.mu.Unlock()
	defer p.cancel()

	jobsErr := waitCtx(ctx, &p.jobs)

	p.mu.Lock()
	p.stopping = true
	stop := make([]*worker, 0, len(p.live))
	for w := range p.live {
		stop = append(stop, w)
	}
	p.idle = nil
	clear(p.live)
	p.mu.Unlock()

	if jobsErr == nil {
		for _, w := range stop {
			w.closeConn()
		}
		p.waitExited(ctx, stop, stopGrace)
	}
	p.killAll()
	if err := waitCtx(ctx, &p.reapers); err != nil {
		return fmt.Errorf("close pool: wait for workers: %w", err)
	}
	if jobsErr != nil {
		return fmt.Errorf("close pool: wait for jobs: %w", jobsErr)
	}
	return nil
}

// waitExited waits until every worker in ws has been reaped, ctx ends, or
// grace passes.
func (p *Pool) waitExited(ctx context.Context, ws []*worker, grace time.Duration) {
	t := time.NewTimer(grace)
	defer t.Stop()
	for _, w := range ws {
		select {
		case <-w.exited:
		case <-t.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// killAll sends SIGKILL to every worker process not yet reaped.
func (p *Pool) killAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for w := range p.procs {
		select {
		case <-w.exited:
		default:
			p.signal(w.proc, syscall.SIGKILL)
			w.closeConn()
		}
	}
}
