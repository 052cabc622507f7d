package sdaemon

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ListenFDsStart is SD_LISTEN_FDS_START: systemd passes a service's
// sockets as consecutive fds from 3, after stdin, stdout and stderr.
const ListenFDsStart = 3

// The variables systemd sets for a socket-activated service (sd_listen_fds(3)).
const (
	listenPIDEnv     = "LISTEN_PID"
	listenFDsEnv     = "LISTEN_FDS"
	listenFDNamesEnv = "LISTEN_FDNAMES"
)

// ErrListenEnv says LISTEN_PID, LISTEN_FDS or LISTEN_FDNAMES is malformed:
// sd_listen_fds returns -EINVAL (or parse_pid's error) for the same cases.
var ErrListenEnv = errors.New("malformed socket activation environment")

// Listener is one fd systemd passed. Name is its LISTEN_FDNAMES entry: the
// socket unit's FileDescriptorName=, which defaults to the unit's name
// (systemd-udevd-kernel.socket), or "unknown" when systemd set no names.
type Listener struct {
	Name string
	File *os.File
}

// Listeners returns the fds systemd passed to this process, as
// sd_listen_fds_with_names does: none when LISTEN_PID is unset or names
// another process (a child that inherited the environment), every fd set
// close-on-exec, and with unset the three variables removed whatever the
// outcome, so that no worker started later believes the fds are its own.
// The caller owns the files.
func Listeners(unset bool) ([]Listener, error) {
	return listeners(unset, ListenFDsStart)
}

// listeners is Listeners with the first fd as a parameter, so that tests
// can pass sockets they made at free fd numbers instead of fd 3.
func listeners(unset bool, start int) ([]Listener, error) {
	if unset {
		defer unsetListenEnv()
	}
	n, err := listenFDCount()
	if err != nil || n == 0 {
		return nil, err
	}
	names, err := listenFDNames(n)
	if err != nil {
		return nil, err
	}
	ls := make([]Listener, n)
	for i := range n {
		fd := start + i
		// sd_listen_fds sets FD_CLOEXEC: systemd hands the fds over without
		// it (they must survive its exec of the service).
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
			return nil, fmt.Errorf("set close-on-exec on passed fd %d: %w", fd, err)
		}
		ls[i] = Listener{Name: names[i], File: os.NewFile(uintptr(fd), names[i])}
	}
	return ls, nil
}

// listenFDCount is sd_listen_fds' reading of LISTEN_PID and LISTEN_FDS.
func listenFDCount() (int, error) {
	pid, ok := os.LookupEnv(listenPIDEnv)
	if !ok {
		return 0, nil
	}
	p, err := strconv.Atoi(pid)
	if err != nil || p <= 0 {
		return 0, fmt.Errorf("%s=%q: %w", listenPIDEnv, pid, ErrListenEnv)
	}
	if p != os.Getpid() {
		return 0, nil
	}
	fds, ok := os.LookupEnv(listenFDsEnv)
	if !ok {
		return 0, nil
	}
	// LISTEN_FDS=0 is an error too: systemd never sets it so.
	n, err := strconv.Atoi(fds)
	if err != nil || n <= 0 || n > 1<<20 {
		return 0, fmt.Errorf("%s=%q: %w", listenFDsEnv, fds, ErrListenEnv)
	}
	return n, nil
}

// listenFDNames splits LISTEN_FDNAMES at every ':' (empty names kept, as
// EXTRACT_DONT_COALESCE_SEPARATORS does); it must name every fd.
func listenFDNames(n int) ([]string, error) {
	e, ok := os.LookupEnv(listenFDNamesEnv)
	if !ok {
		names := make([]string, n)
		for i := range names {
			names[i] = "unknown"
		}
		return names, nil
	}
	var names []string
	if e != "" { // strv_split_full makes no entry of an empty string
		names = strings.Split(e, ":")
	}
	if len(names) != n {
		return nil, fmt.Errorf("%s=%q names %d fds, %s=%d: %w", listenFDNamesEnv, e, len(names), listenFDsEnv, n, ErrListenEnv)
	}
	return names, nil
}

func unsetListenEnv() {
	for _, k := range []string{listenPIDEnv, listenFDsEnv, listenFDNamesEnv} {
		os.Unsetenv(k)
	}
}
