// Command gudevd is a Linux device manager whose headline is module-load
// deduplication: every kernel module costs exactly one load syscall, however
// many CPUs and duplicate uevents a machine has.
//
// This package is flags and subcommands only: each subcommand builds a
// configuration and calls cmd/gudevd/internal/daemon (the daemon),
// cmd/gudevd/internal/control (the client side of the control socket),
// cmd/gudevd/internal/modules (the worker process and the daemon-less
// modprobe), uevent (monitor, trigger), modalias (resolve) or modload
// (what modprobe --show-depends and --dry-run print).
//
// It must not import test/qemu or modload/modloadtest.
package main
