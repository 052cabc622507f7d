package uevent

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
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

// TestListen opens and closes a real socket bound to the kernel group, which
// receiving needs no privilege for; nothing is sent.
func TestListen(t *testing.T) {
	if c, err := Listen(33, nil); err == nil {
		c.Close()
		t.Error("Listen(33) succeeded; netlink has 32 groups")
	}
	c, err := Listen(GroupKernel, nil)
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.EAFNOSUPPORT) {
		t.Skipf("this sandbox refuses uevent sockets: %v", err)
	}
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}
