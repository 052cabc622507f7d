package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gudevd/gudevd/cmd/gudevd/internal/programs"
	"github.com/gudevd/gudevd/cmd/gudevd/internal/rulehost"
	"github.com/gudevd/gudevd/rules"
	"github.com/gudevd/gudevd/rules/builtin"
	"github.com/gudevd/gudevd/uevent/devdb"
)

// testTimeout is udevadm test's event timeout.
const testTimeout = 60 * time.Second

// testHeader is what udevadm test prints first.
const testHeader = "This program is for debugging only, it does not run any program\n" +
	"specified by a RUN key. It may show incorrect results, because\n" +
	"some values may be different, or not available at a simulation run.\n\n"

// cmdTest is `udevadm test`: it evaluates the rules for one device as an
// event of --action would, and prints the device's properties afterwards
// and the RUN commands, as systemd 252's udevadm test prints them on
// stdout. PROGRAM and IMPORT{program} run, as there; RUN does not, and
// unlike udevadm test nothing is written: no database, no tags, no nodes,
// no links, no attributes, no rename.
func cmdTest(ctx context.Context, e *env, args []string) error {
	return withRuleSession(ctx, e, "test", "[--action A] [--root DIR] DEVPATH", 1, args, func(s *ruleSession, a ruleArgs) error {
		// udevadm test says what it is before anything can fail.
		if _, err := io.WriteString(e.stdout, testHeader); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
		rs, diags := s.loadRules()
		printDiagnostics(e.stderr, diags)
		out, err := testEvent(ctx, s.host, s.sysfs, rs, a.args[0], a.action, e.stderr)
		if err != nil {
			return err
		}
		if _, err := io.WriteString(e.stdout, out); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
		return nil
	})
}

// withRuleSession parses the arguments of test or test-builtin and runs f
// with a session over --root, closed after.
func withRuleSession(ctx context.Context, e *env, name, usage string, n int, args []string, f func(*ruleSession, ruleArgs) error) error {
	a, err := parseRuleArgs(e, name, usage, n, args)
	if err != nil {
		return err
	}
	progs := noPrograms
	if filepath.Clean(a.root) == "/" {
		progs = directPrograms
	}
	s, err := newRuleSession(ctx, e, a.root, progs)
	if err != nil {
		return err
	}
	defer s.close(ctx)
	return f(s, a)
}

// ruleArgs are the arguments of test and test-builtin.
type ruleArgs struct {
	action, root string
	args         []string
}

// parseRuleArgs parses --action and --root and wants n operands.
func parseRuleArgs(e *env, name, usage string, n int, args []string) (ruleArgs, error) {
	fl := newFlags(e, name)
	action := fl.String("action", "add", "the event's `ACTION`")
	root := fl.String("root", "/", "the system's root `DIR`: its rules, /sys, /run/udev/data, /etc, the hwdb; programs and blkid run only for /")
	fl.Usage = func() {
		fmt.Fprintf(fl.Output(), "usage: gudevd %s %s\n", name, usage)
		fl.PrintDefaults()
	}
	if err := parseFlags(fl, args); err != nil {
		return ruleArgs{}, err
	}
	if fl.NArg() != n || !validAction(*action) {
		fl.Usage()
		return ruleArgs{}, errUsage
	}
	return ruleArgs{action: *action, root: *root, args: fl.Args()}, nil
}

func validAction(a string) bool {
	return slices.Contains([]string{"add", "remove", "change", "move", "online", "offline", "bind", "unbind"}, a)
}

// syspathOf makes a DEVPATH argument, with or without /sys, a syspath.
func syspathOf(arg string) string {
	p := filepath.Clean("/" + arg)
	if p == "/sys" || strings.HasPrefix(p, "/sys/") {
		return p
	}
	return "/sys" + p
}

// testDevice builds the event's device as udevadm test does from a
// syspath (find_device_with_action): DEVPATH, the uevent file's
// properties with MAJOR and MINOR last (device_read_uevent_file sets the
// number after the loop), ACTION, then SUBSYSTEM, which sd-device adds
// when first asked. It returns the database's USEC_INITIALIZED too.
func testDevice(h *rulehost.Host, sysfs fs.FS, arg, action string) (*rules.Device, uint64, error) {
	dev, err := rules.DeviceFromFS(sysfs, syspathOf(arg))
	if err != nil {
		return nil, 0, fmt.Errorf("open device %q: %w", arg, err)
	}
	var props, devnum, sub []rules.Property
	for _, p := range dev.Props {
		switch p.Key {
		case "SUBSYSTEM":
			sub = append(sub, p)
		case "MAJOR", "MINOR":
			devnum = append(devnum, p)
		default:
			props = append(props, p)
		}
	}
	dev.Action = action
	props = append(props, devnum...)
	dev.Props = append(append(props, rules.Property{Key: "ACTION", Value: action}), sub...)
	e, ok := h.DBEntry(dev)
	if ok {
		dev.DB = rulehost.RulesDB(e)
	}
	return dev, e.Usec, nil
}

// testEvent evaluates the rules for the device and returns udevadm test's
// stdout after its header; the evaluation's diagnostics go to diag.
func testEvent(ctx context.Context, h *rulehost.Host, sysfs fs.FS, rs *rules.Rules, arg, action string, diag io.Writer) (string, error) {
	dev, usec, err := testDevice(h, sysfs, arg, action)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, testTimeout)
	defer cancel()
	res, err := rules.Eval(ctx, rs, dev, h)
	if res != nil {
		printDiagnostics(diag, res.Diagnostics)
	}
	if err != nil {
		return "", fmt.Errorf("evaluate %s: %w", dev.Syspath, err)
	}
	return formatTest(res, usec), nil
}

// formatTest prints what udevadm test does after the rules: every property of the device in sd-device's order (temporary ones
// included), with USEC_INITIALIZED last when the rules did not set it,
// udevd keeping the database's or taking the time now; then each RUN
// command.
func formatTest(res *rules.Result, usec uint64) string {
	var b strings.Builder
	for _, p := range res.Properties {
		b.WriteString(p.Key + "=" + p.Value + "\n")
	}
	if _, ok := res.Property("USEC_INITIALIZED"); !ok {
		if usec == 0 {
			usec = devdb.Now()
		}
		b.WriteString("USEC_INITIALIZED=" + strconv.FormatUint(usec, 10) + "\n")
	}
	for _, r := range res.Run {
		b.WriteString("run: '" + r.Command + "'\n")
	}
	return b.String()
}

func printDiagnostics(w io.Writer, diags []rules.Diagnostic) {
	bw := bufio.NewWriter(w)
	for _, d := range diags {
		if d.Severity != rules.Error {
			bw.WriteString("warning: ")
		}
		bw.WriteString(d.String() + "\n")
	}
	bw.Flush()
}

// ruleSession is what test and test-builtin run the rules with: a Host
// over the system below root, its builtins with the system's hwdb, naming
// scheme and .link files. On the running system (root "/") programs run
// from this process one at a time, as udevadm test runs them (the
// daemon's pool of `gudevd program-worker` processes is pooledPrograms),
// and blkid probes the nodes; below another root there are no nodes to run them on (their
// argv names this machine's /dev), so PROGRAM, IMPORT{program} and blkid
// fail there with errors.ErrUnsupported rather than probe the wrong
// devices, and input_id reads no axes.
type ruleSession struct {
	root, sysfs fs.FS
	host        *rulehost.Host
	env         *builtin.Env
	runner      *programs.Runner // nil below another root
	hwdb        *builtin.HWDB    // once env.OpenHWDB opened it
}

// programMode is how a session runs programs.
type programMode int

const (
	noPrograms     programMode = iota // below another root: none
	directPrograms                    // from this process, as udevadm test does
	pooledPrograms                    // in program workers, as the daemon does
)

// newRuleSession opens a session over root, running programs as progs
// says (the commands run them on "/" only, directly).
func newRuleSession(ctx context.Context, e *env, root string, progs programMode) (*ruleSession, error) {
	var runner *programs.Runner
	if progs != noPrograms {
		var err error
		if runner, err = newTestRunner(e, progs == pooledPrograms); err != nil {
			return nil, err
		}
	}
	return newRuleSessionWith(ctx, e, root, runner), nil
}

// newRuleSessionWith opens a session over root whose programs run in
// runner (nil: none), which the session closes.
func newRuleSessionWith(ctx context.Context, e *env, root string, runner *programs.Runner) *ruleSession {
	s := &ruleSession{root: os.DirFS(root), sysfs: os.DirFS(filepath.Join(root, "sys")), env: &builtin.Env{}}
	cfg := rulehost.Config{Log: e.log, Sysfs: s.sysfs, Root: s.root, Builtins: s.env}
	if runner != nil {
		s.runner, cfg.Programs = runner, runner
	}
	s.host = rulehost.New(cfg)
	s.setupBuiltins(ctx, e, root)
	return s
}

// newTestRunner runs programs with udevadm test's event timeout: from
// this process, or with pooled in a pool of program workers that start
// with the first program.
func newTestRunner(e *env, pooled bool) (*programs.Runner, error) {
	cfg := programs.Config{Log: e.log, Max: 2, Timeout: testTimeout, Limit: programs.DefaultLimit}
	if pooled {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find own binary: %w", err)
		}
		cfg.Command = programs.WorkerCommand(exe)
	}
	runner, err := programs.NewRunner(cfg)
	if err != nil {
		return nil, fmt.Errorf("start program workers: %w", err)
	}
	return runner, nil
}

// setupBuiltins fills the Env as udevd's udev_builtin_init does: what is
// missing is logged and the builtins needing it fail.
func (s *ruleSession) setupBuiltins(ctx context.Context, e *env, root string) {
	// The hwdb opens when a builtin first needs it: checking the whole
	// file is most of a one-shot run's time for an event that needs none
	// (a tty's, most of a boot's).
	s.env.OpenHWDB = sync.OnceValues(func() (*builtin.HWDB, error) {
		db, err := builtin.OpenDefaultHWDB(root)
		if err != nil {
			e.log.Warn("no hwdb", "err", err)
			return nil, nil // the builtins run as without a hwdb.bin
		}
		s.hwdb = db
		return db, nil
	})
	cmdline, _ := s.host.Cmdline(ctx)
	scheme, err := builtin.ResolveNamingScheme(cmdlineValue(cmdline, "net.naming-scheme"), envValue(e, "NET_NAMING_SCHEME"))
	if err != nil {
		e.log.Warn("naming scheme", "err", err)
	}
	s.env.Scheme = scheme
	if blkid, err := rulehost.FindBlkid(s.root); err != nil {
		e.log.Warn("blkid builtin unavailable", "err", err)
	} else if s.runner != nil {
		s.env.Blkid = rulehost.BlkidProbe(s.runner, blkid)
	}
	if s.runner != nil {
		// The touch surface's size, from the node as udevd reads it.
		s.env.Abs = rulehost.EvdevAbs
	}
	if run, err := fs.Sub(s.root, "run"); err == nil {
		s.env.RunDir = run
	}
	s.env.Link = s.linkSetup(ctx, e, cmdline)
}

func (s *ruleSession) linkSetup(ctx context.Context, e *env, cmdline string) builtin.LinkSetup {
	mid, _ := fs.ReadFile(s.root, "etc/machine-id")
	hostname, _ := fs.ReadFile(s.root, "etc/hostname")
	lh := builtin.LinkHost{
		Hostname: strings.TrimSpace(string(hostname)), MachineID: strings.TrimSpace(string(mid)),
		Virtualization: s.host.Virt(ctx), KernelCommandLine: cmdline, Architecture: s.host.Arch(ctx),
	}
	configs, err := builtin.LoadLinkConfigs(ctx, s.root, lh.Test)
	if err != nil {
		e.log.Warn("link files", "err", err)
	}
	ifnames := cmdlineValue(cmdline, "net.ifnames")
	return builtin.LinkSetup{Configs: configs, NamePolicy: ifnames == nil || *ifnames != "0", MachineID: lh.MachineID}
}

// loadRules loads the rules below the session's root, users and groups
// resolved with its passwd and group files, as udevd loads them.
func (s *ruleSession) loadRules() (*rules.Rules, []rules.Diagnostic) {
	return rules.Load(s.root, &rules.Options{Users: rules.PasswdFiles{FS: s.root}})
}

func (s *ruleSession) close(ctx context.Context) {
	s.closeBuiltins()
	if s.runner != nil {
		s.runner.Close(ctx)
	}
}

// cmdlineValue is the value of the last key=value word of the kernel
// command line; nil when absent.
func cmdlineValue(cmdline, key string) *string {
	var v *string
	for _, w := range strings.Fields(cmdline) {
		if val, ok := strings.CutPrefix(w, key+"="); ok {
			v = &val
		}
	}
	return v
}

func envValue(e *env, key string) *string {
	if v := e.getenv(key); v != "" {
		return &v
	}
	return nil
}
