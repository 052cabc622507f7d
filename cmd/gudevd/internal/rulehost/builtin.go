package rulehost

import (
	"context"
	"errors"
	"io/fs"
	"strings"

	"github.com/gudevd/gudevd/rules"
	"github.com/gudevd/gudevd/rules/builtin"
)

// Builtin runs a builtin through builtin.Env.Run. An effect Env could not
// apply (keyboard's remaps, net_setup_link's rename, uaccess's ACL) is
// logged and the builtin counts as having succeeded with its properties,
// as udevd's succeeds when it logs and ignores a failed ioctl; every other
// error fails the builtin.
func (h *Host) Builtin(ctx context.Context, name string, argv []string, dev *rules.Device, props []rules.Property) ([]rules.Property, error) {
	got, err := h.cfg.Builtins.Run(ctx, name, BuiltinDevice(h.cfg.Sysfs, dev, props), argv)
	if errors.Is(err, builtin.ErrNotApplied) {
		h.cfg.Log.Info("builtin effect not applied", "builtin", name, "device", dev.Syspath, "err", err)
		err = nil
	}
	out := make([]rules.Property, 0, len(got))
	for _, p := range got {
		out = append(out, rules.Property{Key: p.Key, Value: p.Value})
	}
	return out, err
}

// BuiltinDevice is what a builtin sees of dev: its path below the sysfs
// root and its properties at that point (a later key wins, as sd-device
// keeps one value a key).
func BuiltinDevice(sysfs fs.FS, dev *rules.Device, props []rules.Property) *builtin.Device {
	m := make(map[string]string, len(props))
	for _, p := range props {
		m[p.Key] = p.Value
	}
	return &builtin.Device{Sysfs: sysfs, Syspath: strings.TrimPrefix(dev.Syspath, "/sys/"), Props: m}
}
