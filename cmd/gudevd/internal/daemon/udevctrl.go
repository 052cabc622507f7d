package daemon

import (
	"context"
	"log/slog"
	"time"

	"github.com/gudevd/gudevd/cmd/gudevd/internal/control"
)

// ServeUdevControl carries out one message of udev's control protocol,
// as systemd-udevd 252's on_ctrl_msg does.
//
// EXIT asks the daemon to stop and returns: udevadm control --exit waits
// for the connection's close, which comes when the daemon's Run closes
// the control sockets, after the loads in flight have finished. SET_ENV
// changes what the rules' ENV{} falls back to (udevadm control
// --property); without Config.Udev there are no rules to see it, and it is
// only logged.
func (d *Daemon) ServeUdevControl(ctx context.Context, m control.UdevMessage) {
	switch m.Op {
	case control.UdevPing:
		// The close after END_MESSAGES is the answer, and udevadm settle
		// looks for /run/udev/queue right after it: first every uevent
		// the kernel had sent must be queued. udevd gets that from its
		// event loop, where the uevent socket comes before the control
		// socket; here the receive runs apart, so the ping waits for it.
		d.waitReceived(ctx, pingWait)
	case control.UdevExit:
		d.log.Info("udev control: exit")
		d.requestExit()
	case control.UdevReload:
		if err := d.reload(); err != nil {
			d.log.Error("udev control: reload", "err", err)
		}
	case control.UdevSetLogLevel:
		d.cfg.Level.Set(syslogLevel(m.Int))
		d.log.Info("udev control: set log level", "priority", m.Int, "level", d.cfg.Level.Level().String())
	case control.UdevStopExecQueue, control.UdevStartExecQueue:
		d.slots.setStopped(m.Op == control.UdevStopExecQueue)
		d.log.Info("udev control: " + m.Op.String())
	case control.UdevSetChildrenMax:
		d.slots.setMax(int(m.Int))
		d.log.Info("udev control: set children max", "children_max", m.Int)
	case control.UdevSetEnv:
		if d.udev == nil {
			d.log.Warn("udev control: set env without rules, ignored", "env", m.Env)
			return
		}
		d.udev.setEnv(m.Env)
		d.log.Info("udev control: set env", "env", m.Env)
	default:
		d.log.Warn("udev control: unknown message", "op", m.Op.String(), "int", m.Int, "env", m.Env)
	}
}

// pingWait bounds how long a ping waits for the uevents sent before it:
// udevadm's own wait for the answer is at least 5 s.
const pingWait = 3 * time.Second

// waitReceived waits until the daemon has received (and queued) every
// uevent the kernel had sent when it was called, or until max has passed.
func (d *Daemon) waitReceived(ctx context.Context, max time.Duration) {
	target, err := d.readSeqnum()
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, max)
	defer cancel()
	for {
		d.mu.Lock()
		done := d.lastSeq >= target
		changed := d.changed
		d.mu.Unlock()
		if done {
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			d.log.Warn("udev control: ping answered before every uevent was received", "seqnum", target)
			return
		}
	}
}

// syslogLevel is the slog level of a syslog priority as udevadm control
// --log-level sends it (log_level_from_string: emerg 0 ... debug 7).
func syslogLevel(priority int32) slog.Level {
	switch {
	case priority <= 3: // emerg, alert, crit, err
		return slog.LevelError
	case priority == 4: // warning
		return slog.LevelWarn
	case priority <= 6: // notice, info
		return slog.LevelInfo
	}
	return slog.LevelDebug
}
