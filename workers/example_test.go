package workers_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/gudevd/gudevd/workers"
)

// The daemon side: a Group in front of a Pool, so that each module name
// reaches a worker once however many devices ask for it.
func Example() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	exe, err := os.Executable()
	if err != nil {
		log.Error("find own binary", "err", err)
		return
	}
	pool, err := workers.NewPool(workers.Config{
		Start: func(ctx context.Context) *exec.Cmd {
			cmd := exec.CommandContext(ctx, exe, "worker")
			cmd.Stderr = os.Stderr
			return cmd
		},
		Logger: log,
	})
	if err != nil {
		log.Error("create pool", "err", err)
		return
	}
	loads := workers.NewGroup()

	ctx := context.Background()
	name := "snd_hda_intel"
	_, err, how := loads.Do(ctx, name, func(ctx context.Context) ([]byte, error) {
		return pool.Run(ctx, []byte(name))
	})
	switch {
	case errors.Is(err, syscall.EEXIST):
		// Loaded by someone else first: as good as loaded.
	case errors.Is(err, workers.ErrWorkerDied), errors.Is(err, workers.ErrTimeout):
		log.Warn("load failed in its worker", "module", name, "err", err)
	case err != nil:
		log.Warn("load failed", "module", name, "err", err)
	}
	fmt.Println(name, how)

	// Shut down in order: stop starting loads, then stop the workers.
	stop, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	loads.Close(stop)
	if err := pool.Close(stop); err != nil {
		log.Warn("stop workers", "err", err)
	}
}

// The worker side, `gudevd worker`: serve jobs on the pool's socket until
// the daemon closes it.
func ExampleServe() {
	conn, err := workers.WorkerConn()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gudevd worker:", err)
		os.Exit(1)
	}
	load := func(ctx context.Context, job []byte) ([]byte, error) {
		// A real handler loads the module named by job; an error that
		// wraps its errno (EEXIST, ENOENT) reaches the daemon with it.
		return nil, fmt.Errorf("load %s: %w", job, syscall.ENOSYS)
	}
	if err := workers.Serve(context.Background(), conn, conn, load); err != nil {
		fmt.Fprintln(os.Stderr, "gudevd worker:", err)
		os.Exit(1)
	}
}
