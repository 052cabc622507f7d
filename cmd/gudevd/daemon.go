package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/gudevd/gudevd/cmd/gudevd/internal/control"
	"github.com/gudevd/gudevd/cmd/gudevd/internal/daemon"
	"github.com/gudevd/gudevd/cmd/gudevd/internal/modules"
	"github.com/gudevd/gudevd/uevent"
)

// daemonFlags are `gudevd daemon`'s settings.
type daemonFlags struct {
	cfg        daemon.Config
	root       string
	modulesDir string
	logLevel   string
}

// coldplugFlag accepts --coldplug alone (trigger) or --coldplug=trigger|scan.
type coldplugFlag struct{ mode *daemon.Coldplug }

func (c coldplugFlag) String() string {
	if c.mode == nil {
		return ""
	}
	return string(*c.mode)
}
func (c coldplugFlag) IsBoolFlag() bool { return true }
func (c coldplugFlag) Set(s string) error {
	switch s {
	case "true", "trigger":
		*c.mode = daemon.ColdplugTrigger
	case "scan":
		*c.mode = daemon.ColdplugScan
	case "false":
		*c.mode = daemon.ColdplugNone
	default:
		return fmt.Errorf("want trigger or scan, got %q", s)
	}
	return nil
}

func parseDaemonFlags(e *env, args []string) (daemonFlags, error) {
	var f daemonFlags
	fs := newFlags(e, "daemon")
	fs.Var(coldplugFlag{&f.cfg.Coldplug}, "coldplug", "load the modules of the devices present at start: `trigger` (default) or scan")
	fs.StringVar(&f.root, "root", "/", "root `DIR` for the module tree and modprobe.d")
	fs.StringVar(&f.cfg.Sysfs, "sysfs", "/sys", "sysfs mount `DIR`")
	fs.StringVar(&f.modulesDir, "modules-dir", "", "module tree `DIR` (default ROOT/lib/modules/$(uname -r))")
	fs.StringVar(&f.cfg.Control, "control", control.DefaultPath, "control socket `PATH`")
	fs.IntVar(&f.cfg.Children, "children-max", 0, "events handled at once `N` (default min(2*CPUs+16, RAM/128MiB, 2048))")
	fs.IntVar(&f.cfg.LoadWorkers, "load-workers", 0, "module loads at once `N` (default min(children-max, CPUs+2, 8))")
	fs.DurationVar(&f.cfg.EventTimeout, "event-timeout", daemon.DefaultEventTimeout, "kill a worker whose load runs longer than `DUR`")
	fs.BoolVar(&f.cfg.KernelModprobe, "kernel-modprobe", false, "point /proc/sys/kernel/modprobe at gudevd while running")
	fs.IntVar(&f.cfg.ReceiveBuffer, "receive-buffer", uevent.DefaultReceiveBuffer, "uevent socket receive queue `BYTES`: events that overflow it are lost (ENOBUFS) and sysfs is rescanned")
	fs.StringVar(&f.logLevel, "log-level", "info", "log `LEVEL`: debug, info, warning, err")
	if err := parseFlags(fs, args); err != nil {
		return f, err
	}
	if f.cfg.ReceiveBuffer <= 0 {
		fmt.Fprintf(e.stderr, "gudevd daemon: --receive-buffer %d: want a positive number of bytes\n", f.cfg.ReceiveBuffer)
		return f, errUsage
	}
	return f, nil
}

// applyKnobs lets the kernel command line override the defaults, as udevd's
// udev.children_max= does; explicit flags win over both.
func (f *daemonFlags) applyKnobs(k daemon.Knobs, set map[string]bool) {
	if k.ChildrenMax > 0 && !set["children-max"] {
		f.cfg.Children = k.ChildrenMax
	}
	if k.EventTimeout > 0 && !set["event-timeout"] {
		f.cfg.EventTimeout = k.EventTimeout
	}
}

func cmdDaemon(ctx context.Context, e *env, args []string) error {
	f, err := parseDaemonFlags(e, args)
	if err != nil {
		return err
	}
	level := new(slog.LevelVar)
	l, err := daemon.ParseLevel(f.logLevel)
	if err != nil {
		return fmt.Errorf("parse --log-level: %w", err)
	}
	level.Set(l)
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	k, errs := daemon.ParseKnobs(modules.ReadCmdline())
	for _, err := range errs {
		log.Warn("ignore kernel command line knob", "err", err)
	}
	if k.LogLevel != nil {
		level.Set(*k.LogLevel)
	}
	f.applyKnobs(k, explicitFlags(args))
	if f.cfg.Tree, err = modules.DefaultTree(f.root, f.modulesDir); err != nil {
		return err
	}
	f.cfg.Log, f.cfg.Level = log, level
	d, err := daemon.New(f.cfg)
	if err != nil {
		return err
	}
	return d.Run(ctx)
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

// cmdWorker is the process the pool starts: it loads one module per job.
func cmdWorker(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "worker")
	modulesDir := fs.String("modules-dir", "", "module tree `DIR`")
	sysfs := fs.String("sysfs", "/sys", "sysfs mount `DIR`")
	logLevel := fs.String("log-level", "info", "log `LEVEL`")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	level, err := daemon.ParseLevel(*logLevel)
	if err != nil {
		return fmt.Errorf("parse --log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level})).With("worker", true)
	return modules.ServeWorker(ctx, log, modules.Tree{Dir: *modulesDir}, *sysfs)
}
