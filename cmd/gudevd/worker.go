package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/gudevd/gudevd/modload"
	"github.com/gudevd/gudevd/workers"
)

// cmdWorker is the process the pool starts: it loads one module per job.
// A crash here (a panic, an OOM kill) costs the daemon one job, never the
// daemon itself.
func cmdWorker(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "worker")
	modulesDir := fs.String("modules-dir", "", "module tree `DIR`")
	sysfs := fs.String("sysfs", "/sys", "sysfs mount `DIR`")
	logLevel := fs.String("log-level", "info", "log `LEVEL`")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(syslogToSlog(*logLevel))); err != nil {
		return fmt.Errorf("parse --log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level})).With("worker", true)
	conn, err := workers.WorkerConn()
	if err != nil {
		return err
	}
	defer conn.Close()
	loader := modload.NewLoader(*modulesDir, *sysfs, log)
	return workers.Serve(ctx, conn, conn, loadHandler(loader))
}

// stepLoader is the part of modload.Loader a worker uses.
type stepLoader interface {
	Load(ctx context.Context, s modload.Step) (modload.Result, error)
}

// loadHandler loads the module of one job. A load failure is part of the
// result, not a job error: it carries the module's typed error across the
// pipe intact, while job errors are left for what breaks the worker itself.
func loadHandler(l stepLoader) workers.Handler {
	return func(ctx context.Context, job []byte) ([]byte, error) {
		s, err := modload.UnmarshalStep(job)
		if err != nil {
			return nil, fmt.Errorf("decode job: %w", err)
		}
		r, loadErr := l.Load(ctx, s)
		return modload.MarshalResult(r, loadErr)
	}
}
