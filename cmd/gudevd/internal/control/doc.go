// Package control is the daemon's control protocol: one JSON request and
// one JSON reply per connection on a Unix socket (DefaultPath, mode 0600 in
// a directory of mode 0700), the wire types, the server that checks the
// peer's SO_PEERCRED uid before serving anything, and the client (Call)
// that every subcommand uses.
//
// The server is the one place that knows the protocol's shape: it decodes
// and validates every request (a known Op and only the fields it takes)
// before the Handler sees it, answers anything else with an error saying
// what was wrong, and counts every connection (Server.Stats).
//
// It also speaks systemd-udevd 252's control protocol (UdevServer,
// UdevMessage: udev-ctrl.c's 280-byte datagrams on the SOCK_SEQPACKET
// /run/udev/control, uid 0 by SO_PEERCRED and by each message's
// SCM_CREDENTIALS), so that the real udevadm control and settle can talk
// to gudevd; the daemon decides what each message does.
//
// It carries the module statistics and results of package modules as they
// are. It must not import cmd/gudevd/internal/daemon or uevent: it knows the
// protocol, not the daemon or devices.
package control
