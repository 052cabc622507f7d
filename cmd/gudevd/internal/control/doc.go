// Package control is the daemon's control protocol: one JSON request and
// one JSON reply per connection on a Unix socket (DefaultPath, mode 0600 in
// a directory of mode 0700), the wire types, the server that checks the
// peer's SO_PEERCRED uid before serving anything, and the client (Call)
// that every subcommand uses.
//
// It carries the module statistics and results of package modules as they
// are; it must not import cmd/gudevd/internal/daemon or uevent.
package control
