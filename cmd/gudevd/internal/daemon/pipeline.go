package daemon

import (
	"context"
	"path"

	"github.com/gudevd/gudevd/uevent"
)

// handle runs one event through the pipeline, in the order systemd-udevd's
// worker runs it (udev_event_execute_rules, then the device node and the
// database, then device_monitor_send to libudev listeners):
//
//  1. rules: until the rules engine lands, what 80-drivers.rules does,
//     loading the modules of the event's MODALIAS (loadModules);
//  2. device node, links and /run/udev database: not yet;
//  3. broadcast on the libudev netlink group: not yet.
//
// The kernel's remove event for /module/NAME makes modules forget NAME, so
// a later request loads it again.
func (d *Daemon) handle(ctx context.Context, ev *uevent.Event) {
	d.loadModules(ctx, ev)
}

// loadModules is 80-drivers.rules' `ENV{MODALIAS}=="?*", RUN{builtin}+="kmod
// load"` for add events, handed to modules, which loads each module once
// however many events ask for it.
func (d *Daemon) loadModules(ctx context.Context, ev *uevent.Event) {
	if ev.Subsystem == "module" && ev.Action == uevent.ActionRemove {
		d.mods.Forget(path.Base(ev.DevPath))
		return
	}
	if ev.Action != uevent.ActionAdd {
		return
	}
	if alias := ev.Get("MODALIAS"); alias != "" {
		d.mods.LoadModalias(ctx, alias)
	}
}
