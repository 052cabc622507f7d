package uevent

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/socket"
	"golang.org/x/sys/unix"
)

// datagram is one scripted recvmsg result of fakeSocket.
type datagram struct {
	data  []byte
	from  unix.Sockaddr
	oob   []byte
	flags int
	err   error
}

// sentDatagram is what fakeSocket saw sent; the destination as its netlink
// family and group mask, or -1 when it was not a netlink address.
type sentDatagram struct {
	Data   []byte
	Family int
	Groups int64
}

// fakeSocket replays scripted datagrams; once they run out Recvmsg blocks
// until ctx is done, like a quiet socket.
type fakeSocket struct {
	reads   []datagram
	sent    []sentDatagram
	sendErr error
	closed  bool
}

func (f *fakeSocket) Recvmsg(ctx context.Context, p, oob []byte, _ int) (int, int, int, unix.Sockaddr, error) {
	if len(f.reads) == 0 {
		<-ctx.Done()
		return 0, 0, 0, nil, ctx.Err()
	}
	d := f.reads[0]
	f.reads = f.reads[1:]
	if d.err != nil {
		return 0, 0, 0, nil, d.err
	}
	n := copy(p, d.data)
	flags := d.flags
	if n < len(d.data) {
		flags |= unix.MSG_TRUNC
	}
	return n, copy(oob, d.oob), flags, d.from, nil
}

func (f *fakeSocket) Sendmsg(_ context.Context, p, _ []byte, to unix.Sockaddr, _ int) (int, error) {
	if f.sendErr != nil {
		return 0, f.sendErr
	}
	d := sentDatagram{Data: append([]byte(nil), p...), Family: -1, Groups: -1}
	if nl, ok := to.(*unix.SockaddrNetlink); ok {
		d.Family, d.Groups = int(nl.Family), int64(nl.Groups)
	}
	f.sent = append(f.sent, d)
	return len(p), nil
}

func (f *fakeSocket) Close() error {
	f.closed = true
	return nil
}

func creds(pid int32, uid uint32) []byte {
	return unix.UnixCredentials(&unix.Ucred{Pid: pid, Uid: uid, Gid: uid})
}

func fromKernel() *unix.SockaddrNetlink {
	return &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1, Pid: 0}
}

func kernelEvent(seqnum string) []byte {
	return kmsg("add@/devices/system/cpu/cpu1", "ACTION=add", "DEVPATH=/devices/system/cpu/cpu1",
		"SUBSYSTEM=cpu", "MODALIAS=cpu:type:x86,ven0000fam0006mod0055:feature:,0000", "SEQNUM="+seqnum)
}

func TestReceiveTrust(t *testing.T) {
	libudev, err := MarshalLibudev(mustParse(t, kernelEvent("2")))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		first     datagram
		accept    bool // the first datagram is delivered
		wantStats Stats
	}{
		{
			name:      "kernel group from port 0 and uid 0",
			first:     datagram{data: kernelEvent("2"), from: fromKernel(), oob: creds(0, 0)},
			accept:    true,
			wantStats: Stats{Received: 1},
		},
		{
			name:      "udev group from a daemon running as root",
			first:     datagram{data: libudev, from: &unix.SockaddrNetlink{Groups: 2, Pid: 4242}, oob: creds(4242, 0)},
			accept:    true,
			wantStats: Stats{Received: 1},
		},
		{
			name:      "kernel group from a user port",
			first:     datagram{data: kernelEvent("2"), from: &unix.SockaddrNetlink{Groups: 1, Pid: 4242}, oob: creds(4242, 0)},
			wantStats: Stats{Received: 2, DroppedCredentials: 1},
		},
		{
			name:      "kernel group with uid 1000",
			first:     datagram{data: kernelEvent("2"), from: fromKernel(), oob: creds(0, 1000)},
			wantStats: Stats{Received: 2, DroppedCredentials: 1},
		},
		{
			name:      "udev group from an unprivileged sender",
			first:     datagram{data: libudev, from: &unix.SockaddrNetlink{Groups: 2, Pid: 4242}, oob: creds(4242, 1000)},
			wantStats: Stats{Received: 2, DroppedCredentials: 1},
		},
		{
			name:      "unicast",
			first:     datagram{data: kernelEvent("2"), from: &unix.SockaddrNetlink{Groups: 0, Pid: 4242}, oob: creds(4242, 0)},
			wantStats: Stats{Received: 2, DroppedCredentials: 1},
		},
		{
			name:      "no credentials",
			first:     datagram{data: kernelEvent("2"), from: fromKernel()},
			wantStats: Stats{Received: 2, DroppedCredentials: 1},
		},
		{
			name:      "only a file descriptor, no credentials",
			first:     datagram{data: kernelEvent("2"), from: fromKernel(), oob: unix.UnixRights(0)},
			wantStats: Stats{Received: 2, DroppedCredentials: 1},
		},
		{
			name:      "not a netlink sender",
			first:     datagram{data: kernelEvent("2"), from: &unix.SockaddrUnix{Name: "/run/x"}, oob: creds(0, 0)},
			wantStats: Stats{Received: 2, DroppedCredentials: 1},
		},
		{
			name:      "truncated",
			first:     datagram{data: kernelEvent("2"), from: fromKernel(), oob: creds(0, 0), flags: unix.MSG_TRUNC},
			wantStats: Stats{Received: 2, Malformed: 1},
		},
		{
			name:      "malformed",
			first:     datagram{data: []byte("add@/devices/x\x00ACTION=add"), from: fromKernel(), oob: creds(0, 0)},
			wantStats: Stats{Received: 2, Malformed: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sock := &fakeSocket{reads: []datagram{
				tt.first,
				{data: kernelEvent("3"), from: fromKernel(), oob: creds(0, 0)},
			}}
			c := newConn(sock, nil)
			e, err := c.Receive(context.Background())
			if err != nil {
				t.Fatalf("Receive: %v", err)
			}
			want := uint64(3)
			if tt.accept {
				want = 2
			}
			if e.Seqnum != want {
				t.Errorf("received SEQNUM %d, want %d", e.Seqnum, want)
			}
			if diff := cmp.Diff(tt.wantStats, c.Stats()); diff != "" {
				t.Errorf("stats mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func mustParse(t *testing.T, b []byte) *Event {
	t.Helper()
	e, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestReceiveOverflow(t *testing.T) {
	sock := &fakeSocket{reads: []datagram{
		{err: os.NewSyscallError("recvmsg", unix.ENOBUFS)},
		{data: kernelEvent("9"), from: fromKernel(), oob: creds(0, 0)},
		{err: os.NewSyscallError("recvmsg", unix.EBADF)},
	}}
	c := newConn(sock, nil)
	ctx := context.Background()

	e, err := c.Receive(ctx)
	if !errors.Is(err, ErrOverflow) || !errors.Is(err, unix.ENOBUFS) {
		t.Fatalf("Receive error = %v, want ErrOverflow matching ENOBUFS", err)
	}
	if e != nil {
		t.Errorf("Receive returned %+v with the overflow", e)
	}
	if e, err := c.Receive(ctx); err != nil || e.Seqnum != 9 {
		t.Fatalf("Receive after overflow = %+v, %v; want SEQNUM 9", e, err)
	}
	_, err = c.Receive(ctx)
	if !errors.Is(err, unix.EBADF) || errors.Is(err, ErrOverflow) {
		t.Errorf("Receive error = %v, want EBADF and not ErrOverflow", err)
	}
	if diff := cmp.Diff(Stats{Received: 1, Overflows: 1}, c.Stats()); diff != "" {
		t.Errorf("stats mismatch (-want +got):\n%s", diff)
	}
}

func TestReceiveContext(t *testing.T) {
	c := newConn(&fakeSocket{}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if e, err := c.Receive(ctx); !errors.Is(err, context.Canceled) || e != nil {
		t.Errorf("Receive = %+v, %v; want context.Canceled", e, err)
	}
}

func TestSend(t *testing.T) {
	e := mustParse(t, kernelEvent("5"))
	want, err := MarshalLibudev(e)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		sendErr error
		event   *Event
		sent    []sentDatagram
		err     error
	}{
		{
			name:  "broadcast on the udev group",
			event: e,
			sent:  []sentDatagram{{Data: want, Family: unix.AF_NETLINK, Groups: 2}},
		},
		{name: "nobody listening", event: e, sendErr: os.NewSyscallError("sendmsg", unix.ECONNREFUSED)},
		{name: "not permitted", event: e, sendErr: os.NewSyscallError("sendmsg", unix.EPERM), err: unix.EPERM},
		{name: "invalid event is not sent", event: &Event{Action: ActionAdd}, err: ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sock := &fakeSocket{sendErr: tt.sendErr}
			err := newConn(sock, nil).Send(context.Background(), tt.event)
			if tt.err == nil && err != nil || tt.err != nil && !errors.Is(err, tt.err) {
				t.Errorf("Send error = %v, want %v", err, tt.err)
			}
			if diff := cmp.Diff(tt.sent, sock.sent); diff != "" {
				t.Errorf("sent mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestClose(t *testing.T) {
	sock := &fakeSocket{}
	if err := newConn(sock, nil).Close(); err != nil || !sock.closed {
		t.Errorf("Close = %v, closed %v", err, sock.closed)
	}
}

// listenEnv marks the copy of the test binary that TestListen runs in a new
// user namespace.
const listenEnv = "GUDEVD_TEST_LISTEN_USERNS"

// socketState is what TestListen reads back from a socket Listen set up.
type socketState struct {
	PassCred    int    // SO_PASSCRED
	RcvBuf      int    // SO_RCVBUF as getsockopt reports it
	CloseOnExec bool   // FD_CLOEXEC
	NonBlocking bool   // O_NONBLOCK
	Groups      uint32 // getsockname's nl_groups: the groups bound
	Bound       bool   // getsockname's nl_pid is set: the kernel gave it a port
}

// TestListen opens real sockets, which receiving needs no privilege for, and
// reads back every option Listen promises; nothing is sent. Where
// SO_RCVBUFFORCE is permitted it also runs itself in a new user namespace,
// where the capability check fails (it asks for CAP_NET_ADMIN in the user
// namespace that owns the network namespace, which is still the parent's),
// to check the rmem_max-capped fallback too.
func TestListen(t *testing.T) {
	if c, err := Listen(33, nil); err == nil {
		c.Close()
		t.Error("Listen(33) succeeded; netlink has 32 groups")
	}
	forced := canForceReceiveBuffer(t)
	if os.Getenv(listenEnv) != "" && forced {
		t.Fatal("SO_RCVBUFFORCE is permitted in the new user namespace")
	}
	// The kernel doubles what setsockopt(SO_RCVBUF{,FORCE}) asks for, to
	// leave room for struct sk_buff overhead, and getsockopt reports the
	// doubled value (__sock_set_rcvbuf in net/core/sock.c). SO_RCVBUF
	// first caps the request at net.core.rmem_max; SO_RCVBUFFORCE, which
	// needs CAP_NET_ADMIN, does not.
	rcvbuf := DefaultReceiveBuffer
	if !forced {
		rcvbuf = min(DefaultReceiveBuffer, readRmemMax(t))
	}
	t.Logf("SO_RCVBUFFORCE permitted: %v; want a receive buffer of %d bytes", forced, rcvbuf)
	tests := []struct {
		name   string
		group  Group
		groups uint32 // the nl_groups bit mask
	}{
		{name: "no group", group: GroupNone, groups: 0},
		{name: "kernel group", group: GroupKernel, groups: 1},
		{name: "udev group", group: GroupUdev, groups: 2},
		{name: "last group", group: 32, groups: 1 << 31},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Listen(tt.group, nil)
			if err != nil {
				t.Fatalf("Listen: %v", err)
			}
			defer func() {
				if err := c.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}()
			want := socketState{PassCred: 1, RcvBuf: 2 * rcvbuf, CloseOnExec: true, NonBlocking: true, Groups: tt.groups, Bound: true}
			if diff := cmp.Diff(want, readSocketState(t, c)); diff != "" {
				t.Errorf("socket state mismatch (-want +got):\n%s", diff)
			}
		})
	}
	if os.Getenv(listenEnv) != "" || !forced {
		return
	}
	t.Run("in a user namespace", func(t *testing.T) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestListen$", "-test.v")
		cmd.Env = append(os.Environ(), listenEnv+"=1")
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER}
		out, err := cmd.CombinedOutput()
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSPC) {
			t.Skipf("cannot create a user namespace: %v", err)
		}
		if err != nil || !strings.Contains(string(out), "--- PASS: TestListen ") {
			t.Errorf("TestListen in a user namespace: %v\n%s", err, out)
		}
	})
}

// TestListenReceiveBuffer checks WithReceiveBuffer: the size asked for
// reaches the socket (doubled by the kernel, see TestListen), and a size
// that is no size keeps the default. The sizes are below any rmem_max, so
// the answer is the same with or without CAP_NET_ADMIN.
func TestListenReceiveBuffer(t *testing.T) {
	forced := canForceReceiveBuffer(t)
	def := DefaultReceiveBuffer
	if !forced {
		def = min(DefaultReceiveBuffer, readRmemMax(t))
	}
	tests := []struct {
		name string
		opts []ListenOption
		want int // what setsockopt was asked for
	}{
		{name: "default", want: def},
		{name: "tiny", opts: []ListenOption{WithReceiveBuffer(4096)}, want: 4096},
		{name: "64 KiB", opts: []ListenOption{WithReceiveBuffer(64 << 10)}, want: 64 << 10},
		{name: "zero keeps the default", opts: []ListenOption{WithReceiveBuffer(0)}, want: def},
		{name: "negative keeps the default", opts: []ListenOption{WithReceiveBuffer(-1)}, want: def},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Listen(GroupKernel, nil, tt.opts...)
			if err != nil {
				t.Fatalf("Listen: %v", err)
			}
			defer c.Close()
			if got := readSocketState(t, c).RcvBuf; got != 2*tt.want {
				t.Errorf("SO_RCVBUF = %d, want %d (twice %d)", got, 2*tt.want, tt.want)
			}
		})
	}
}

// canForceReceiveBuffer reports whether SO_RCVBUFFORCE is permitted on a
// uevent socket, the kernel's own answer to the capability check; it skips
// the test when the sandbox refuses uevent sockets altogether.
func canForceReceiveBuffer(t *testing.T) bool {
	t.Helper()
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_KOBJECT_UEVENT)
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.EAFNOSUPPORT) {
		t.Skipf("this sandbox refuses uevent sockets: %v", err)
	}
	if err != nil {
		t.Fatalf("open uevent socket: %v", err)
	}
	defer unix.Close(fd)
	switch err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 1<<20); {
	case err == nil:
		return true
	case errors.Is(err, unix.EPERM):
		return false
	default:
		t.Fatalf("setsockopt SO_RCVBUFFORCE: %v", err)
		return false
	}
}

func readRmemMax(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/net/core/rmem_max")
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("parse net.core.rmem_max: %v", err)
	}
	return n
}

func readSocketState(t *testing.T, c *Conn) socketState {
	t.Helper()
	s, ok := c.sock.(*socket.Conn)
	if !ok {
		t.Fatalf("Listen's socket is a %T, not a *socket.Conn", c.sock)
	}
	var st socketState
	var err error
	if st.PassCred, err = s.GetsockoptInt(unix.SOL_SOCKET, unix.SO_PASSCRED); err != nil {
		t.Fatal(err)
	}
	if st.RcvBuf, err = s.GetsockoptInt(unix.SOL_SOCKET, unix.SO_RCVBUF); err != nil {
		t.Fatal(err)
	}
	sa, err := s.Getsockname()
	if err != nil {
		t.Fatal(err)
	}
	nl, ok := sa.(*unix.SockaddrNetlink)
	if !ok {
		t.Fatalf("getsockname returned %T, not a netlink address", sa)
	}
	st.Groups, st.Bound = nl.Groups, nl.Pid != 0
	rc, err := s.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fdFlags, flFlags int
	var fdErr, flErr error
	if err := rc.Control(func(fd uintptr) {
		fdFlags, fdErr = unix.FcntlInt(fd, unix.F_GETFD, 0)
		flFlags, flErr = unix.FcntlInt(fd, unix.F_GETFL, 0)
	}); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(fdErr, flErr); err != nil {
		t.Fatalf("fcntl: %v", err)
	}
	st.CloseOnExec, st.NonBlocking = fdFlags&unix.FD_CLOEXEC != 0, flFlags&unix.O_NONBLOCK != 0
	return st
}

// passedUeventSocket opens what systemd-udevd-kernel.socket passes: a
// uevent socket bound to the kernel group, blocking and without
// FD_CLOEXEC (systemd's exec keeps it open for the service).
func passedUeventSocket(t *testing.T, typ int) *os.File {
	t.Helper()
	canForceReceiveBuffer(t) // skips where the sandbox refuses uevent sockets
	fd, err := unix.Socket(unix.AF_NETLINK, typ, unix.NETLINK_KOBJECT_UEVENT)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: GroupKernel.mask()}); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	return os.NewFile(uintptr(fd), "systemd-udevd-kernel.socket")
}

// TestFileConn wraps a real passed socket and reads back what FileConn
// promises: its own options, the socket's receive buffer kept unless
// asked, f closed, a Receive that ends with its context, and Close.
func TestFileConn(t *testing.T) {
	for _, tt := range []struct {
		name   string
		opts   []ListenOption
		rcvbuf int // what setsockopt is asked for; 0: the socket's own
	}{
		{name: "socket's buffer kept"},
		{name: "buffer asked for", opts: []ListenOption{WithReceiveBuffer(64 << 10)}, rcvbuf: 64 << 10},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := passedUeventSocket(t, unix.SOCK_RAW)
			own, err := unix.GetsockoptInt(int(f.Fd()), unix.SOL_SOCKET, unix.SO_RCVBUF)
			if err != nil {
				t.Fatal(err)
			}
			c, err := FileConn(f, nil, tt.opts...)
			if err != nil {
				t.Fatalf("FileConn: %v", err)
			}
			if err := f.Close(); !errors.Is(err, os.ErrClosed) {
				t.Errorf("f.Close after FileConn = %v, want os.ErrClosed: FileConn owns f", err)
			}
			want := socketState{PassCred: 1, RcvBuf: own, CloseOnExec: true, NonBlocking: true, Groups: 1, Bound: true}
			if tt.rcvbuf > 0 {
				want.RcvBuf = 2 * tt.rcvbuf // doubled, see TestListen
			}
			if diff := cmp.Diff(want, readSocketState(t, c)); diff != "" {
				t.Errorf("socket state mismatch (-want +got):\n%s", diff)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
			defer cancel()
			if ev, err := c.Receive(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Receive with an expiring context = %v, %v; want context.DeadlineExceeded", ev, err)
			}
			if err := c.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if _, err := c.Receive(t.Context()); err == nil {
				t.Error("Receive after Close = nil error")
			}
		})
	}
}

// TestFileConnRefuses: anything but a SOCK_RAW uevent socket is refused
// with ErrNotUeventSocket, and f is closed all the same.
func TestFileConnRefuses(t *testing.T) {
	sock := func(domain, typ, proto int) func(t *testing.T) *os.File {
		return func(t *testing.T) *os.File {
			fd, err := unix.Socket(domain, typ, proto)
			if err != nil {
				t.Fatal(err)
			}
			return os.NewFile(uintptr(fd), "passed")
		}
	}
	for _, tt := range []struct {
		name string
		open func(t *testing.T) *os.File
		want string // in the error
	}{
		{"route netlink", sock(unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_ROUTE), "protocol 0, want 15"},
		{"unix seqpacket", sock(unix.AF_UNIX, unix.SOCK_SEQPACKET, 0), "family 1, want 16"},
		{"uevent datagram", func(t *testing.T) *os.File { return passedUeventSocket(t, unix.SOCK_DGRAM) }, "type 2, want 3"},
		{"regular file", func(t *testing.T) *os.File {
			f, err := os.Create(t.TempDir() + "/f")
			if err != nil {
				t.Fatal(err)
			}
			return f
		}, "socket operation on non-socket"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.open(t)
			c, err := FileConn(f, nil)
			if err == nil {
				c.Close()
				t.Fatal("FileConn = nil error")
			}
			if !errors.Is(err, ErrNotUeventSocket) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("FileConn = %v, want ErrNotUeventSocket saying %q", err, tt.want)
			}
			if err := f.Close(); !errors.Is(err, os.ErrClosed) {
				t.Errorf("f.Close after a refusal = %v, want os.ErrClosed", err)
			}
		})
	}
}
