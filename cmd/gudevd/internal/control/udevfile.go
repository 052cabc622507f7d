package control

import (
	"errors"
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// ErrNotUdevControlSocket is returned by UdevListenerFile for a file that
// is not a listening AF_UNIX SOCK_SEQPACKET socket.
var ErrNotUdevControlSocket = errors.New("not a listening unix seqpacket socket")

// UdevListenerFile makes the listener NewUdevServer serves of the socket
// systemd-udevd-control.socket (ListenSequentialPacket=/run/udev/control)
// passes. The socket unit owns the path: it made it (SocketMode=0600),
// keeps the fd across the service's restarts (Restart=always) and removes
// the path when the socket unit stops (RemoveOnStop=yes), so closing the
// listener must not unlink it, unlike ListenUdev's. SO_PASSCRED is set on
// it, as ListenUdev does and PassCredentials=yes did already.
// UdevListenerFile owns f: the listener holds a duplicate, and f is closed
// on every path.
func UdevListenerFile(f *os.File) (*net.UnixListener, error) {
	defer f.Close()
	if err := checkUdevControlSocket(f); err != nil {
		return nil, fmt.Errorf("udev control socket %s: %w", f.Name(), err)
	}
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("udev control socket %s: %w", f.Name(), err)
	}
	ul, ok := ln.(*net.UnixListener)
	if !ok { // checkUdevControlSocket saw AF_UNIX: not reached
		ln.Close()
		return nil, fmt.Errorf("udev control socket %s: listener is a %T: %w", f.Name(), ln, ErrNotUdevControlSocket)
	}
	ul.SetUnlinkOnClose(false)
	return ul, nil
}

// checkUdevControlSocket wants AF_UNIX, SOCK_SEQPACKET and listen(2)
// called, and turns SO_PASSCRED on. A stream socket would take udevadm's
// connect(2) but not its message boundaries; one not listening fails every
// accept(2).
func checkUdevControlSocket(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		for _, o := range []struct {
			opt, want int
			what      string
		}{
			{unix.SO_DOMAIN, unix.AF_UNIX, "family"},
			{unix.SO_TYPE, unix.SOCK_SEQPACKET, "type"},
			{unix.SO_ACCEPTCONN, 1, "listening"},
		} {
			v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, o.opt)
			if err != nil {
				serr = fmt.Errorf("%w: read socket %s: %w", ErrNotUdevControlSocket, o.what, err)
				return
			}
			if v != o.want {
				serr = fmt.Errorf("%w: socket %s %d, want %d", ErrNotUdevControlSocket, o.what, v, o.want)
				return
			}
		}
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1)
	})
	return errors.Join(err, serr)
}
