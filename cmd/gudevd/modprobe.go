package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/gudevd/gudevd/modload"
)

// modprobeArgs is the part of modprobe's command line that the kernel's
// request_module() and scripts calling `modprobe NAME` use.
type modprobeArgs struct {
	quiet   bool
	verbose bool
	all     bool
	names   []string
	params  []string
}

// parseModprobeArgs accepts modprobe's short and long options for loading.
// Removal and the query modes are modprobe's, not a helper's: they are
// refused rather than misread as module names.
func parseModprobeArgs(args []string) (modprobeArgs, error) {
	var a modprobeArgs
	var rest []string
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			rest = append(rest, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(arg, "-") || arg == "-" {
			rest = append(rest, arg)
			continue
		}
		switch arg {
		case "-q", "--quiet":
			a.quiet = true
		case "-v", "--verbose":
			a.verbose = true
		case "-a", "--all":
			a.all = true
		case "-b", "--use-blacklist", "-s", "--syslog":
			// The blacklist applies to aliases anyway; logs go to stderr.
		default:
			if strings.HasPrefix(arg, "-") && len(arg) > 2 && arg[1] != '-' {
				// Combined short flags, as in -qb.
				expanded := make([]string, 0, len(arg)-1)
				for _, c := range arg[1:] {
					expanded = append(expanded, "-"+string(c))
				}
				args = append(args[:i+1], append(expanded, args[i+1:]...)...)
				continue
			}
			return a, fmt.Errorf("parse modprobe arguments: unsupported option %s", arg)
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

// cmdModprobe is the kernel's usermode helper (and `modprobe NAME` for
// scripts): it asks the running daemon, so the load is deduplicated with
// every uevent's, and loads directly when no daemon runs (early boot, or
// parameters given on the command line, which a shared load cannot honour).
func cmdModprobe(ctx context.Context, e *env, args []string) error {
	a, err := parseModprobeArgs(args)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 180*time.Second)
	defer cancel()
	if len(a.params) == 0 {
		rep, err := call(ctx, defaultControl, request{Op: "modprobe", Modules: a.names})
		if !errors.Is(err, errNoDaemon) {
			return a.report(e, rep.Results, err)
		}
	}
	res, err := modprobeDirect(ctx, e.log, a)
	return a.report(e, res, err)
}

func (a modprobeArgs) report(e *env, res []loadResult, err error) error {
	if a.verbose {
		printResults(e.stdout, res)
	}
	if err != nil && a.quiet {
		return errQuietFailure
	}
	return err
}

// errQuietFailure exits 1 without a message, as modprobe -q does.
var errQuietFailure = errors.New("quiet failure")

// directRunner runs load jobs in this process: no daemon, no pool.
type directRunner struct{ l stepLoader }

func (r directRunner) Run(ctx context.Context, job []byte) ([]byte, error) {
	return loadHandler(r.l)(ctx, job)
}

func modprobeDirect(ctx context.Context, log *slog.Logger, a modprobeArgs) ([]loadResult, error) {
	dir, err := modulesDirFor("/", "")
	if err != nil {
		return nil, err
	}
	cmdline := readCmdline()
	cat, err := loadCatalog(log, "/", dir, cmdline)
	if err != nil {
		return nil, err
	}
	if len(a.params) > 0 {
		cat = withParams(cat, a.names[0], strings.Join(a.params, " "))
	}
	l := modload.NewLoader(dir, "/sys", log)
	m := newModules(log, cat, directRunner{l}, 1)
	return m.loadNamed(ctx, a.names, false)
}

// withParams appends command-line parameters to a module's options, as
// modprobe NAME param=value does.
func withParams(cat *catalog, name, params string) *catalog {
	cfg := *cat.index.Config()
	opts := make(map[string]string, len(cfg.Options)+1)
	for k, v := range cfg.Options {
		opts[k] = v
	}
	key := strings.ReplaceAll(name, "-", "_")
	opts[key] = strings.TrimSpace(opts[key] + " " + params)
	cfg.Options = opts
	return cat.withConfig(&cfg)
}
