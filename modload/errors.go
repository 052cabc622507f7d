package modload

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Sentinel errors. Each also matches, through errors.Is, the errno that
// modprobe would report for the same failure, so callers that only know
// errnos still classify them.
var (
	// ErrUnknownModule: neither modules.dep, modules.builtin nor an install
	// command knows the module (modprobe: ENOENT).
	ErrUnknownModule error = &sentinel{"unknown module", unix.ENOENT}
	// ErrDependencyCycle: modules.dep makes the module need itself (ELOOP).
	ErrDependencyCycle error = &sentinel{"dependency cycle", unix.ELOOP}
	// ErrDependencyFailed: a module it needs failed to plan or load. It
	// matches no errno itself: the *DependencyError also wraps the
	// dependency's own error, whose errno errors.Is finds.
	ErrDependencyFailed error = &sentinel{"dependency failed", 0}
	// ErrNotModule: the file is truncated or not ELF, found before any
	// syscall (the kernel would say ENOEXEC).
	ErrNotModule error = &sentinel{"not a kernel module", unix.ENOEXEC}
	// ErrInstallFailed: the install command failed or timed out
	// (modprobe: EINVAL).
	ErrInstallFailed error = &sentinel{"install command failed", unix.EINVAL}
	// ErrBlacklisted: a requested module is blacklisted, so it was not
	// loaded. Plan reports these separately; they are not failures.
	ErrBlacklisted error = &sentinel{"blacklisted", unix.EPERM}
	// ErrInKernel: modprobe --first-time found the module already live or
	// built in (modprobe: EEXIST, "Module already in kernel").
	ErrInKernel error = &sentinel{"module already in kernel", unix.EEXIST}
)

// sentinels lists every sentinel so that errors survive MarshalResult.
var sentinels = []error{
	ErrUnknownModule, ErrDependencyCycle, ErrDependencyFailed,
	ErrNotModule, ErrInstallFailed, ErrBlacklisted, ErrInKernel,
}

type sentinel struct {
	msg   string
	errno unix.Errno
}

func (s *sentinel) Error() string { return s.msg }

func (s *sentinel) Is(target error) bool {
	errno, ok := target.(unix.Errno)
	return ok && s.errno != 0 && errno == s.errno
}

// ModuleError is a failure to load one module.
type ModuleError struct {
	Module string
	Path   string // the file, if one was involved
	Op     string // "open", "read", "finit_module", "init_module", "install", ...
	Err    error  // a unix.Errno, a sentinel, or an error wrapping them
}

func (e *ModuleError) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("load module %s: %s: %v", e.Module, e.Op, e.Err)
	}
	return fmt.Sprintf("load module %s (%s): %s: %v", e.Module, e.Path, e.Op, e.Err)
}

func (e *ModuleError) Unwrap() error { return e.Err }

// DependencyError fails a module because a module it needs failed. It wraps
// that module's error, so errors.Is finds the root errno, and matches
// ErrDependencyFailed.
type DependencyError struct {
	Module string
	Dep    string
	Err    error
}

func (e *DependencyError) Error() string {
	return fmt.Sprintf("load module %s: dependency %s failed: %v", e.Module, e.Dep, e.Err)
}

func (e *DependencyError) Unwrap() []error { return []error{ErrDependencyFailed, e.Err} }

// errnoOf returns the errno at the root of err, or 0.
func errnoOf(err error) unix.Errno {
	var errno unix.Errno
	if errors.As(err, &errno) {
		return errno
	}
	for _, s := range sentinels {
		if errors.Is(err, s) && s.(*sentinel).errno != 0 {
			return s.(*sentinel).errno
		}
	}
	return 0
}
