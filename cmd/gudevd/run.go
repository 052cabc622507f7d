package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// env is everything a subcommand may use from its process, so tests can run
// subcommands in-process with their own streams.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	log    *slog.Logger
	getenv func(string) string
	argv0  string // how the binary was called: the kernel runs its helper link by full path
	// cmdline reads the kernel command line and sysfs is where sysfs is
	// mounted, for modprobe, which reads both as kmod does; tests give
	// their own (nil and "" mean /proc/cmdline and /sys).
	cmdline func() string
	sysfs   string
	// initrd reports whether this process runs in an initrd (nil:
	// inInitrd); tests give their own.
	initrd func() bool
}

func newEnv() *env {
	return &env{
		stdin:  os.Stdin,
		stdout: os.Stdout,
		stderr: os.Stderr,
		log:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
		getenv: os.Getenv,
	}
}

type command struct {
	name  string
	usage string
	run   func(ctx context.Context, e *env, args []string) error
}

// commands lists every subcommand; the order is the order of `gudevd help`.
func commands() []command {
	return []command{
		{"daemon", "daemon [--coldplug[=trigger|scan]] [--modules-dir DIR] [--children-max N] [--event-timeout DUR]", cmdDaemon},
		{"settle", "settle [--timeout DUR]          wait until every event and module load is handled", cmdSettle},
		{"trigger", "trigger [--action A] [--subsystem-match S]...   ask the kernel to re-send uevents", cmdTrigger},
		{"monitor", "monitor [--kernel] [--property]  print uevents as they arrive", cmdMonitor},
		{"stats", "stats [--json]                   print the daemon's counters", cmdStats},
		{"load", "load MODULE...                   load modules through the daemon", cmdLoad},
		{"control", "control --exit|--reload|--log-level L", cmdControl},
		{"resolve", "resolve MODALIAS... | -          print the modules a MODALIAS loads", cmdResolve},
		{"verify", "verify [--root DIR] [FILE|DIR...]  check rules files as udevd 252 reads them", cmdVerify},
		{"hwdb", "hwdb --test=MODALIAS [--hwdb FILE] print the hwdb's properties of a MODALIAS", cmdHwdb},
		{"info", "info [--query Q] [--name N|--path P|-a|--export-db] [--root DIR]   print a device's database entry, as udevadm info", cmdInfo},
		{"test", "test [--action A] [--root DIR] DEVPATH   print what the rules make of a device, as udevadm test", cmdTest},
		{"test-builtin", "test-builtin [--action A] [--root DIR] 'NAME [ARGS]' DEVPATH   run one builtin, as udevadm test-builtin", cmdTestBuiltin},
		{"modprobe", "modprobe [-q] [--] NAME          the kernel's modprobe helper", cmdModprobe},
		{"kmod", "kmod load [NAME...]              udev's kmod builtin, through the daemon (80-drivers.rules)", cmdKmod},
		{"worker", "worker                           (internal) a module-load worker", cmdWorker},
		{"program-worker", "program-worker                   (internal) a worker running rules programs", cmdProgramWorker},
	}
}

// errUsage makes run exit 2 without printing anything more: the flag
// package has already explained.
var errUsage = errors.New("usage")

// run dispatches on the subcommand, or on the name the binary was called by
// (the kernel's usermode helper calls it as modprobe), and turns the result
// into an exit status.
func run(ctx context.Context, args []string, e *env) int {
	e.argv0 = args[0]
	name := filepath.Base(args[0])
	rest := args[1:]
	if name != "modprobe" {
		if len(rest) == 0 {
			usage(e.stderr)
			return 2
		}
		name, rest = rest[0], rest[1:]
	}
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		err := c.run(ctx, e, rest)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			return 2
		case errors.Is(err, errQuietFailure):
			return 1
		default:
			fmt.Fprintf(e.stderr, "gudevd %s: %v\n", name, err)
			return 1
		}
	}
	if name == "help" || name == "-h" || name == "--help" {
		usage(e.stdout)
		return 0
	}
	fmt.Fprintf(e.stderr, "gudevd: unknown command %q\n", name)
	usage(e.stderr)
	return 2
}

func usage(w io.Writer) {
	var b strings.Builder
	b.WriteString("usage: gudevd COMMAND [ARGS]\n\ncommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(&b, "  %s\n", c.usage)
	}
	io.WriteString(w, b.String())
}
