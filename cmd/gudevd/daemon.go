package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/gudevd/gudevd/cmd/gudevd/internal/control"
	"github.com/gudevd/gudevd/cmd/gudevd/internal/daemon"
	"github.com/gudevd/gudevd/cmd/gudevd/internal/modules"
	"github.com/gudevd/gudevd/uevent"
	"golang.org/x/sys/unix"
)

// daemonFlags are `gudevd daemon`'s settings.
type daemonFlags struct {
	cfg        daemon.Config
	root       string
	modulesDir string
	logLevel   string
	udev       bool
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
	fs.StringVar(&f.cfg.UdevControl, "udev-control", "", "also serve systemd-udevd's control protocol on `PATH` ("+control.UdevPath+" when gudevd replaces systemd-udevd), for udevadm control")
	fs.IntVar(&f.cfg.Children, "children-max", 0, "events handled at once `N` (default min(2*CPUs+16, RAM/128MiB, 2048))")
	fs.IntVar(&f.cfg.LoadWorkers, "load-workers", 0, "module loads at once `N` (default min(children-max, CPUs+2, 4))")
	fs.DurationVar(&f.cfg.EventTimeout, "event-timeout", daemon.DefaultEventTimeout, "kill a worker whose load runs longer than `DUR`")
	fs.BoolVar(&f.cfg.KernelModprobe, "kernel-modprobe", false, "point /proc/sys/kernel/modprobe at gudevd while running")
	fs.IntVar(&f.cfg.ReceiveBuffer, "receive-buffer", uevent.DefaultReceiveBuffer, "uevent socket receive queue `BYTES`: events that overflow it are lost (ENOBUFS) and sysfs is rescanned")
	fs.StringVar(&f.logLevel, "log-level", "info", "log `LEVEL`: debug, info, warning, err")
	fs.BoolVar(&f.udev, "udev", false, "be systemd-udevd: run the udev rules, keep the database in /run/udev, set nodes' permissions and links in /dev, broadcast to libudev listeners and serve "+control.UdevPath)
	var ledger string
	fs.StringVar(&ledger, "ledger", "", "keep the kernel's refusals of this boot for a restarted daemon in `DIR`, or none (default failed/, or failed-initrd/ in an initrd, beside the control socket)")
	if err := parseFlags(fs, args); err != nil {
		return f, err
	}
	f.cfg.Ledger = ledgerDir(e, ledger, f.cfg.Control)
	if f.cfg.ReceiveBuffer <= 0 {
		fmt.Fprintf(e.stderr, "gudevd daemon: --receive-buffer %d: want a positive number of bytes\n", f.cfg.ReceiveBuffer)
		return f, errUsage
	}
	return f, nil
}

// ledgerDir is the daemon's failed-load ledger: flag if set ("none" for
// none), else beside the control socket, in /run, gone at reboot as the
// refusals it keeps are of this boot. An initrd's daemon keeps its own:
// /run moves to the root system, whose module tree and firmware may load
// what the initrd's could not, so its daemon must try again.
func ledgerDir(e *env, flag, control string) string {
	switch flag {
	case "none":
		return ""
	case "":
	default:
		return flag
	}
	initrd := e.initrd
	if initrd == nil {
		initrd = inInitrd
	}
	name := "failed"
	if initrd() {
		name = "failed-initrd"
	}
	return filepath.Join(filepath.Dir(control), name)
}

// inInitrd reports an initrd as systemd's in_initrd() does, by
// /etc/initrd-release (dracut's and systemd's initrds have it), or, for
// initrds without it (initramfs-tools'), by a root that is a ramfs or tmpfs,
// as the kernel's rootfs is.
func inInitrd() bool {
	if _, err := os.Stat("/etc/initrd-release"); err == nil {
		return true
	}
	var st unix.Statfs_t
	if err := unix.Statfs("/", &st); err != nil {
		return false
	}
	return st.Type == unix.RAMFS_MAGIC || st.Type == unix.TMPFS_MAGIC
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

// daemonProcs bounds the daemon's GOMAXPROCS unless $GOMAXPROCS is set.
// Its work per uevent is microseconds (BenchmarkQueueStorm: 4.4 CPU µs an
// event at 4096 events) and the rest is waiting on sockets and workers, so
// more Ps buy nothing, while every P that allocates keeps spans of its own
// per size class: memory that grows with the CPU count, which is what the
// daemon must not do. Two keep a receive going while the other runs a
// lookup or the garbage collector.
const daemonProcs = 2

// daemonGCPercent is the daemon's GOGC unless $GOGC is set. The Go heap
// may grow to 4 MiB times GOGC/100 before its first collection; the
// daemon's live heap is about a megabyte (queue, plans, flights), so the
// default let it sit at four. Its garbage comes from events, and one
// collection of a heap this small costs well under a millisecond.
const daemonGCPercent = 25

func cmdDaemon(ctx context.Context, e *env, args []string) error {
	f, err := parseDaemonFlags(e, args)
	if err != nil {
		return err
	}
	disableHugePages(e)
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(min(runtime.NumCPU(), daemonProcs))
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(daemonGCPercent)
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
	var d *daemon.Daemon
	if f.udev {
		e.log = log
		s, err := setupUdev(ctx, e, &f.cfg, explicitFlags(args)["receive-buffer"], func() *daemon.Daemon { return d })
		if err != nil {
			return err
		}
		defer s.close()
	}
	if d, err = daemon.New(f.cfg); err != nil {
		return err
	}
	return d.Run(ctx)
}

// disableHugePages keeps transparent huge pages away from the daemon and,
// since PR_SET_THP_DISABLE is inherited across fork and kept across execve,
// from every worker it starts. With THP "always" (Debian's default) the
// kernel backs a fresh 2 MiB-aligned stretch of the Go heap with a huge
// page on its first touch: on a 4-vCPU guest each re-executed worker held
// 2-4 MiB of AnonHugePages for under 1 MiB of data, and the daemon 4-8 MiB,
// none of it shared. A device manager gains nothing from huge pages.
//
// The Go runtime has touched its first heap pages before main runs, and
// the flag does not split huge pages already there, so the daemon sets it
// and executes itself once more (same pid, arguments and environment): the
// new image starts with it set. It goes on as it is if either step fails.
func disableHugePages(e *env) {
	if off, err := unix.PrctlRetInt(unix.PR_GET_THP_DISABLE, 0, 0, 0, 0); err != nil || off != 0 {
		return
	}
	if err := unix.Prctl(unix.PR_SET_THP_DISABLE, 1, 0, 0, 0); err != nil {
		fmt.Fprintf(e.stderr, "gudevd: disable transparent huge pages: %v\n", err)
		return
	}
	if len(os.Args) < 2 || os.Args[1] != "daemon" {
		return // not started as `gudevd daemon` (a test): nothing to run again
	}
	exe, err := os.Executable()
	if err == nil {
		err = syscall.Exec(exe, os.Args, os.Environ())
	}
	fmt.Fprintf(e.stderr, "gudevd: execute again without huge pages: %v\n", err)
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
	ledger := fs.String("ledger", "", "write the kernel's refusals to `DIR` (the daemon's failed-load ledger)")
	logLevel := fs.String("log-level", "info", "log `LEVEL`")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	level, err := daemon.ParseLevel(*logLevel)
	if err != nil {
		return fmt.Errorf("parse --log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level})).With("worker", true)
	return modules.ServeWorker(ctx, log, modules.Tree{Dir: *modulesDir}, *sysfs, *ledger)
}
