package uevent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"

	"github.com/mdlayher/socket"
	"golang.org/x/sys/unix"
)

// Group is a NETLINK_KOBJECT_UEVENT multicast group.
type Group uint32

const (
	// GroupNone binds no group: a Conn that only sends.
	GroupNone Group = 0
	// GroupKernel carries the kernel's uevents, in kernel format.
	GroupKernel Group = 1
	// GroupUdev carries events a udev daemon rebroadcasts after processing
	// them, in libudev format; libudev and sd-device monitors listen here.
	GroupUdev Group = 2
)

// mask is the group as sockaddr_nl's nl_groups bit mask, in which group n
// is bit n-1.
func (g Group) mask() uint32 {
	if g == GroupNone {
		return 0
	}
	return 1 << (g - 1)
}

// DefaultReceiveBuffer is the socket receive queue udevd also asks for: a
// coldplug on a large machine emits tens of thousands of uevents faster than
// any daemon reads them, and every one that does not fit is lost (ENOBUFS).
const DefaultReceiveBuffer = 128 << 20

// ListenOption configures Listen.
type ListenOption func(*listenConfig)

type listenConfig struct {
	rcvbuf int
}

// WithReceiveBuffer asks for a receive queue of n bytes instead of
// DefaultReceiveBuffer (the kernel doubles it for its bookkeeping and has a
// floor of a few KiB). A small one makes a burst of uevents overflow it
// (ENOBUFS), which is how the fault tests force a resync; n <= 0 keeps the
// default.
func WithReceiveBuffer(n int) ListenOption {
	return func(c *listenConfig) {
		if n > 0 {
			c.rcvbuf = n
		}
	}
}

// maxDatagram bounds one datagram. Kernel uevents are at most
// UEVENT_BUFFER_SIZE (2048) bytes of properties plus the header; libudev
// messages carry udev's added properties and are larger but far below this.
const maxDatagram = 64 << 10

// sysSocket is the part of a netlink socket Conn uses after setup; tests
// fake it.
type sysSocket interface {
	Recvmsg(ctx context.Context, p, oob []byte, flags int) (n, oobn, recvflags int, from unix.Sockaddr, err error)
	Sendmsg(ctx context.Context, p, oob []byte, to unix.Sockaddr, flags int) (int, error)
	Close() error
}

// Stats counts what a Conn received. All counters only grow.
type Stats struct {
	Received           uint64 // datagrams read from the socket
	DroppedCredentials uint64 // dropped: wrong sender port, no credentials or uid != 0
	Malformed          uint64 // dropped: truncated or failed to parse
	Overflows          uint64 // ENOBUFS reports: events were lost
}

// Conn is a NETLINK_KOBJECT_UEVENT socket. Receive may be called by one
// goroutine at a time; Send and Stats from any.
type Conn struct {
	sock sysSocket
	log  *slog.Logger

	recvMu sync.Mutex // serialises Receive and guards the buffers below
	buf    []byte
	oob    []byte

	received, droppedCreds, malformedN, overflows atomic.Uint64
}

// Listen opens a NETLINK_KOBJECT_UEVENT socket bound to group (GroupNone for
// a socket that only sends), close-on-exec and non-blocking on Go's poller,
// with a 128 MiB receive buffer unless WithReceiveBuffer says otherwise
// (SO_RCVBUFFORCE, falling back to the rmem_max-capped SO_RCVBUF without
// CAP_NET_ADMIN) and SO_PASSCRED so every datagram carries its sender's
// credentials.
func Listen(group Group, log *slog.Logger, opts ...ListenOption) (*Conn, error) {
	cfg := listenConfig{rcvbuf: DefaultReceiveBuffer}
	for _, o := range opts {
		o(&cfg)
	}
	if group > 32 {
		return nil, fmt.Errorf("open uevent socket: group %d is not a netlink multicast group (1-32)", group)
	}
	s, err := socket.Socket(unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_KOBJECT_UEVENT, "uevent", nil)
	if err != nil {
		return nil, fmt.Errorf("open uevent socket: %w", err)
	}
	if err := setup(s, group, cfg.rcvbuf); err != nil {
		s.Close()
		return nil, err
	}
	return newConn(s, log), nil
}

func setup(s *socket.Conn, group Group, rcvbuf int) error {
	// mdlayher/socket's SetReadBuffer tries SO_RCVBUFFORCE, then SO_RCVBUF.
	if err := s.SetReadBuffer(rcvbuf); err != nil {
		return fmt.Errorf("set uevent socket receive buffer: %w", err)
	}
	if err := s.SetsockoptInt(unix.SOL_SOCKET, unix.SO_PASSCRED, 1); err != nil {
		return fmt.Errorf("enable SO_PASSCRED on uevent socket: %w", err)
	}
	if err := s.Bind(&unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: group.mask()}); err != nil {
		return fmt.Errorf("bind uevent socket to group %d: %w", group, err)
	}
	return nil
}

func newConn(s sysSocket, log *slog.Logger) *Conn {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Conn{
		sock: s,
		log:  log,
		buf:  make([]byte, maxDatagram),
		oob:  make([]byte, unix.CmsgSpace(unix.SizeofUcred)*2),
	}
}

// Close closes the socket; a blocked Receive returns an error.
func (c *Conn) Close() error {
	return c.sock.Close()
}

// Stats returns a snapshot of the counters.
func (c *Conn) Stats() Stats {
	return Stats{
		Received:           c.received.Load(),
		DroppedCredentials: c.droppedCreds.Load(),
		Malformed:          c.malformedN.Load(),
		Overflows:          c.overflows.Load(),
	}
}

// Receive blocks until a trusted, well-formed uevent arrives or ctx is done.
// Datagrams from untrusted senders and malformed ones are counted in Stats,
// logged at debug level and skipped. When the kernel reports that the receive
// queue overflowed it returns an error matching ErrOverflow (and
// unix.ENOBUFS); the Conn stays usable and the caller should resynchronise
// and call Receive again.
func (c *Conn) Receive(ctx context.Context) (*Event, error) {
	c.recvMu.Lock()
	defer c.recvMu.Unlock()
	for {
		n, oobn, flags, from, err := c.sock.Recvmsg(ctx, c.buf, c.oob, 0)
		if err != nil {
			if errors.Is(err, unix.ENOBUFS) {
				c.overflows.Add(1)
				return nil, fmt.Errorf("receive uevent: %w", ErrOverflow)
			}
			return nil, fmt.Errorf("receive uevent: %w", err)
		}
		c.received.Add(1)
		if err := checkSender(from, c.oob[:oobn]); err != nil {
			c.droppedCreds.Add(1)
			c.log.Debug("dropping uevent from untrusted sender", "err", err)
			continue
		}
		if flags&unix.MSG_TRUNC != 0 {
			c.malformedN.Add(1)
			c.log.Debug("dropping truncated uevent", "bytes", n)
			continue
		}
		ev, err := Parse(c.buf[:n])
		if err != nil {
			c.malformedN.Add(1)
			c.log.Debug("dropping malformed uevent", "err", err)
			continue
		}
		return ev, nil
	}
}

// checkSender applies udev's trust rules (device_monitor_receive_device):
// unicast datagrams are refused, kernel-group datagrams must come from
// netlink port 0, which only the kernel has, and every datagram must carry
// SCM_CREDENTIALS with uid 0: an unprivileged process may not inject
// uevents.
func checkSender(from unix.Sockaddr, oob []byte) error {
	nl, ok := from.(*unix.SockaddrNetlink)
	if !ok {
		return fmt.Errorf("sender address %T is not netlink", from)
	}
	// On receive nl_groups is the group mask of the message: 1<<(group-1).
	switch nl.Groups {
	case 0:
		return fmt.Errorf("refuse unicast datagram from port %d", nl.Pid)
	case GroupKernel.mask():
		if nl.Pid != 0 {
			return fmt.Errorf("refuse kernel-group datagram from user port %d", nl.Pid)
		}
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return fmt.Errorf("parse control messages: %w", err)
	}
	for i := range msgs {
		if msgs[i].Header.Level != unix.SOL_SOCKET || msgs[i].Header.Type != unix.SCM_CREDENTIALS {
			continue
		}
		cred, err := unix.ParseUnixCredentials(&msgs[i])
		if err != nil {
			return fmt.Errorf("parse sender credentials: %w", err)
		}
		if cred.Uid != 0 {
			return fmt.Errorf("refuse datagram from uid %d", cred.Uid)
		}
		return nil
	}
	return errors.New("refuse datagram without sender credentials")
}

// Send broadcasts e in libudev format on GroupUdev, as udevd does after
// processing an event, so libudev and sd-device monitors see it. Sending to a
// netlink multicast group needs CAP_NET_ADMIN (the uevent socket allows
// unprivileged receive only).
func (c *Conn) Send(ctx context.Context, e *Event) error {
	b, err := MarshalLibudev(e)
	if err != nil {
		return fmt.Errorf("send uevent: %w", err)
	}
	to := &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: GroupUdev.mask()}
	_, err = c.sock.Sendmsg(ctx, b, nil, to, 0)
	// The kernel reports ECONNREFUSED when nobody listens on the group; the
	// broadcast still happened as far as anyone can tell.
	if err != nil && !errors.Is(err, unix.ECONNREFUSED) {
		return fmt.Errorf("send uevent SEQNUM=%d: %w", e.Seqnum, err)
	}
	return nil
}

// ErrNotUeventSocket is returned by FileConn for a file that is not a
// NETLINK_KOBJECT_UEVENT socket of type SOCK_RAW.
var ErrNotUeventSocket = errors.New("not a NETLINK_KOBJECT_UEVENT socket")

// FileConn wraps a uevent socket that is already open and bound, the one
// systemd-udevd-kernel.socket (ListenNetlink=kobject-uevent 1) passes to
// systemd-udevd.service. Like Listen's, the Conn's socket is close-on-exec,
// non-blocking on Go's poller and has SO_PASSCRED on (the unit's
// PassCredentials=yes sets it too). Unlike Listen, FileConn keeps the
// socket's receive buffer unless WithReceiveBuffer is given, as udevd's
// manager_new does: "systemd sets the receive buffer size for us, and the
// value in the .socket unit should take full effect" (ReceiveBuffer=128M).
// FileConn owns f: the Conn holds a duplicate, and f is closed on every
// path.
func FileConn(f *os.File, log *slog.Logger, opts ...ListenOption) (*Conn, error) {
	defer f.Close()
	var cfg listenConfig // rcvbuf 0: keep the socket's
	for _, o := range opts {
		o(&cfg)
	}
	s, err := socket.FileConn(f, "uevent")
	if err != nil {
		return nil, fmt.Errorf("wrap uevent socket %s: %w", f.Name(), err)
	}
	if err := setupFile(s, cfg.rcvbuf); err != nil {
		s.Close()
		return nil, fmt.Errorf("wrap uevent socket %s: %w", f.Name(), err)
	}
	return newConn(s, log), nil
}

func setupFile(s *socket.Conn, rcvbuf int) error {
	if err := checkUeventSocket(s); err != nil {
		return err
	}
	if rcvbuf > 0 {
		if err := s.SetReadBuffer(rcvbuf); err != nil {
			return fmt.Errorf("set receive buffer: %w", err)
		}
	}
	if err := s.SetsockoptInt(unix.SOL_SOCKET, unix.SO_PASSCRED, 1); err != nil {
		return fmt.Errorf("enable SO_PASSCRED: %w", err)
	}
	return nil
}

// checkUeventSocket refuses anything but what Listen opens: another
// netlink protocol would parse as garbage, a file as nothing.
func checkUeventSocket(s *socket.Conn) error {
	for _, o := range []struct {
		opt, want int
		what      string
	}{
		{unix.SO_DOMAIN, unix.AF_NETLINK, "family"},
		{unix.SO_PROTOCOL, unix.NETLINK_KOBJECT_UEVENT, "protocol"},
		{unix.SO_TYPE, unix.SOCK_RAW, "type"},
	} {
		v, err := s.GetsockoptInt(unix.SOL_SOCKET, o.opt)
		if errors.Is(err, unix.ENOTSOCK) {
			return fmt.Errorf("%w: %w", ErrNotUeventSocket, err)
		}
		if err != nil {
			return fmt.Errorf("read socket %s: %w", o.what, err)
		}
		if v != o.want {
			return fmt.Errorf("%w: socket %s %d, want %d", ErrNotUeventSocket, o.what, v, o.want)
		}
	}
	return nil
}
