package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/gudevd/gudevd/cmd/gudevd/internal/control"
	"github.com/gudevd/gudevd/cmd/gudevd/internal/daemon"
	"github.com/gudevd/gudevd/cmd/gudevd/internal/modules"
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
		// The kernel runs the link a daemon made next to its control
		// socket: ask that daemon, wherever --control put it.
		ctl := daemon.HelperControl(e.argv0, control.DefaultPath)
		rep, err := control.Call(ctx, ctl, control.Request{Op: control.OpModprobe, Modules: a.names})
		if !errors.Is(err, control.ErrNoDaemon) {
			return a.report(e, rep.Results, err)
		}
	}
	res, err := modprobeDirect(ctx, e.log, a)
	return a.report(e, res, err)
}

func (a modprobeArgs) report(e *env, res []modules.Result, err error) error {
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

// modprobeDirect loads without a daemon, in this process.
func modprobeDirect(ctx context.Context, log *slog.Logger, a modprobeArgs) ([]modules.Result, error) {
	tree, err := modules.DefaultTree("/", "")
	if err != nil {
		return nil, err
	}
	return modules.LoadDirect(ctx, log, tree, "/sys", a.names, strings.Join(a.params, " "))
}
