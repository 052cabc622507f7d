package sdaemon

import (
	"errors"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// freeFDs returns the first of n consecutive fd numbers, from 100 up, that
// no file of the test process holds: the tests put their sockets there in
// place of systemd's fds from 3. The package's tests do not run in
// parallel, so nothing else takes them in between.
func freeFDs(t *testing.T, n int) int {
	t.Helper()
	for base := 100; base < 1000; base++ {
		free := true
		for fd := base; fd < base+n && free; fd++ {
			_, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
			free = errors.Is(err, unix.EBADF)
		}
		if free {
			return base
		}
	}
	t.Fatal("no free fd range")
	return 0
}

// passFDs puts a duplicate of each fd at consecutive free numbers without
// FD_CLOEXEC, as systemd's exec leaves them, closes the originals, and
// returns the first number. Cleanup closes whatever is still open there.
func passFDs(t *testing.T, fds ...int) int {
	t.Helper()
	base := freeFDs(t, len(fds))
	for i, fd := range fds {
		if err := unix.Dup3(fd, base+i, 0); err != nil {
			t.Fatal(err)
		}
		unix.Close(fd)
	}
	t.Cleanup(func() {
		for i := range fds {
			unix.Close(base + i) // EBADF when the test closed it
		}
	})
	return base
}

// ueventSocket opens a NETLINK_KOBJECT_UEVENT socket bound to group 1, what
// systemd-udevd-kernel.socket's ListenNetlink=kobject-uevent 1 gives.
func ueventSocket(t *testing.T) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_KOBJECT_UEVENT)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1}); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	return fd
}

// controlSocket opens a listening SOCK_SEQPACKET socket in a temporary
// directory, what ListenSequentialPacket=/run/udev/control gives.
func controlSocket(t *testing.T, listen bool) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET, 0)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "control")
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	if listen {
		if err := unix.Listen(fd, 8); err != nil {
			unix.Close(fd)
			t.Fatal(err)
		}
	}
	return fd
}

// datagramSocket opens an fd of another kind: a datagram socket pair's end.
func datagramSocket(t *testing.T) int {
	t.Helper()
	p, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(p[1])
	return p[0]
}

// regularFile opens an fd that is no socket.
func regularFile(t *testing.T) int {
	t.Helper()
	fd, err := unix.Open(filepath.Join(t.TempDir(), "f"), unix.O_CREAT|unix.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	return fd
}
