package programs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gudevd/gudevd/rules"
	"github.com/gudevd/gudevd/workers"
)

// The defaults are udevd 252's: the event timeout (udevd.c, 180 s) and
// the result buffers of PROGRAM and IMPORT{program} (UDEV_LINE_SIZE, with
// its last byte for the NUL).
const (
	DefaultTimeout = 180 * time.Second
	DefaultLimit   = 16384 - 1
)

// The ways a program fails besides its exit status (rules.ErrProgramFailed):
// each errors.Is-matches its errno too.
var (
	ErrTimedOut  = fmt.Errorf("program timed out: %w", syscall.ETIME)
	ErrKilled    = fmt.Errorf("program killed by a signal: %w", syscall.EINTR)
	ErrCannotRun = fmt.Errorf("program cannot be run: %w", syscall.ENOEXEC)
)

// Config configures a Runner.
type Config struct {
	Log *slog.Logger
	// Command returns one worker's command, not yet started: the daemon's
	// binary as `gudevd program-worker` (WorkerCommand), or a test binary.
	// Nil runs each program from this process, one at a time, as udevadm
	// test does: for a one-shot command, where starting a worker costs
	// more than its isolation is worth (under TCG it doubled the time of
	// `gudevd test` for a disk: blkid, ata_id).
	Command func(ctx context.Context) *exec.Cmd
	// Max is how many programs run at once (udevd's children-max).
	Max int
	// Timeout is a program's longest run when ctx has no deadline.
	Timeout time.Duration
	// Limit is how much of standard output is kept.
	Limit int
}

// Stats are a Runner's counters.
type Stats struct {
	Runs       uint64 `json:"runs"`
	Failed     uint64 `json:"failed"`      // ran and exited non-zero
	TimedOut   uint64 `json:"timed_out"`   // killed at the timeout
	Killed     uint64 `json:"killed"`      // ended by a signal of its own
	Truncated  uint64 `json:"truncated"`   // standard output over the limit
	CannotRun  uint64 `json:"cannot_run"`  // exec failed
	WorkerLost uint64 `json:"worker_lost"` // the worker died or overran
	Pool       workers.PoolStats
}

// Runner runs programs in a pool of worker processes. Its Program method
// is rules.Host's.
type Runner struct {
	log  *slog.Logger
	cfg  Config
	pool *workers.Pool // nil: programs run from this process
	// serial makes direct runs one at a time.
	serial sync.Mutex

	mu    sync.Mutex
	stats Stats
}

// NewRunner starts the pool (workers start with the first program).
func NewRunner(cfg Config) (*Runner, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Limit <= 0 {
		cfg.Limit = DefaultLimit
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Command == nil {
		return &Runner{log: log, cfg: cfg}, nil
	}
	// The worker kills the program at the job's timeout; the pool's own
	// timeout is the backstop for a worker that does not answer then.
	p, err := workers.NewPool(workers.Config{Start: cfg.Command, Max: cfg.Max, Timeout: cfg.Timeout + 5*time.Second, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("start program pool: %w", err)
	}
	return &Runner{log: log, cfg: cfg, pool: p}, nil
}

// Program runs argv with env as its environment and returns its standard
// output. The time it may take is what is left of ctx's deadline (the
// event's), or the configured timeout.
func (r *Runner) Program(ctx context.Context, argv, env []string) ([]byte, error) {
	timeout := r.cfg.Timeout
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(d))
	}
	if timeout <= 0 {
		return nil, fmt.Errorf("run %q: %w", argv, ErrTimedOut)
	}
	j := Job{Argv: argv, Env: env, Timeout: timeout, Limit: r.cfg.Limit}
	r.count(func(s *Stats) { s.Runs++ })
	if r.pool == nil {
		return r.direct(ctx, j)
	}
	job, err := json.Marshal(j)
	if err != nil {
		return nil, fmt.Errorf("encode program job: %w", err)
	}
	runCtx, cancel := replyContext(ctx, timeout)
	defer cancel()
	b, err := r.pool.Run(runCtx, job)
	if err != nil {
		r.count(func(s *Stats) { s.WorkerLost++ })
		return nil, fmt.Errorf("run %q: %w", argv, err)
	}
	var rep Reply
	if err := json.Unmarshal(b, &rep); err != nil {
		r.count(func(s *Stats) { s.WorkerLost++ })
		return nil, fmt.Errorf("run %q: decode reply: %w", argv, err)
	}
	return r.outcome(argv, &rep)
}

// direct runs a job from this process, one at a time.
func (r *Runner) direct(ctx context.Context, j Job) ([]byte, error) {
	if len(j.Argv) == 0 || !strings.HasPrefix(j.Argv[0], "/") {
		r.count(func(s *Stats) { s.CannotRun++ })
		return nil, fmt.Errorf("run %q: %w", j.Argv, ErrBadCommand)
	}
	r.serial.Lock()
	rep := spawn(ctx, j)
	r.serial.Unlock()
	if errors.Is(ctx.Err(), context.Canceled) {
		return nil, fmt.Errorf("run %q: %w", j.Argv, ctx.Err())
	}
	return r.outcome(j.Argv, &rep)
}

// replyGrace is how long past a program's timeout its worker's answer is
// awaited: the worker kills the program's group at the timeout and then
// replies.
const replyGrace = 5 * time.Second

// replyContext is what a job waits for its reply under. The event's
// deadline is the program's timeout, which the worker enforces: waiting a
// little past it tells a program killed at its time (ErrTimedOut) from a
// lost worker, where giving up at the deadline itself would race the
// worker's reply. A cancelled ctx (the daemon stopping) stops the wait at
// once.
func replyContext(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	runCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout+replyGrace)
	stop := context.AfterFunc(ctx, func() {
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			cancel()
		}
	})
	return runCtx, func() { stop(); cancel() }
}

// outcome turns a Reply into Program's result, logging as udevd does.
func (r *Runner) outcome(argv []string, rep *Reply) ([]byte, error) {
	cmd := argv[0]
	for _, l := range bytes.Split(bytes.TrimRight(rep.Stderr, "\n"), []byte("\n")) {
		if len(l) > 0 {
			r.log.Debug("program output", "cmd", cmd, "stream", "err", "line", string(l))
		}
	}
	if rep.Truncated {
		r.count(func(s *Stats) { s.Truncated++ })
		r.log.Warn(fmt.Sprintf("Truncating stdout of '%s' up to %d byte.", cmd, r.cfg.Limit))
	}
	switch {
	case rep.Error != "":
		r.count(func(s *Stats) { s.CannotRun++ })
		return nil, fmt.Errorf("run %q: %s: %w", argv, rep.Error, ErrCannotRun)
	case rep.TimedOut:
		r.count(func(s *Stats) { s.TimedOut++ })
		r.log.Error(fmt.Sprintf("Spawned process '%s' timed out, killing", cmd))
		return rep.Stdout, fmt.Errorf("run %q: %w", argv, ErrTimedOut)
	case rep.Signal != "":
		r.count(func(s *Stats) { s.Killed++ })
		r.log.Error(fmt.Sprintf("Process '%s' terminated by signal %s.", cmd, rep.Signal))
		return rep.Stdout, fmt.Errorf("run %q: %s: %w", argv, rep.Signal, ErrKilled)
	case rep.Exit != 0:
		r.count(func(s *Stats) { s.Failed++ })
		return rep.Stdout, fmt.Errorf("run %q: exit status %d: %w", argv, rep.Exit, rules.ErrProgramFailed)
	}
	return rep.Stdout, nil
}

func (r *Runner) count(f func(*Stats)) {
	r.mu.Lock()
	f(&r.stats)
	r.mu.Unlock()
}

// Stats returns a copy of the counters.
func (r *Runner) Stats() Stats {
	r.mu.Lock()
	s := r.stats
	r.mu.Unlock()
	if r.pool != nil {
		s.Pool = r.pool.Stats()
	}
	return s
}

// Close waits for running programs and stops the workers.
func (r *Runner) Close(ctx context.Context) error {
	if r.pool == nil {
		return nil
	}
	if err := r.pool.Close(ctx); err != nil && !errors.Is(err, workers.ErrClosed) {
		return fmt.Errorf("stop program pool: %w", err)
	}
	return nil
}

// ServeWorker is the worker process's main: it runs jobs from the pool's
// socket until the daemon closes it.
func ServeWorker(ctx context.Context) error {
	conn, err := workers.WorkerConn()
	if err != nil {
		return err
	}
	defer conn.Close()
	return workers.Serve(ctx, conn, conn, Handle)
}

// WorkerCommand returns the pool's command for exe run as `gudevd
// program-worker`, its stderr the daemon's. One OS thread is plenty for a
// process that waits on one child at a time.
func WorkerCommand(exe string) func(ctx context.Context) *exec.Cmd {
	return func(ctx context.Context) *exec.Cmd {
		cmd := exec.CommandContext(ctx, exe, "program-worker")
		cmd.Stderr = os.Stderr
		cmd.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool {
			return strings.HasPrefix(kv, "GOMAXPROCS=")
		}), "GOMAXPROCS=1")
		return cmd
	}
}
