package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/gudevd/gudevd/cmd/gudevd/internal/rulehost"
	"github.com/gudevd/gudevd/rules"
	"github.com/gudevd/gudevd/rules/builtin"
)

// errUnknownBuiltin: test-builtin's command names no builtin.
var errUnknownBuiltin = errors.New("unknown builtin")

// cmdTestBuiltin is `udevadm test-builtin`: it runs one builtin ('NAME
// ARGS...' as one argument, as a rule writes it) for a device and prints
// the properties it sets, KEY=VALUE, as udevd's builtins print them in
// test mode. It exits 1 when the builtin fails. An effect gudevd does not
// carry out here (keyboard's remaps, net_setup_link's rename, uaccess's
// ACL, kmod's loads) is not done and is said on stderr.
func cmdTestBuiltin(ctx context.Context, e *env, args []string) error {
	return withRuleSession(ctx, e, "test-builtin", "[--action A] [--root DIR] 'NAME [ARGS]' DEVPATH", 2, args, func(s *ruleSession, a ruleArgs) error {
		return testBuiltin(ctx, s.host, s.env, s.sysfs, a.args[0], a.args[1], a.action, e)
	})
}

// testBuiltin runs the command for the device at arg and prints what it
// set. The device is what sd-device makes of the syspath: its uevent
// file's properties, its database entry's (test-builtin, unlike test,
// reads the database) and ACTION.
func testBuiltin(ctx context.Context, h *rulehost.Host, benv *builtin.Env, sysfs fs.FS, cmd, arg, action string, e *env) error {
	name, ok := rules.LookupBuiltin(cmd)
	if !ok {
		return fmt.Errorf("%q: %w", cmd, errUnknownBuiltin)
	}
	dev, err := builtinDevice(h, sysfs, arg, action)
	if err != nil {
		return err
	}
	props, err := benv.Run(ctx, name, dev, rules.SplitCommand(cmd))
	if errors.Is(err, builtin.ErrNotApplied) {
		fmt.Fprintf(e.stderr, "gudevd test-builtin: not done here: %v\n", err)
		err = nil
	}
	var b strings.Builder
	for _, p := range props {
		b.WriteString(p.Key + "=" + p.Value + "\n")
	}
	if _, werr := io.WriteString(e.stdout, b.String()); werr != nil {
		return fmt.Errorf("write output: %w", werr)
	}
	if err != nil {
		e.log.Debug("builtin failed", "builtin", cmd, "err", err)
		fmt.Fprintf(e.stderr, "gudevd test-builtin: %v\n", err)
		return errQuietFailure
	}
	return nil
}

func builtinDevice(h *rulehost.Host, sysfs fs.FS, arg, action string) (*builtin.Device, error) {
	dev, err := rules.DeviceFromFS(sysfs, syspathOf(arg))
	if err != nil {
		return nil, fmt.Errorf("open device %q: %w", arg, err)
	}
	props := append(dev.Props, rules.Property{Key: "ACTION", Value: action})
	if db := h.DB(dev); db != nil {
		props = append(props, db.Props...)
	}
	return rulehost.BuiltinDevice(sysfs, dev, props), nil
}
