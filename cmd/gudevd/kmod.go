package main

import (
	"context"
	"errors"
	"fmt"
)

// cmdKmod is `gudevd kmod load [NAME...]`, what gudevd's 80-drivers.rules
// runs where systemd's runs its kmod builtin (`RUN{builtin}+="kmod load"`),
// so that udevd's module loads go through the daemon's one load per module.
// It does what the builtin does (udev-builtin-kmod.c in systemd 252): with
// no NAME it loads the device's MODALIAS, which udevd passes to RUN
// programs in the environment with every other property; it applies the
// blacklist to everything it finds (modprobe -b); and it exits 0 whatever
// happened, since a device with no module, or a module that fails, is not
// a failed event: failures go to stderr, which udevd logs.
func cmdKmod(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "load" {
		fmt.Fprintln(e.stderr, "usage: gudevd kmod load [MODULE|ALIAS...]")
		return errUsage
	}
	names := args[1:]
	if len(names) == 0 {
		if m := e.getenv("MODALIAS"); m != "" {
			names = []string{m}
		}
	}
	if len(names) == 0 {
		return nil
	}
	a := modprobeArgs{all: true, blacklist: true, quiet: true, verbosity: logEmerg, names: names}
	if err := a.load(ctx, e); err != nil && !errors.Is(err, errQuietFailure) {
		fmt.Fprintf(e.stderr, "gudevd kmod load %v: %v\n", names, err)
	}
	return nil
}
