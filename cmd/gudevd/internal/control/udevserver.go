package control

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// UdevHandler serves one udev control message that passed every check. It
// runs on the server's goroutine: messages of a connection are served in
// order, one at a time, as udevd's event loop does.
type UdevHandler interface {
	ServeUdevControl(ctx context.Context, m UdevMessage)
}

// UdevServer speaks systemd-udevd 252's control protocol (udev-ctrl.c) on
// a SOCK_SEQPACKET socket, so that the real udevadm control, settle and
// trigger --settle work against gudevd. As udevd's, it serves one
// connection at a time; it refuses a peer whose SO_PEERCRED uid is not 0,
// and a message without SCM_CREDENTIALS of uid 0 or with the wrong magic,
// closing the connection; it closes the connection after the client's
// END_MESSAGES, which is how udevadm learns that everything it sent was
// handled (udev_ctrl_wait waits for that close).
type UdevServer struct {
	ln  *net.UnixListener
	h   UdevHandler
	log *slog.Logger

	readTimeout time.Duration

	messages, refused, malformed atomic.Uint64
}

// UdevStats are the udev control socket's counters.
type UdevStats struct {
	Messages  uint64 `json:"messages"`  // messages handed to the handler, END_MESSAGES included
	Refused   uint64 `json:"refused"`   // peers or messages refused for their credentials
	Malformed uint64 `json:"malformed"` // datagrams that were no udev control message
}

// ListenUdev creates the socket at path (UdevPath), mode 0600 as
// systemd-udevd-control.socket makes it, with the checks of Listen on its
// directory and a stale socket.
//
// SO_PASSCRED is set on the listener, as systemd-udevd-control.socket's
// PassCredentials=yes does: an accepted socket inherits it, so a message
// udevadm sends between accept(2) and a setsockopt on the accepted socket
// still carries its credentials (the kernel adds them when the receiver
// asks, and to a connection not yet accepted).
func ListenUdev(path string, h UdevHandler, log *slog.Logger) (*UdevServer, error) {
	ln, err := listenSocket("unixpacket", path, true)
	if err != nil {
		return nil, err
	}
	return NewUdevServer(ln.(*net.UnixListener), h, log), nil
}

// NewUdevServer serves an open listening socket: one systemd passed
// (systemd-udevd-control.socket, LISTEN_FDS), or ListenUdev's.
func NewUdevServer(ln *net.UnixListener, h UdevHandler, log *slog.Logger) *UdevServer {
	return &UdevServer{ln: ln, h: h, log: log, readTimeout: defaultReadTimeout}
}

// Serve accepts connections one at a time until ctx is done, then closes
// the listener (removing the socket) and the connection being served.
func (s *UdevServer) Serve(ctx context.Context) {
	stop := context.AfterFunc(ctx, func() { s.ln.Close() })
	defer stop()
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("accept udev control connection", "err", err)
			}
			break
		}
		s.serveConn(ctx, c)
	}
	s.ln.Close()
}

// Stats returns the counters.
func (s *UdevServer) Stats() UdevStats {
	return UdevStats{Messages: s.messages.Load(), Refused: s.refused.Load(), Malformed: s.malformed.Load()}
}

// serveConn serves one connection's messages until END_MESSAGES, a
// refused message, EOF, or ctx's end.
func (s *UdevServer) serveConn(ctx context.Context, c *net.UnixConn) {
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if uid, err := peerUID(c); err != nil || uid != 0 {
		s.refused.Add(1)
		s.log.Warn("refuse udev control connection", "uid", uid, "err", err)
		return
	}
	// Again on the connection, as udevd does, for a listener systemd
	// passed without PassCredentials=.
	if err := setPassCred(c); err != nil {
		// udevd warns and goes on; every message will then lack its
		// credentials and be refused.
		s.log.Warn("udev control connection: set SO_PASSCRED", "err", err)
	}
	buf := make([]byte, udevMessageSize+1) // one more, to see a datagram too long
	oob := make([]byte, unix.CmsgSpace(unix.SizeofUcred))
	for {
		c.SetReadDeadline(time.Now().Add(s.readTimeout))
		n, oobn, flags, _, err := c.ReadMsgUnix(buf, oob)
		if err != nil || n == 0 {
			return // EOF (n 0 on a SEQPACKET is the peer's close), timeout or ctx
		}
		if err := checkCredentials(oob[:oobn]); err != nil {
			s.refused.Add(1)
			s.log.Warn("refuse udev control message", "err", err)
			return
		}
		if flags&unix.MSG_TRUNC != 0 {
			n = len(buf) + 1
		}
		m, err := ParseUdevMessage(buf[:min(n, len(buf))])
		if err != nil {
			s.malformed.Add(1)
			s.log.Warn("ignore udev control message", "err", err)
			return
		}
		s.messages.Add(1)
		if m.Op == UdevEnd {
			return
		}
		s.log.Debug("udev control message", "op", m.Op.String())
		s.h.ServeUdevControl(ctx, m)
	}
}

func setPassCred(c *net.UnixConn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1)
	}); err != nil {
		return err
	}
	return serr
}

// checkCredentials accepts a message whose SCM_CREDENTIALS say uid 0. The
// kernel fills them from the sender unless the sender is privileged enough
// to name others, so an unprivileged process cannot claim uid 0.
func checkCredentials(oob []byte) error {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil || len(msgs) == 0 {
		return errUdevNoCredentials
	}
	cred, err := unix.ParseUnixCredentials(&msgs[0])
	if err != nil {
		return errUdevNoCredentials
	}
	if cred.Uid != 0 {
		return fmt.Errorf("sender uid %d: %w", cred.Uid, ErrNotRoot)
	}
	return nil
}
