package daemon

import (
	"context"
	"path"

	"github.com/gudevd/gudevd/uevent"
)

// handle runs one event through the pipeline. With Config.Udev it is
// systemd-udevd's worker (handleUdev): the rules, then the device node,
// links and database, then RUN, then the broadcast; the modules of
// 80-drivers.rules' `RUN{builtin}+="kmod load"` go to the deduplicated
// loader (Kmod). Without it the daemon runs beside udevd and does only
// what 80-drivers.rules does: the MODALIAS of an add event goes to the
// loader (loadModules).
//
// The kernel's remove event for /module/NAME makes modules forget NAME, so
// a later request loads it again.
func (d *Daemon) handle(ctx context.Context, ev *uevent.Event) {
	if ev.Subsystem == "module" && ev.Action == uevent.ActionRemove {
		d.mods.Forget(path.Base(ev.DevPath))
	}
	if d.udev != nil {
		d.handleUdev(ctx, ev)
		return
	}
	d.loadModules(ctx, ev)
}

// loadModules is 80-drivers.rules' `ENV{MODALIAS}=="?*", RUN{builtin}+="kmod
// load"` for add events, handed to modules, which loads each module once
// however many events ask for it. The event does not wait for the loads
// (requestModalias).
func (d *Daemon) loadModules(ctx context.Context, ev *uevent.Event) {
	if ev.Action != uevent.ActionAdd {
		return
	}
	if alias := ev.Get("MODALIAS"); alias != "" {
		d.requestModalias(ctx, alias)
	}
}

// requestModalias starts the loads of a MODALIAS and returns. An event
// handler that waited for them would hold one of the Children handler
// slots for a whole load chain: on 6.1 at 16 vCPUs (TCG), 11 handlers sat
// in the first devices' loads while the CPUs' events, whose x86cpu alias
// heads the longest chain (irqbypass, kvm, kvm_amd), waited 4 s for a
// handler. The walk runs under hold, so settle still waits for it, and an
// alias already being walked costs nothing more: that walk's outcome is
// this event's too, and one goroutine per distinct alias is all a storm of
// identical CPU events makes.
func (d *Daemon) requestModalias(ctx context.Context, alias string) {
	if d.mods.Walking(alias) {
		return
	}
	release := d.hold()
	d.walks.Go(func() {
		defer release()
		d.mods.LoadModalias(context.WithoutCancel(ctx), alias)
	})
}
