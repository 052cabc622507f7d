// Command qemu-harness boots Debian kernels under QEMU to capture test data
// and to measure module loading under systemd-udevd and gudevd.
//
//	go run ./test/qemu/cmd/qemu-harness capture   # refresh */testdata/guest
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"

	"github.com/gudevd/gudevd/test/qemu"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "qemu-harness: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fl := flag.NewFlagSet("qemu-harness", flag.ContinueOnError)
	console := fl.Bool("console", false, "show guest consoles")
	repo := fl.String("repo", ".", "repository root (for capture)")
	kernel := fl.String("kernel", "6.1", "kernel (run)")
	scenario := fl.String("scenario", "udevd", "scenario (run)")
	cpus := fl.Int("cpus", 4, "vCPUs (run)")
	out := fl.String("out", "", "directory for the guest's files (run)")
	if len(args) == 0 {
		return fmt.Errorf("usage: qemu-harness capture|run|demo|bench [flags]")
	}
	sub := args[0]
	if err := fl.Parse(args[1:]); err != nil {
		return err
	}
	h := &qemu.Harness{Cache: qemu.CacheDir(), Progress: os.Stderr, Console: *console}
	switch sub {
	case "capture":
		for _, k := range qemu.Kernels {
			if err := h.Capture(ctx, k, *repo); err != nil {
				return err
			}
		}
		return nil
	case "run":
		k, err := qemu.KernelByName(*kernel)
		if err != nil {
			return err
		}
		res, err := h.Run(ctx, k, *scenario, *cpus)
		if err != nil {
			return err
		}
		if *out != "" {
			for name, b := range res.Files {
				p := filepath.Join(*out, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					return err
				}
				if err := os.WriteFile(p, b, 0o644); err != nil {
					return err
				}
			}
		}
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res.Summary)
	}
	return fmt.Errorf("unknown command %q", sub)
}
