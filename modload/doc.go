// Package modload turns module names into dependency plans (modules.dep,
// softdeps, options, install commands, builtins) and loads modules. It is the
// only package that calls finit_module or init_module.
//
// Planning is pure. Loading goes through a small unexported kernel interface
// that unit tests replace with a fake; the real one runs only in QEMU guests.
//
// It may import modalias for the parsed configuration. It must not import
// uevent, workers or rules.
package modload
