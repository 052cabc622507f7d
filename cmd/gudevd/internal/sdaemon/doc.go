// Package sdaemon owns gudevd's side of systemd's service protocol, as
// libsystemd's sd-daemon.c (systemd 252) implements it for systemd-udevd:
// the sockets a socket unit passes (sd_listen_fds: LISTEN_PID, LISTEN_FDS,
// LISTEN_FDNAMES, fds from 3), which of them is the kernel's uevent socket
// and which the udev control socket (udevd.c's listen_fds), the state
// messages to $NOTIFY_SOCKET (sd_notify: READY=1, STOPPING=1, STATUS=,
// WATCHDOG=1) and the watchdog interval (sd_watchdog_enabled:
// WATCHDOG_USEC, WATCHDOG_PID) with the pinger that keeps it fed.
//
// It knows sockets only by their kernel options (SO_DOMAIN, SO_TYPE,
// SO_PROTOCOL, SO_ACCEPTCONN); wrapping them is for uevent.FileConn and
// control.UdevListenerFile. It must not import cmd/gudevd/internal/daemon,
// cmd/gudevd/internal/control or uevent: it speaks systemd's protocol, not
// udev's.
package sdaemon
