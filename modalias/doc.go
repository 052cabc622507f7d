// Package modalias resolves a device's MODALIAS to module names exactly as
// libkmod does: modules.alias, modules.builtin and the builtin aliases,
// modules.softdep, modprobe.d configuration (alias, blacklist, options,
// install, remove, softdep) and the kernel command line.
//
// Everything here is pure: an Index is built once from file systems given as
// fs.FS values and answers lookups without touching the system.
//
// It must not import uevent, modload, workers or rules.
package modalias
