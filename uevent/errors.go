package uevent

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// errnoError is a sentinel that errors.Is also matches against its errno, so
// callers that think in errnos (as udev does) and callers that think in
// sentinels both work.
type errnoError struct {
	msg   string
	errno unix.Errno
}

func (e *errnoError) Error() string { return e.msg }

func (e *errnoError) Is(target error) bool {
	errno, ok := target.(unix.Errno)
	return ok && errno == e.errno
}

var (
	// ErrMalformed is wrapped by every error about a datagram, event or
	// sysfs file that does not have the shape the kernel or udev gives it.
	// errors.Is(err, unix.EBADMSG) also matches.
	ErrMalformed error = &errnoError{"malformed uevent", unix.EBADMSG}

	// ErrOverflow is returned by Conn.Receive when the kernel reported
	// ENOBUFS: the socket's receive queue overflowed and uevents were lost.
	// The socket stays usable; the caller should resynchronise from sysfs
	// (e.g. by a coldplug scan) and keep reading. errors.Is(err,
	// unix.ENOBUFS) also matches.
	ErrOverflow error = &errnoError{"uevent receive queue overflowed, events were lost", unix.ENOBUFS}
)

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}
