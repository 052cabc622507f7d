package modules

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/gudevd/gudevd/modload"
	"github.com/gudevd/gudevd/workers"
)

// StepLoader is the part of modload.Loader a worker uses.
type StepLoader interface {
	Load(ctx context.Context, s modload.Step) (modload.Result, error)
}

// Handler loads the module of one job. A load failure is part of the
// result, not a job error: it carries the module's typed error across the
// pipe intact, while job errors are left for what breaks the worker itself.
//
// A refusal goes to the ledger here, before the reply: a daemon killed
// while the syscall ran never reads the reply, and its successor, which
// waits for this worker to finish, must find the refusal recorded.
// ledgerDir is the daemon's failed-load ledger (Config.LedgerDir), "" for
// none; log gets the ledger's write errors.
func Handler(log *slog.Logger, l StepLoader, ledgerDir string) workers.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	led := ledger{dir: ledgerDir, log: log}
	return func(ctx context.Context, job []byte) ([]byte, error) {
		s, err := modload.UnmarshalStep(job)
		if err != nil {
			return nil, fmt.Errorf("decode job: %w", err)
		}
		r, loadErr := l.Load(ctx, s)
		out, err := modload.MarshalResult(r, loadErr)
		if err == nil && loadErr != nil {
			led.record(s.Name, out)
		}
		return out, err
	}
}

// ServeWorker is a worker process's life: it loads one module per job from
// the pool's socket until the pool closes it. A crash here (a panic, an OOM
// kill) costs the daemon one job, never the daemon itself.
func ServeWorker(ctx context.Context, log *slog.Logger, tree Tree, sysfs, ledgerDir string) error {
	conn, err := workers.WorkerConn()
	if err != nil {
		return err
	}
	defer conn.Close()
	return workers.Serve(ctx, conn, conn, Handler(log, modload.NewLoader(tree.Dir, sysfs, log), ledgerDir))
}

// PoolConfig configures the pool of worker processes.
type PoolConfig struct {
	Log *slog.Logger
	// Command returns one worker's command, not yet started: the daemon's
	// own binary as `gudevd worker`, or a test binary.
	Command func(ctx context.Context) *exec.Cmd
	Max     int           // loads at once
	Timeout time.Duration // kill a worker whose load runs longer
}

// NewPool starts the pool of worker processes that run every load.
func NewPool(cfg PoolConfig) (*workers.Pool, error) {
	p, err := workers.NewPool(workers.Config{Start: cfg.Command, Max: cfg.Max, Timeout: cfg.Timeout, Logger: cfg.Log})
	if err != nil {
		return nil, fmt.Errorf("start worker pool: %w", err)
	}
	return p, nil
}

// WorkerCommand returns the pool's command for exe run as `gudevd worker`
// over tree, writing refusals to ledgerDir (none for ""), with its log on
// the daemon's stderr.
//
// A worker runs one load at a time, so it runs with GOMAXPROCS=1: every P
// has its own span caches and the runtime its threads, and a re-executed
// worker shares none of its pages, so they would cost CPUs times workers.
// (The daemon also keeps huge pages away from its workers: see the
// daemon's disableHugePages.)
func WorkerCommand(exe string, tree Tree, sysfs, ledgerDir, logLevel string) func(ctx context.Context) *exec.Cmd {
	return func(ctx context.Context) *exec.Cmd {
		cmd := exec.CommandContext(ctx, exe, "worker", "--modules-dir", tree.Dir, "--sysfs", sysfs, "--ledger", ledgerDir, "--log-level", logLevel)
		cmd.Stderr = os.Stderr
		cmd.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool {
			return strings.HasPrefix(kv, "GOMAXPROCS=")
		}), "GOMAXPROCS=1")
		return cmd
	}
}

// directRunner runs load jobs in this process: no daemon, no pool.
type directRunner struct{ l StepLoader }

func (r directRunner) Run(ctx context.Context, job []byte) ([]byte, error) {
	return Handler(nil, r.l, "")(ctx, job)
}

func (directRunner) Stats() workers.PoolStats { return workers.PoolStats{} }

// Direct configures LoadDirect.
type Direct struct {
	Log     *slog.Logger
	Tree    Tree
	Sysfs   string // where sysfs is mounted, normally /sys
	Cmdline string // the kernel command line (ReadCmdline)
	// Lookup holds modprobe's -b and the parameters for the modules the
	// names find.
	Lookup modload.LookupOptions
}

// LoadDirect loads names in this process, as modprobe does when no daemon
// runs (early boot), or when the command line asks for what a load shared
// with the daemon cannot honour: parameters, another module tree or
// configuration.
func LoadDirect(ctx context.Context, d Direct, names []string) ([]Result, error) {
	cat, err := OpenCatalog(d.Tree, d.Cmdline)
	if err != nil {
		return nil, err
	}
	m := New(Config{Log: d.Log, Catalog: cat, Runner: directRunner{modload.NewLoader(d.Tree.Dir, d.Sysfs, d.Log)}, Parallel: 1})
	defer m.Close(context.WithoutCancel(ctx))
	return m.LoadLookups(ctx, names, d.Lookup, false)
}
