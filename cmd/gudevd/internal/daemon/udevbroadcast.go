package daemon

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/gudevd/gudevd/cmd/gudevd/internal/control"
	"github.com/gudevd/gudevd/uevent"
)

// broadcast sends a processed event to libudev listeners (systemd's device
// units, udevadm monitor, libinput, udisks). A failure is logged and
// counted; the event is done either way, as udevd's device_broadcast
// ignores its send's error.
func (d *Daemon) broadcast(ctx context.Context, ev *uevent.Event) {
	send := d.udev.cfg.Broadcast
	if send == nil {
		return
	}
	if err := send(ctx, ev); err != nil {
		d.udev.count(func(s *control.UdevEvents) { s.SendErrors++ })
		d.log.Warn("broadcast event", "seqnum", ev.Seqnum, "devpath", ev.DevPath, "err", err)
	}
}

// processedEvent is the event as udevd broadcasts it after the rules:
// UDEV_DATABASE_VERSION first (device_update_properties_bufs), every
// property of the device after the rules, those starting with '.'
// included, USEC_INITIALIZED, then DEVLINKS (space-separated), TAGS and
// CURRENT_TAGS (":a:b:") when there are any (device_properties_prepare).
func processedEvent(e *udevEvent) *uevent.Event {
	ev := &uevent.Event{}
	ev.Set("UDEV_DATABASE_VERSION", "1")
	for _, p := range e.res.Properties {
		switch p.Key {
		case "DEVLINKS", "TAGS", "CURRENT_TAGS":
			// From the rules' results below, not from the kernel's or an
			// imported database's stale copy.
		default:
			ev.Set(p.Key, p.Value)
		}
	}
	if len(e.res.Devlinks) > 0 {
		ev.Set("DEVLINKS", strings.Join(e.res.Devlinks, " "))
	}
	if len(e.res.Tags) > 0 {
		ev.Set("TAGS", ":"+strings.Join(e.res.Tags, ":")+":")
	}
	if len(e.res.CurrentTags) > 0 {
		ev.Set("CURRENT_TAGS", ":"+strings.Join(e.res.CurrentTags, ":")+":")
	}
	return ev
}

// failedEvent is a failed event as udevd's device_broadcast sends it: the
// kernel's properties, UDEV_WORKER_FAILED=1 and, when the failure was an
// errno, UDEV_WORKER_ERRNO and UDEV_WORKER_ERRNO_NAME.
func failedEvent(kernel *uevent.Event, err error) *uevent.Event {
	ev := &uevent.Event{}
	ev.Set("UDEV_DATABASE_VERSION", "1")
	for _, p := range kernel.Props {
		ev.Set(p.Key, p.Value)
	}
	ev.Set("UDEV_WORKER_FAILED", "1")
	var errno syscall.Errno
	if errors.As(err, &errno) && errno != 0 {
		ev.Set("UDEV_WORKER_ERRNO", strconv.Itoa(int(errno)))
		if name := unix.ErrnoName(errno); name != "" {
			ev.Set("UDEV_WORKER_ERRNO_NAME", name)
		}
	}
	return ev
}
