package sdaemon

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
)

// NotifySocketEnv is where systemd names the socket of a Type=notify
// service (sd_notify(3)).
const NotifySocketEnv = "NOTIFY_SOCKET"

// The states gudevd sends (sd_notify(3)). STATUS= takes free text.
const (
	StateReady    = "READY=1"
	StateStopping = "STOPPING=1"
	StateWatchdog = "WATCHDOG=1"
	statusPrefix  = "STATUS="
)

// Notifier tells systemd how the daemon is doing, as sd_notify(3) does: one
// datagram per message to the unix socket named by $NOTIFY_SOCKET, a path
// or, with a leading '@', a name in the abstract namespace. For a
// Type=notify unit systemd starts what is ordered after it once READY=1
// arrives, not after the fork. A Notifier with no address (not run by
// systemd) sends nothing.
type Notifier struct {
	log  *slog.Logger
	addr string
}

// NewNotifier returns a Notifier sending to addr; a nil log discards.
func NewNotifier(log *slog.Logger, addr string) Notifier {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return Notifier{log: log, addr: addr}
}

// NotifierFromEnv returns a Notifier for $NOTIFY_SOCKET.
func NotifierFromEnv(log *slog.Logger) Notifier {
	return NewNotifier(log, os.Getenv(NotifySocketEnv))
}

// Enabled reports whether the Notifier has a socket to send to.
func (n Notifier) Enabled() bool { return n.addr != "" }

// Send sends one message (StateReady, StateStopping, ...). A failure is
// logged and otherwise ignored, as sd_notify's callers do: the daemon works
// without systemd, and systemd times the service out if READY=1 never
// arrives.
func (n Notifier) Send(state string) {
	if n.addr == "" {
		return
	}
	if err := Notify(n.addr, state); err != nil {
		n.log.Warn("notify systemd", "state", state, "err", err)
	}
}

// Status sends STATUS=text, which `systemctl status` shows. A newline would
// start another assignment, so it becomes a space.
func (n Notifier) Status(text string) {
	n.Send(statusPrefix + strings.ReplaceAll(text, "\n", " "))
}

// Notify sends state to the datagram socket addr. The socket net opens is
// close-on-exec, so no worker inherits it, and it is closed before return.
func Notify(addr, state string) error {
	if !strings.HasPrefix(addr, "/") && !strings.HasPrefix(addr, "@") {
		// sd_notify takes only these two forms (vsock is not for us).
		return fmt.Errorf("%s=%q: want an absolute path or an @abstract name", NotifySocketEnv, addr)
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

// WithoutNotifySocket returns env (os.Environ() when nil) without
// $NOTIFY_SOCKET, for the environment of a worker: one that found the
// variable could tell systemd the service is ready or stopping (sd_notify's
// unset_environment exists for this). NotifyAccess=main would drop such a
// message, but a worker has no business knowing the socket.
func WithoutNotifySocket(env []string) []string {
	if env == nil {
		env = os.Environ()
	}
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		return strings.HasPrefix(kv, NotifySocketEnv+"=")
	})
}
