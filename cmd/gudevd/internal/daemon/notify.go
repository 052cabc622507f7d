package daemon

import (
	"context"
	"log/slog"
	"os/exec"

	"github.com/gudevd/gudevd/cmd/gudevd/internal/sdaemon"
)

// notifySocketEnv is where systemd names the socket of a Type=notify
// service; sdaemon speaks the protocol.
const notifySocketEnv = sdaemon.NotifySocketEnv

// notifier is the daemon's sdaemon.Notifier. gudevd.service is Type=notify,
// so systemd starts what is ordered after it (modprobe@.service,
// sysinit.target) after READY=1, not after the fork: by then the netlink
// socket receives, the control socket answers and coldplug has begun, so
// neither modprobe@'s `gudevd modprobe` nor the rules' `gudevd kmod load`
// falls back to a direct load.
type notifier struct{ sdaemon.Notifier }

func newNotifier(log *slog.Logger, addr string) notifier {
	return notifier{sdaemon.NewNotifier(log, addr)}
}

// send sends one state ("READY=1", "STOPPING=1"); failures are logged.
func (n notifier) send(state string) { n.Send(state) }

// notify sends state to the datagram socket addr.
func notify(addr, state string) error { return sdaemon.Notify(addr, state) }

// withoutNotifySocket drops $NOTIFY_SOCKET from the environment of the
// workers cmd makes, which inherit the daemon's.
func withoutNotifySocket(cmd func(context.Context) *exec.Cmd) func(context.Context) *exec.Cmd {
	return func(ctx context.Context) *exec.Cmd {
		c := cmd(ctx)
		c.Env = sdaemon.WithoutNotifySocket(c.Env)
		return c
	}
}
