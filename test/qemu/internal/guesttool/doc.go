// Command guesttool runs inside the QEMU guest, statically linked, next to
// busybox. It captures uevent datagrams, lists modaliases, loads the modules
// they resolve to (only while discovering the guest's module set, never in a
// measured scenario), runs the request storm (storm: one process per CPU
// making the kernel request the same modules at once, see
// report.StormActions) and turns the tracefs log into the report the host
// parses.
//
// It is built by the harness with CGO_ENABLED=0 and never runs on the host.
//
// It must not import cmd/gudevd, modalias, modload, rules, uevent or workers.
// It reads raw datagrams, sysfs and tracefs itself, so that what the host
// reports about gudevd does not depend on gudevd's own parsers.
package main
