package main

import (
	"context"

	"github.com/gudevd/gudevd/cmd/gudevd/internal/programs"
)

// cmdProgramWorker is the process the program pool starts: it runs one
// rules program per job (PROGRAM, IMPORT{program}, RUN).
func cmdProgramWorker(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "program-worker")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	return programs.ServeWorker(ctx)
}
