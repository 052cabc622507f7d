package daemon

import (
	"context"
	"path"

	"github.com/gudevd/gudevd/uevent"
)

// handle runs one event through the pipeline. The MODALIAS of an add event
// goes to the deduplicated loader first (loadModules), what Debian's
// 80-drivers.rules does. With Config.Udev the daemon is then
// systemd-udevd's worker (handleUdev): the rules, the device node, links
// and database, RUN, the broadcast; the rules' `RUN{builtin}+="kmod load"`
// reaches the same loader (Kmod), where a MODALIAS already asked for costs
// nothing. Loading here as well as through the rules makes module loading
// gudevd's whatever the rules are: Debian's 80-drivers.rules and the
// override `make install` puts in /etc/udev/rules.d for running beside
// udevd (which has no MODALIAS line) both load every device's modules.
//
// The kernel's remove event for /module/NAME makes modules forget NAME, so
// a later request loads it again.
func (d *Daemon) handle(ctx context.Context, ev *uevent.Event) {
	if ev.Subsystem == "module" && ev.Action == uevent.ActionRemove {
		d.mods.Forget(path.Base(ev.DevPath))
	}
	d.loadModules(ctx, ev)
	if d.udev != nil {
		d.handleUdev(ctx, ev)
	}
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
