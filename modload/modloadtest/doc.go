// Package modloadtest is test support only: the one model of the
// kernel's module loader that modload's tests, and tests of other packages
// that run the real modload.Loader, load into, and helpers that write
// module files and trees the Loader accepts. Nothing outside tests may
// use it.
//
// Kernel implements modload.Kernel: sysfs initstates ("coming" while a
// module's init runs, "live" after, gone when init fails), one in-flight
// load per module name with later loads of the name waiting for it and
// getting EEXIST, errnos from init, init latency, and
// /sys/module/compression. Each Kernel is one process's model: worker
// processes re-executed by a test each have their own, and RecordTo makes
// every one append a line per load syscall to one file, so that the parent
// counts the syscalls of all of them (ReadCalls).
//
// It must not import cmd/gudevd, workers, uevent or rules: it models the
// kernel, not the daemon.
package modloadtest
