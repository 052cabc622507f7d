package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
)

// notifySocketEnv is where systemd names the socket of a Type=notify
// service (sd_notify(3)).
const notifySocketEnv = "NOTIFY_SOCKET"

// notifier tells systemd how the daemon is doing, as sd_notify(3) does: one
// datagram per state to the unix socket named by $NOTIFY_SOCKET, a path or,
// with a leading '@', a name in the abstract namespace. gudevd.service is
// Type=notify, so systemd starts what is ordered after it (modprobe@.service,
// sysinit.target) after READY=1, not after the fork: by then the netlink
// socket receives, the control socket answers and coldplug has begun, so
// neither modprobe@'s `gudevd modprobe` nor the rules' `gudevd kmod load`
// falls back to a direct load. Without $NOTIFY_SOCKET (not run by systemd)
// it sends nothing.
type notifier struct {
	log  *slog.Logger
	addr string
}

func newNotifier(log *slog.Logger, addr string) notifier {
	return notifier{log: log, addr: addr}
}

// send sends one state ("READY=1", "STOPPING=1"). A failure is logged and
// otherwise ignored, as sd_notify's callers do: the daemon works without
// systemd, and systemd times the service out if READY=1 never arrives.
func (n notifier) send(state string) {
	if n.addr == "" {
		return
	}
	if err := notify(n.addr, state); err != nil {
		n.log.Warn("notify systemd", "state", state, "err", err)
	}
}

// notify sends state to the datagram socket addr. The socket net opens is
// close-on-exec, so no worker inherits it, and it is closed before return.
func notify(addr, state string) error {
	if !strings.HasPrefix(addr, "/") && !strings.HasPrefix(addr, "@") {
		// sd_notify takes only these two forms (vsock is not for us).
		return fmt.Errorf("%s=%q: want an absolute path or an @abstract name", notifySocketEnv, addr)
	}
	// net maps a leading '@' to the abstract namespace's NUL byte.
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("dial %s: %w", addr, err)
	}
	_, werr := c.Write([]byte(state))
	if err := errors.Join(werr, c.Close()); err != nil {
		return fmt.Errorf("send to %s: %w", addr, err)
	}
	return nil
}

// withoutNotifySocket drops $NOTIFY_SOCKET from the environment of the
// workers cmd makes. A worker inherits the daemon's environment; one that
// found the variable could tell systemd the service is ready or stopping
// (sd_notify's unset_environment exists for this). NotifyAccess=main would
// drop such a message, but a worker has no business knowing the socket.
func withoutNotifySocket(cmd func(context.Context) *exec.Cmd) func(context.Context) *exec.Cmd {
	return func(ctx context.Context) *exec.Cmd {
		c := cmd(ctx)
		env := c.Env
		if env == nil {
			env = os.Environ()
		}
		c.Env = slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
			return strings.HasPrefix(kv, notifySocketEnv+"=")
		})
		return c
	}
}
