package modload

import (
	"bufio"
	"fmt"
	"io"
	"path"
)

// ShowOptions says how ShowProbe prints a probe: as `modprobe
// --show-depends` (Live nil) or as `modprobe --dry-run` (Live set).
type ShowOptions struct {
	// Dir is the modules directory as modprobe names it (libkmod's
	// dirname: ROOT/lib/modules/VERSION, made absolute but not
	// cleaned); a relative modules.dep path is printed after it and a
	// '/'.
	Dir string
	// Live, when not nil, is modprobe without --show-depends, which
	// skips what the kernel has: it reports whether /sys/module/NAME
	// says "live". A module that is live or built in is skipped (and
	// the module found itself being so makes the probe print nothing).
	// Nil is --show-depends (KMOD_PROBE_IGNORE_LOADED): everything is
	// printed, whatever the kernel has.
	Live func(name string) bool
	// FirstTime is --first-time: with Live set, the module found being
	// in the kernel is an error matching ErrInKernel.
	FirstTime bool
	// Quiet prints nothing: modprobe prints the actions with
	// --show-depends or -v only.
	Quiet bool
}

// ShowDepends writes what `modprobe --show-depends` prints for each module
// of each lookup, dir naming the modules directory as ShowOptions.Dir
// does. A lookup that found nothing prints nothing; modprobe reports it on
// stderr.
func ShowDepends(w io.Writer, dir string, ls []Lookup) error {
	bw := bufio.NewWriter(w)
	for _, l := range ls {
		for _, p := range l.Found {
			if err := ShowProbe(bw, p, ShowOptions{Dir: dir}); err != nil {
				return err
			}
		}
	}
	return bw.Flush()
}

// ShowProbe writes what modprobe prints for one module a lookup found
// (kmod_module_probe_insert_module with KMOD_PROBE_DRY_RUN and
// modprobe's print_action): nothing for a blacklisted module, else one
// line for each entry of its probe list that does something,
//
//	insmod PATH OPTIONS
//	install COMMAND OPTIONS
//	builtin NAME
//
// byte for byte, down to the blank libkmod leaves after options that come
// with no parameters. An error from w is returned as is; with FirstTime, a
// module found in the kernel is a *ModuleError matching ErrInKernel.
func ShowProbe(w io.Writer, p Probe, o ShowOptions) error {
	if o.Live != nil && (p.Builtin || o.Live(p.Module)) {
		if o.FirstTime {
			return &ModuleError{Module: p.Module, Op: "insert", Err: ErrInKernel}
		}
		return nil
	}
	if p.Blacklisted || o.Quiet {
		return nil
	}
	for _, a := range p.Actions {
		if o.Live != nil && (a.Builtin || o.Live(a.Module)) {
			continue
		}
		if l := a.line(o.Dir); l != "" {
			if _, err := fmt.Fprintln(w, l); err != nil {
				return err
			}
		}
	}
	return nil
}

// line is modprobe's print_action for a, or "" when it prints nothing (a
// module with neither file nor install command that is not built in).
func (a Action) line(dir string) string {
	// module_options_concat: the options, a blank, then the parameters.
	opts := a.Params
	if a.Options != "" {
		opts = a.Options + " " + a.Params
	}
	switch {
	case a.Install != "":
		return "install " + a.Install + " " + opts
	case a.Path != "" && path.IsAbs(a.Path):
		return "insmod " + a.Path + " " + opts
	case a.Path != "":
		return "insmod " + dir + "/" + a.Path + " " + opts
	case a.Builtin:
		return "builtin " + a.Module
	}
	return ""
}
