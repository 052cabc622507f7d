package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gudevd/gudevd/cmd/gudevd/internal/control"
	"github.com/gudevd/gudevd/cmd/gudevd/internal/daemon"
	"github.com/gudevd/gudevd/cmd/gudevd/internal/modules"
	"github.com/gudevd/gudevd/modload"
)

// kmod's log priorities (syslog's): modprobe prints a message when its
// priority is at most the verbosity, which starts at logWarning, -q sets to
// logEmerg and each -v raises by one.
const (
	logEmerg   = 0
	logCrit    = 2 // "FATAL"
	logErr     = 3 // "ERROR"
	logWarning = 4 // "WARNING"
)

// modprobeArgs is modprobe's command line for loading and for its query
// modes --show-depends and --dry-run.
type modprobeArgs struct {
	quiet     bool // -q: no messages, and a failure exits 1 without one
	verbosity int  // kmod's verbose: logWarning, -q logEmerg, +1 per -v
	all       bool
	blacklist bool // -b
	show      bool // -D
	dryRun    bool // -n
	firstTime bool
	dirname   string   // -d, the root of lib/modules
	version   string   // -S
	config    []string // -C, each a file or directory
	names     []string
	params    []string
}

// modprobeOptions are the short options that take an argument.
const modprobeArgOptions = "CdS"

// parseModprobeArgs reads modprobe's options the way kmod's getopt_long
// does: options anywhere before "--", short ones combined ("-qb") and with
// their argument attached ("-Cdir") or next, long ones as --opt=ARG or
// --opt ARG. Removal and the other query modes are modprobe's, not a
// helper's: they are refused rather than misread as module names.
func parseModprobeArgs(args []string) (modprobeArgs, error) {
	a := modprobeArgs{verbosity: logWarning}
	var rest []string
	for i := 0; i < len(args); i++ {
		arg := args[i]
		switch {
		case arg == "--":
			rest = append(rest, args[i+1:]...)
			i = len(args)
		case strings.HasPrefix(arg, "--"):
			name, val, hasVal := strings.Cut(arg[2:], "=")
			if takesArg(name) && !hasVal {
				if i+1 == len(args) {
					return a, fmt.Errorf("parse modprobe arguments: option --%s needs an argument", name)
				}
				i++
				val, hasVal = args[i], true
			}
			if err := a.set(name, val, hasVal); err != nil {
				return a, err
			}
		case strings.HasPrefix(arg, "-") && arg != "-":
			n, err := a.setShort(arg[1:], args[i+1:])
			if err != nil {
				return a, err
			}
			i += n
		default:
			rest = append(rest, arg)
		}
	}
	if len(rest) == 0 {
		return a, errors.New("parse modprobe arguments: no module named")
	}
	if a.all {
		a.names = rest
	} else {
		a.names, a.params = rest[:1], rest[1:]
	}
	return a, nil
}

// setShort applies one word of short options and returns how many of the
// following words it took as an argument.
func (a *modprobeArgs) setShort(opts string, next []string) (int, error) {
	for j := 0; j < len(opts); j++ {
		c := opts[j]
		if !strings.ContainsRune(modprobeArgOptions, rune(c)) {
			if err := a.set(string(c), "", false); err != nil {
				return 0, err
			}
			continue
		}
		if j+1 < len(opts) {
			return 0, a.set(string(c), opts[j+1:], true)
		}
		if len(next) == 0 {
			return 0, fmt.Errorf("parse modprobe arguments: option -%c needs an argument", c)
		}
		return 1, a.set(string(c), next[0], true)
	}
	return 0, nil
}

func takesArg(long string) bool {
	return long == "config" || long == "dirname" || long == "set-version"
}

// set applies one option by its short or long name.
func (a *modprobeArgs) set(name, val string, hasVal bool) error {
	if hasVal != (len(name) == 1 && strings.Contains(modprobeArgOptions, name) || takesArg(name)) {
		return fmt.Errorf("parse modprobe arguments: option %s: unexpected argument %q", name, val)
	}
	switch name {
	case "q", "quiet":
		a.quiet, a.verbosity = true, logEmerg
	case "v", "verbose":
		a.verbosity++
	case "a", "all":
		a.all = true
	case "b", "use-blacklist":
		a.blacklist = true
	case "D", "show-depends":
		a.show = true
	case "n", "dry-run", "show":
		a.dryRun = true
	case "first-time":
		a.firstTime = true
	case "C", "config":
		a.config = append(a.config, val)
	case "d", "dirname":
		a.dirname = val
	case "S", "set-version":
		a.version = val
	case "s", "syslog":
		// Messages go to stderr, which the kernel's helper has too.
	default:
		return fmt.Errorf("parse modprobe arguments: unsupported option %s", name)
	}
	return nil
}

// lookupOptions are the modprobe.d choices the command line makes.
func (a modprobeArgs) lookupOptions() modload.LookupOptions {
	o := modload.LookupOptions{Params: modprobeParams(a.params)}
	if a.blacklist {
		o.Blacklist = modload.BlacklistAll
	}
	return o
}

// modprobeParams joins parameters as kmod's options_from_array does: a
// value with a blank that is not quoted already gets double quotes, so
// that "name=a b" reaches the kernel as name="a b".
func modprobeParams(params []string) string {
	out := make([]string, 0, len(params))
	for _, p := range params {
		key, val, ok := strings.Cut(p, "=")
		if ok && val != "" && val[0] != '"' && val[0] != '\'' && strings.Contains(val, " ") {
			p = key + `="` + val + `"`
		}
		out = append(out, p)
	}
	return strings.Join(out, " ")
}

// dir is the modules directory as kmod names it: -d ROOT and -S VERSION
// give ROOT/lib/modules/VERSION, made absolute from the working directory
// but not cleaned, as kmod prints it.
func (a modprobeArgs) dir() (string, error) {
	v := a.version
	if v == "" {
		r, err := modules.KernelRelease()
		if err != nil {
			return "", err
		}
		v = r
	}
	d := a.dirname + "/lib/modules/" + v
	if a.dirname == "" && a.version == "" {
		return d, nil
	}
	if !filepath.IsAbs(d) {
		wd, err := os.Getwd()
		if err != nil {
			return "", fmt.Errorf("find working directory: %w", err)
		}
		d = wd + "/" + d
	}
	return d, nil
}

// tree is what modprobe reads: the modules directory, and the modprobe.d
// of this machine's root (modprobe -d does not move it) or -C's paths.
func (a modprobeArgs) tree() (modules.Tree, error) {
	d, err := a.dir()
	if err != nil {
		return modules.Tree{}, err
	}
	t := modules.Tree{Root: "/", Dir: d}
	for _, c := range a.config {
		abs, err := filepath.Abs(c)
		if err != nil {
			return modules.Tree{}, fmt.Errorf("find config %s: %w", c, err)
		}
		t.Config = append(t.Config, abs)
	}
	return t, nil
}

// local asks for what the daemon, with its own tree and configuration,
// cannot honour: parameters, or another tree or configuration.
func (a modprobeArgs) local() bool {
	return len(a.params) > 0 || a.dirname != "" || a.version != "" || a.config != nil
}

// cmdModprobe is the kernel's usermode helper (and `modprobe NAME` for
// scripts): it asks the running daemon, so the load is deduplicated with
// every uevent's, and loads directly when no daemon runs or the command line
// asks for what a shared load cannot honour (local). --show-depends and
// --dry-run load nothing and print what kmod's modprobe prints.
func cmdModprobe(ctx context.Context, e *env, args []string) error {
	a, err := parseModprobeArgs(args)
	if err != nil {
		return err
	}
	if a.show || a.dryRun {
		return a.query(e)
	}
	return a.load(ctx, e)
}

// load loads a.names: through the daemon when one answers, else directly.
func (a modprobeArgs) load(ctx context.Context, e *env) error {
	ctx, cancel := context.WithTimeout(ctx, 180*time.Second)
	defer cancel()
	names, inKernel := a.names, false
	var err error
	if a.blacklist || a.firstTime {
		if names, inKernel, err = a.check(e); err != nil {
			return err
		}
	}
	var res []modules.Result
	switch {
	case len(names) == 0:
	case !a.local():
		// The kernel runs the link a daemon made next to its control
		// socket: ask that daemon, wherever --control put it.
		ctl := daemon.HelperControl(e.argv0, control.DefaultPath)
		// Only the kernel's own request skips the daemon's bound on loads
		// at once: udevd runs a modprobe for every MODALIAS event
		// (80-drivers.rules), and those must queue like uevents' loads.
		op := control.OpProbe
		if daemon.IsKernelHelper(e.argv0) {
			op = control.OpModprobe
		}
		var rep control.Reply
		rep, err = control.Call(ctx, ctl, control.Request{Op: op, Modules: names})
		res = rep.Results
		if errors.Is(err, control.ErrNoDaemon) {
			a.say(e, "no daemon at %s: loading directly", ctl)
			res, err = a.direct(ctx, e, names)
		} else {
			a.say(e, "loaded by the daemon at %s", ctl)
		}
	default:
		a.say(e, "loading directly: the command line asks for a tree, configuration or parameters of its own")
		res, err = a.direct(ctx, e, names)
	}
	if err == nil && inKernel {
		err = errQuietFailure // modprobe said why
	}
	return a.report(e, res, err)
}

// say tells, with -v, who did the load.
func (a modprobeArgs) say(e *env, format string, args ...any) {
	if a.verbosity > logWarning {
		fmt.Fprintf(e.stderr, "modprobe: "+format+"\n", args...)
	}
}

func (a modprobeArgs) report(e *env, res []modules.Result, err error) error {
	if a.verbosity > logWarning {
		printResults(e.stdout, res)
	}
	if err != nil && a.quiet {
		return errQuietFailure
	}
	return err
}

// errQuietFailure exits 1 without a message, as modprobe -q does.
var errQuietFailure = errors.New("quiet failure")

// direct loads in this process.
func (a modprobeArgs) direct(ctx context.Context, e *env, names []string) ([]modules.Result, error) {
	t, err := a.tree()
	if err != nil {
		return nil, err
	}
	return modules.LoadDirect(ctx, modules.Direct{
		Log: a.directLog(e), Tree: t, Sysfs: e.sysfsRoot(), Cmdline: e.kernelCmdline(), Lookup: a.lookupOptions(),
	}, names)
}

// directLog is the log of a direct load at kmod's verbosity: nothing with
// -q (the kernel's helper runs so), warnings by default, each module's load
// with -v.
func (a modprobeArgs) directLog(e *env) *slog.Logger {
	switch {
	case a.verbosity < logWarning:
		return slog.New(slog.DiscardHandler)
	case a.verbosity > logWarning:
		return e.log
	}
	return slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// check applies -b and --first-time before a load, from this process's own
// index. It drops the names whose module the blacklist keeps from loading
// (a module found by its name is the only one its lookup finds, so the
// daemon, which applies the blacklist to aliases, gets the rest right).
// With --first-time it says, as modprobe does, which modules the names
// find are in the kernel already, and reports whether any is: the load
// goes on for the others, as kmod's goes on with a name's next module.
func (a modprobeArgs) check(e *env) (keep []string, inKernel bool, err error) {
	cat, dir, done, err := a.catalog(e)
	if err != nil {
		return nil, false, err
	}
	defer done()
	live := a.live(e, dir)
	for _, l := range cat.Lookup(a.names, a.lookupOptions()) {
		ok := true
		for _, p := range l.Found {
			switch {
			case a.firstTime && (p.Builtin || live(p.Module)):
				a.log(e, logErr, "could not insert '%s': Module already in kernel", p.Module)
				inKernel = true
			case p.Blacklisted && p.Alias == "":
				ok = false
			}
		}
		if ok {
			keep = append(keep, l.Name)
		}
	}
	return keep, inKernel, nil
}

// catalog opens the tree the command line names, with the kernel command
// line, from depmod's .bin indexes as kmod does (modules.OpenCatalog);
// done closes it, printing what was damaged as warnings, as kmod prints
// them.
func (a modprobeArgs) catalog(e *env) (cat *modules.Catalog, dir string, done func(), err error) {
	t, err := a.tree()
	if err != nil {
		return nil, "", nil, err
	}
	log := slog.New(slog.DiscardHandler)
	if a.verbosity >= logWarning {
		log = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	cat, err = modules.OpenCatalog(t, e.kernelCmdline())
	if err != nil {
		return nil, "", nil, err
	}
	return cat, t.Dir, func() { cat.Close(log) }, nil
}

// live reports whether /sys/module/NAME/initstate says "live".
func (a modprobeArgs) live(e *env, dir string) func(string) bool {
	l := modload.NewLoader(dir, e.sysfsRoot(), nil)
	return func(name string) bool {
		st, err := l.State(name)
		return err == nil && st == modload.StateLive
	}
}

// query is --show-depends and --dry-run: it loads nothing.
func (a modprobeArgs) query(e *env) error {
	cat, dir, done, err := a.catalog(e)
	if err != nil {
		return err
	}
	defer done()
	return a.probe(e, cat, dir, a.live(e, dir))
}

// probe prints what kmod's modprobe prints for -D or -n, messages and exit
// status included: a name that finds nothing is FATAL and ends the run
// (a WARNING with -a), --first-time on a module in the kernel is an ERROR,
// and a name's result is its last module's, as in kmod's insmod().
func (a modprobeArgs) probe(e *env, cat *modules.Catalog, dir string, live func(string) bool) error {
	w := bufio.NewWriter(e.stdout)
	defer w.Flush()
	o := modload.ShowOptions{Dir: dir, FirstTime: a.firstTime, Quiet: !a.show && a.verbosity <= logWarning}
	if !a.show {
		o.Live = live
	}
	failed := false
	for _, l := range cat.Lookup(a.names, a.lookupOptions()) {
		if len(l.Found) == 0 {
			if !a.all {
				a.log(e, logCrit, "Module %s not found in directory %s", l.Name, dir)
				w.Flush()
				return errQuietFailure
			}
			a.log(e, logWarning, "Module %s not found in directory %s", l.Name, dir)
			failed = true
			continue
		}
		var last error
		for _, p := range l.Found {
			last = modload.ShowProbe(w, p, o)
			if errors.Is(last, modload.ErrInKernel) {
				a.log(e, logErr, "could not insert '%s': Module already in kernel", p.Module)
			} else if last != nil {
				return fmt.Errorf("write: %w", last)
			}
		}
		failed = failed || last != nil
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if failed {
		return errQuietFailure
	}
	return nil
}

// log prints a message as kmod's log_printf does, if the verbosity lets it.
func (a modprobeArgs) log(e *env, prio int, format string, args ...any) {
	if prio > a.verbosity {
		return
	}
	name := map[int]string{logCrit: "FATAL", logErr: "ERROR", logWarning: "WARNING"}[prio]
	fmt.Fprintf(e.stderr, "modprobe: %s: "+format+"\n", append([]any{name}, args...)...)
}

// kernelCmdline and sysfsRoot default what a test env leaves out.
func (e *env) kernelCmdline() string {
	if e.cmdline == nil {
		return modules.ReadCmdline()
	}
	return e.cmdline()
}

func (e *env) sysfsRoot() string {
	if e.sysfs == "" {
		return "/sys"
	}
	return e.sysfs
}
