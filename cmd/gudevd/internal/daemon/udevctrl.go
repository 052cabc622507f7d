package daemon

import (
	"context"
	"log/slog"

	"github.com/gudevd/gudevd/cmd/gudevd/internal/control"
)

// ServeUdevControl carries out one message of udev's control protocol,
// as systemd-udevd 252's on_ctrl_msg does for what gudevd does today.
//
// EXIT asks the daemon to stop and returns: udevadm control --exit waits
// for the connection's close, which comes when the daemon's Run closes
// the control sockets, after the loads in flight have finished. The
// messages that act on rules and events (the exec queue, SET_ENV,
// SET_CHILDREN_MAX) are logged and not yet carried out: the daemon runs no
// rules and its queue's limits are fixed at start.
func (d *Daemon) ServeUdevControl(ctx context.Context, m control.UdevMessage) {
	switch m.Op {
	case control.UdevPing:
		// The close after END_MESSAGES is the answer.
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
	default:
		d.log.Warn("udev control: not carried out by gudevd yet", "op", m.Op.String(), "int", m.Int, "env", m.Env)
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
