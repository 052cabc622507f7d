// Package kmodset answers one question for the QEMU harness: which module
// files does a guest need so that every MODALIAS it exposes can be resolved
// and loaded. It reads the text files depmod writes (modules.dep,
// modules.alias, modules.softdep, modules.builtin) and is deliberately much
// smaller than the real resolver in package modalias, and independent of
// it: the harness must not depend on the code it is testing. Globs go to
// internal/fnmatch, the project's glibc fnmatch(3), which is all kmod uses
// to match them.
//
// It must not import modalias, modload, workers, uevent or rules.
package kmodset
