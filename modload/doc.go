// Package modload turns module names into dependency plans (modules.dep,
// softdeps, options, install commands, builtins) and loads modules. It is the
// only package that calls finit_module or init_module.
//
// The daemon uses it in three parts:
//
//   - Planning, in the main process, is pure: a Planner built from a
//     modalias.Index, the one reader of depmod's files and modprobe.d
//     (each module's file and dependencies, modules.builtin, options,
//     softdeps, install commands, the blacklist), answers lookups the way
//     kmod's modprobe does. Lookup is libkmod's probe lists exactly: the
//     modules a name, alias or MODALIAS finds, each with the blacklist
//     applied as the Blacklist mode says, its options (those of the
//     alias it was found through included) and its dependencies and
//     softdeps in modprobe's order, repetitions and all; ShowDepends and
//     ShowProbe print them as `modprobe --show-depends` and `--dry-run`
//     do (checked byte for byte against Debian's kmod 30 on Debian's 6.1
//     and 6.12 trees with a rich modprobe.d). PlanLookup, and Plan for
//     module names, merge probe lists into the Steps to load, each module
//     once at its first place (checked against --show-depends for every
//     module of both trees). A module that cannot load (unknown, on a
//     modules.dep cycle, or needing such a module) fails alone, with its
//     dependants, in Plan.Errors; a softdep naming no module is not a
//     failure and is listed in Plan.UnknownSoftdeps.
//   - Run executes a Plan's graph: each Step once, after its prerequisites,
//     in parallel up to a limit, failing the dependants of a failed step
//     with a *DependencyError that still matches the root errno. The daemon's
//     do function hands each Step, as MarshalStep bytes, to the dedup layer
//     under the module's name, so a module shared by many plans is loaded
//     once.
//   - Loading, in a worker process: Loader.Load loads exactly one module,
//     with one finit_module (or init_module) at most. It skips modules that
//     sysfs shows live or built in, waits for a load someone else has in
//     progress instead of duplicating it, lets the kernel decompress when it
//     can, and turns every errno into a *ModuleError. MarshalResult carries
//     the outcome back with errors.Is intact, and Result.SyscallOutcome and
//     Result.Outcome classify it, so that no consumer compares modload's
//     strings or errors itself.
//
// Loading goes through the Kernel interface, the loader's whole system
// boundary (the two load syscalls, /sys/module/NAME/initstate and
// /sys/module/compression). Tests, modload's own and those of packages
// that run the real Loader in worker processes, give it
// modloadtest.Kernel, a model of the kernel's module states, with
// WithKernel; the real one runs only in QEMU guests.
//
// It may import modalias for the parsed configuration. It must not import
// uevent, workers or rules.
package modload
