// Package sdaemontest is systemd's side of $NOTIFY_SOCKET for tests: a
// unixgram socket that collects what a Notifier sends.
//
// It must not import cmd/gudevd/internal/daemon or uevent: it fakes systemd,
// not the daemon.
package sdaemontest
