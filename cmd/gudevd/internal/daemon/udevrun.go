package daemon

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/gudevd/gudevd/cmd/gudevd/internal/control"
	"github.com/gudevd/gudevd/cmd/gudevd/internal/rulehost"
	"github.com/gudevd/gudevd/rules"
	"github.com/gudevd/gudevd/uevent"
)

// writeAttrs carries out ATTR{} and SYSCTL{} assignments. udevd writes
// each as its rule runs; the rules engine has no side effects and hands
// them over in order, so they are written here, before the node and the
// database, in the order the rules gave. A write is confined to /sys or
// /proc/sys; a failed one is logged and counted and the event goes on, as
// udevd logs and goes on.
func (d *Daemon) writeAttrs(e *udevEvent) {
	w := d.udev.cfg.Writer
	if w == nil {
		w = systemWriter{}
	}
	for _, a := range e.res.AttrWrites {
		if err := w.WriteAttr(a.Path, a.Value); err != nil {
			d.writeError(e, a, err)
		}
	}
	for _, a := range e.res.SysctlWrites {
		if err := w.WriteSysctl(a.Path, a.Value); err != nil {
			d.writeError(e, a, err)
		}
	}
}

func (d *Daemon) writeError(e *udevEvent, a rules.Write, err error) {
	d.udev.count(func(s *control.UdevEvents) { s.WriteErrors++ })
	d.log.Warn("udev rules write", "devpath", e.ev.DevPath, "path", a.Path, "rule", fmt.Sprintf("%s:%d", a.File, a.Line), "err", err)
}

// errOutside is a write the rules aimed outside /sys or /proc/sys.
var errOutside = errors.New("path outside /sys and /proc/sys")

// systemWriter writes below this system's /sys and /proc/sys.
type systemWriter struct{}

func (systemWriter) WriteAttr(path, value string) error {
	p := filepath.Clean(path)
	if !strings.HasPrefix(p, "/sys/") {
		return fmt.Errorf("write %s: %w", path, errOutside)
	}
	return rulehost.WriteExisting(p, value)
}

func (systemWriter) WriteSysctl(key, value string) error {
	p := filepath.Clean("/proc/sys/" + key)
	if !strings.HasPrefix(p, "/proc/sys/") {
		return fmt.Errorf("write sysctl %s: %w", key, errOutside)
	}
	return rulehost.WriteExisting(p, value)
}

// rename is rename_netif: NAME= renames a network interface on its add
// event when the name differs. ID_RENAMING=1 goes into the database
// before the rename, so a client that sees the kernel's RTM_NEWLINK first
// finds the device still being renamed; the move event that follows drops
// it. An interface already up (EBUSY) keeps its name, as in udevd; any
// other failure fails the event.
func (d *Daemon) rename(ctx context.Context, e *udevEvent) error {
	name := e.res.Name
	if name == "" || e.ev.Action != uevent.ActionAdd || e.dev.Ifindex <= 0 || name == e.dev.Sysname() {
		return nil
	}
	if d.udev.cfg.Rename == nil || (d.udev.cfg.ValidName != nil && !d.udev.cfg.ValidName(name)) {
		d.log.Warn("invalid network interface name, ignoring", "devpath", e.ev.DevPath, "name", name)
		return nil
	}
	old := e.dev.Sysname()
	e.res.Properties = setProp(e.res.Properties, "ID_RENAMING", "1")
	e.res.DBProperties = setProp(e.res.DBProperties, "ID_RENAMING", "1")
	if e.id != "" {
		if err := d.udev.cfg.DB.Write(e.id, dbEntry(e, d.udev.now()), e.res.DBPersist); err != nil {
			d.dbError(e, err)
		}
	}
	err := d.udev.cfg.Rename(ctx, e.dev.Ifindex, name)
	if errors.Is(err, syscall.EBUSY) {
		d.log.Info("network interface is already up, cannot rename", "from", old, "to", name)
		return nil
	}
	if err != nil {
		d.udev.count(func(s *control.UdevEvents) { s.RenameErrors++ })
		return fmt.Errorf("rename network interface %d from %q to %q: %w", e.dev.Ifindex, old, name, err)
	}
	d.renamed(e, old, name)
	return nil
}

// renamed is device_rename: the device's path and INTERFACE take the new
// name, INTERFACE_OLD the old one for this event only.
func (d *Daemon) renamed(e *udevEvent, old, name string) {
	e.dev.Syspath = filepath.Join(filepath.Dir(e.dev.Syspath), name)
	p := e.res.Properties
	p = setProp(p, "DEVPATH", e.dev.Devpath())
	if _, ok := e.res.Property("INTERFACE"); ok {
		p = setProp(p, "INTERFACE_OLD", old)
		p = setProp(p, "INTERFACE", name)
	}
	e.res.Properties = p
	d.log.Info("network interface renamed", "ifindex", e.dev.Ifindex, "from", old, "to", name)
}

func setProp(props []rules.Property, k, v string) []rules.Property {
	for i := range props {
		if props[i].Key == k {
			props[i].Value = v
			return props
		}
	}
	return append(props, rules.Property{Key: k, Value: v})
}

// runQueue is udev_event_execute_run: every RUN entry, after the node and
// the database, with the device's properties as the environment and
// udevd's event timeout for each program. `kmod load` goes to the
// deduplicated loader; a failing program or builtin is logged and counted,
// never fatal.
func (d *Daemon) runQueue(ctx context.Context, e *udevEvent) {
	var env []string
	for _, r := range e.res.Run {
		var err error
		switch {
		case r.Builtin == "kmod":
			err = d.kmodRun(ctx, r.Argv, e)
		case r.Builtin != "":
			_, err = e.host.Builtin(ctx, r.Builtin, r.Argv, e.dev, e.res.Properties)
		case r.Argv == nil:
			err = errors.New("invalid command")
		default:
			if env == nil {
				env = environ(e.res.Properties)
			}
			err = d.runProgram(ctx, r.Argv, env)
		}
		if err != nil {
			d.udev.count(func(s *control.UdevEvents) { s.RunErrors++ })
			d.log.Warn("udev RUN failed", "devpath", e.ev.DevPath, "command", r.Command, "err", err)
		}
	}
}

func (d *Daemon) runProgram(ctx context.Context, argv, env []string) error {
	if d.udev.cfg.Program == nil {
		return fmt.Errorf("run %q: no program runner: %w", argv, errors.ErrUnsupported)
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.EventTimeout)
	defer cancel()
	_, err := d.udev.cfg.Program(ctx, argv, env)
	return err
}

// kmodRun is RUN{builtin}+="kmod load [NAME...]": the names, or the
// device's MODALIAS when there are none, go to the loader, which loads
// each module once however many events ask. As with the MODALIAS of an
// event without rules, the event does not wait (requestModalias); settle
// and /run/udev/queue do.
func (d *Daemon) kmodRun(ctx context.Context, argv []string, e *udevEvent) error {
	if len(argv) < 2 || argv[1] != "load" {
		return fmt.Errorf("kmod: expected: load [module...], got %q", argv)
	}
	names := argv[2:]
	if len(names) == 0 {
		m, ok := e.res.Property("MODALIAS")
		if !ok || m == "" {
			return errors.New("kmod: the device has no MODALIAS")
		}
		if e.ev.Action == uevent.ActionAdd && m == e.ev.Get("MODALIAS") {
			return nil // handle's loadModules asked for it before the rules
		}
		names = []string{m}
	}
	d.Kmod(ctx, names)
	return nil
}

// Kmod asks for modules by name or alias, as udev's kmod builtin does,
// through the deduplicated loader, and returns at once. It is what the
// rules' IMPORT{builtin}="kmod load" reaches too (builtin.Env.Kmod).
func (d *Daemon) Kmod(ctx context.Context, names []string) error {
	for _, n := range names {
		if n != "" {
			d.requestModalias(ctx, n)
		}
	}
	return nil
}

// environ is the environment of a RUN program: every property of the
// device, UDEV_DATABASE_VERSION first, as device_get_properties_strv gives
// udevd's spawn.
func environ(props []rules.Property) []string {
	env := make([]string, 0, len(props)+1)
	env = append(env, "UDEV_DATABASE_VERSION=1")
	for _, p := range props {
		env = append(env, p.Key+"="+p.Value)
	}
	return env
}
