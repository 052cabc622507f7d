package sdaemon

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Kind is what a passed fd is to udevd.
type Kind int

const (
	// KindOther is anything else: udevd refuses to start with one.
	KindOther Kind = iota
	// KindUevent is the kernel's uevent socket, systemd-udevd-kernel.socket's
	// ListenNetlink=kobject-uevent 1: AF_NETLINK, SOCK_RAW,
	// NETLINK_KOBJECT_UEVENT.
	KindUevent
	// KindUdevControl is /run/udev/control, systemd-udevd-control.socket's
	// ListenSequentialPacket=: AF_UNIX, SOCK_SEQPACKET, listening.
	KindUdevControl
)

func (k Kind) String() string {
	switch k {
	case KindUevent:
		return "uevent socket"
	case KindUdevControl:
		return "udev control socket"
	}
	return "other fd"
}

// ErrUnexpectedFD says the passed fds are not what systemd-udevd.service's
// two sockets give: one fd is neither socket, or one kind came twice.
// udevd's listen_fds fails the start with -EINVAL for both.
var ErrUnexpectedFD = errors.New("unexpected fd passed by systemd")

// sockOpts are the options that tell the sockets apart.
type sockOpts struct {
	domain, typ, protocol int
	listening             bool
}

// Classify says which socket f is. udevd's listen_fds asks sd_is_socket for
// the family and type only (listening -1: either); Classify also wants
// NETLINK_KOBJECT_UEVENT and a listening control socket, since any other
// netlink protocol would hand the daemon no uevents and accept() fails on a
// socket that does not listen: better refused at start than failing later.
// An fd that is no socket is KindOther with no error.
func Classify(f *os.File) (Kind, error) {
	o, err := getSockOpts(f)
	if errors.Is(err, unix.ENOTSOCK) {
		return KindOther, nil
	}
	if err != nil {
		return KindOther, err
	}
	switch {
	case o.domain == unix.AF_NETLINK && o.typ == unix.SOCK_RAW && o.protocol == unix.NETLINK_KOBJECT_UEVENT:
		return KindUevent, nil
	case o.domain == unix.AF_UNIX && o.typ == unix.SOCK_SEQPACKET && o.listening:
		return KindUdevControl, nil
	}
	return KindOther, nil
}

// getSockOpts reads f's options through SyscallConn, which, unlike Fd,
// leaves the fd's O_NONBLOCK as it is.
func getSockOpts(f *os.File) (sockOpts, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return sockOpts{}, fmt.Errorf("inspect fd %s: %w", f.Name(), err)
	}
	var o sockOpts
	var serr error
	err = rc.Control(func(fd uintptr) {
		get := func(opt int) int {
			v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, opt)
			serr = errors.Join(serr, err)
			return v
		}
		o = sockOpts{domain: get(unix.SO_DOMAIN), typ: get(unix.SO_TYPE), protocol: get(unix.SO_PROTOCOL), listening: get(unix.SO_ACCEPTCONN) == 1}
	})
	if err := errors.Join(err, serr); err != nil {
		return sockOpts{}, fmt.Errorf("inspect fd %s: %w", f.Name(), err)
	}
	return o, nil
}

// UdevSockets are the two sockets systemd-udevd.service gets; a nil one was
// not passed, and the daemon opens it itself, as udevd's manager_new does.
type UdevSockets struct {
	Uevent  *os.File
	Control *os.File
}

// SplitUdev sorts the passed fds as udevd's listen_fds does: at most one
// uevent socket and one control socket, and nothing else. It takes
// ownership of every file: on error it closes them all, as the daemon will
// not start.
func SplitUdev(ls []Listener) (UdevSockets, error) {
	var s UdevSockets
	for _, l := range ls {
		if err := s.put(l); err != nil {
			closeAll(ls)
			return UdevSockets{}, err
		}
	}
	return s, nil
}

func (s *UdevSockets) put(l Listener) error {
	k, err := Classify(l.File)
	if err != nil {
		return err
	}
	slot := map[Kind]**os.File{KindUevent: &s.Uevent, KindUdevControl: &s.Control}[k]
	switch {
	case slot == nil:
		return fmt.Errorf("fd %d (%s) is neither the uevent nor the udev control socket: %w", l.File.Fd(), l.Name, ErrUnexpectedFD)
	case *slot != nil:
		return fmt.Errorf("second %s, fd %d (%s): %w", k, l.File.Fd(), l.Name, ErrUnexpectedFD)
	}
	*slot = l.File
	return nil
}

func closeAll(ls []Listener) {
	for _, l := range ls {
		l.File.Close()
	}
}
