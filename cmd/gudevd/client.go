package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gudevd/gudevd/cmd/gudevd/internal/control"
	"github.com/gudevd/gudevd/cmd/gudevd/internal/modules"
)

// newFlags returns a flag set that reports to the command's stderr and
// returns errors instead of exiting, so run() decides the exit status.
func newFlags(e *env, name string) *flag.FlagSet {
	fs := flag.NewFlagSet("gudevd "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	return fs
}

// parseFlags wraps flag errors so run() exits 2 for usage mistakes.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	return nil
}

// cmdSettle waits until the daemon has handled every event the kernel has
// sent so far and every module load it started. It retries the connection
// until the deadline: a boot script starts the daemon in the background and
// calls settle at once, before the control socket exists.
func cmdSettle(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "settle")
	timeout := fs.Duration("timeout", 120*time.Second, "give up after `DUR`")
	ctl := fs.String("control", control.DefaultPath, "control socket `PATH`")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	err := callWhenUp(ctx, *ctl, control.Request{Op: control.OpSettle})
	if err != nil && ctx.Err() != nil && !errors.Is(err, control.ErrNoDaemon) {
		return fmt.Errorf("wait for the event queue to settle: timed out after %v", *timeout)
	}
	return err
}

// callWhenUp sends req, retrying every 50 ms while no daemon listens yet,
// until ctx ends.
func callWhenUp(ctx context.Context, ctl string, req control.Request) error {
	for {
		_, err := control.Call(ctx, ctl, req)
		if !errors.Is(err, control.ErrNoDaemon) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for the daemon: %w: %w", ctx.Err(), control.ErrNoDaemon)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// cmdControl changes a running daemon: --exit stops it (an initramfs does this
// before switch_root), --reload rereads the module index and configuration,
// --log-level changes its verbosity.
func cmdControl(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "control")
	ping := fs.Bool("ping", false, "wait until the daemon answers (an initramfs script starts it in the background)")
	exit := fs.Bool("exit", false, "wait for running jobs, stop every worker and exit")
	reload := fs.Bool("reload", false, "reread the module index and configuration")
	level := fs.String("log-level", "", "set the log `LEVEL` (debug, info, warning, err)")
	ctl := fs.String("control", control.DefaultPath, "control socket `PATH`")
	timeout := fs.Duration("timeout", 60*time.Second, "give up after `DUR`")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var reqs []control.Request
	if *ping {
		reqs = append(reqs, control.Request{Op: control.OpStats})
	}
	if *level != "" {
		reqs = append(reqs, control.Request{Op: control.OpLogLevel, LogLevel: *level})
	}
	if *reload {
		reqs = append(reqs, control.Request{Op: control.OpReload})
	}
	if *exit {
		reqs = append(reqs, control.Request{Op: control.OpExit})
	}
	if len(reqs) == 0 {
		fmt.Fprintln(e.stderr, "gudevd control: say --ping, --exit, --reload or --log-level")
		return errUsage
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	for i, r := range reqs {
		var err error
		if i == 0 && *ping {
			err = callWhenUp(ctx, *ctl, r)
		} else {
			_, err = control.Call(ctx, *ctl, r)
		}
		if err != nil {
			return fmt.Errorf("send %s: %w", r.Op, err)
		}
	}
	return nil
}

// cmdLoad loads modules through the running daemon, so an explicit load is
// deduplicated with everything else; it also retries a module whose earlier
// load failed.
func cmdLoad(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "load")
	ctl := fs.String("control", control.DefaultPath, "control socket `PATH`")
	timeout := fs.Duration("timeout", 180*time.Second, "give up after `DUR`")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(e.stderr, "usage: gudevd load MODULE...")
		return errUsage
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	rep, err := control.Call(ctx, *ctl, control.Request{Op: control.OpLoad, Modules: fs.Args()})
	printResults(e.stdout, rep.Results)
	return err
}

func printResults(w io.Writer, rs []modules.Result) {
	for _, r := range rs {
		if r.Error != "" {
			fmt.Fprintf(w, "%s\t%s\t%s\n", r.Module, r.Result, r.Error)
			continue
		}
		fmt.Fprintf(w, "%s\t%s\n", r.Module, r.Result)
	}
}

// cmdStats prints the daemon's counters.
func cmdStats(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "stats")
	asJSON := fs.Bool("json", false, "print JSON")
	ctl := fs.String("control", control.DefaultPath, "control socket `PATH`")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	rep, err := control.Call(ctx, *ctl, control.Request{Op: control.OpStats})
	if err != nil {
		return err
	}
	if rep.Stats == nil {
		return errors.New("read stats: the daemon sent none")
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep.Stats)
	}
	return writeStats(e.stdout, rep.Stats)
}

// writeStats prints the counters for a person: totals first, then per
// module.
func writeStats(w io.Writer, s *control.Stats) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for _, kv := range totals(s) {
		fmt.Fprintf(tw, "%s\t%d\n", kv.name, kv.n)
	}
	for _, k := range sortedKeys(s.LoadSyscalls) {
		fmt.Fprintf(tw, "load syscalls %s\t%d\n", k, s.LoadSyscalls[k])
	}
	if len(s.Modules) > 0 {
		fmt.Fprintf(tw, "\nmodule\trequests\tsyscalls\tresult\tms\n")
		for _, name := range sortedKeys(s.Modules) {
			m := s.Modules[name]
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%.1f\n", name, m.Requests, m.Syscalls, m.Result, m.Millis)
		}
	}
	if len(s.Failed) > 0 {
		fmt.Fprintf(tw, "\nfailed module\treason\n")
		for _, name := range sortedKeys(s.Failed) {
			fmt.Fprintf(tw, "%s\t%s\n", name, strings.ReplaceAll(s.Failed[name], "\n", " "))
		}
	}
	return tw.Flush()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

type counter struct {
	name string
	n    uint64
}

func totals(s *control.Stats) []counter {
	c := []counter{
		{"events received", s.EventsReceived},
		{"events dropped by credential check", s.EventsDroppedCreds},
		{"events malformed", s.EventsMalformed},
		{"receive buffer overflows (ENOBUFS)", s.Overflows},
		{"resyncs", s.Resyncs},
		{"modalias lookups", s.ModaliasLookups},
		{"module requests", s.ModuleRequests},
		{"joined in flight", s.JoinedInFlight},
		{"served from done", s.ServedFromDone},
		{"load retries after ENOMEM/EAGAIN", s.LoadRetries},
		{"worker crashes", s.WorkerCrashes},
		{"worker timeouts", s.WorkerTimeouts},
		{"damaged module index lines skipped", uint64(s.IndexProblems)},
		{"control requests", s.Control.Requests},
		{"control connections refused (not root)", s.Control.Refused},
		{"control requests malformed", s.Control.Malformed},
		{"control clients gone before the reply", s.Control.ClientGone},
	}
	if u := s.UdevControl; u != nil {
		c = append(c, counter{"udev control messages", u.Messages}, counter{"udev control messages refused (not root)", u.Refused},
			counter{"udev control messages malformed", u.Malformed})
	}
	if u := s.Udev; u != nil {
		c = append(c,
			counter{"udev events", u.Events}, counter{"udev events failed (UDEV_WORKER_FAILED)", u.Failed},
			counter{"udev rules aborted", u.RuleErrors}, counter{"udev renames failed", u.RenameErrors},
			counter{"udev node or link errors", u.NodeErrors}, counter{"udev database errors", u.DBErrors},
			counter{"udev ATTR/SYSCTL write errors", u.WriteErrors}, counter{"udev RUN errors", u.RunErrors},
			counter{"udev broadcast errors", u.SendErrors})
	}
	return c
}
