package modload

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// SyscallOutcome names what the load syscall of a Load that returned r and
// err did: "ok", "eexist" (another loader won the race, which Load counts
// as success), the errno's name ("ENOMEM", "ENODEV", ...) when it failed,
// or "" when no syscall was made (the module was live or built in, an
// install command ran, or Load failed before the syscall). A *ModuleError
// whose Op is the syscall counts as one even when r was lost on the way,
// as when a worker reports only the error. These are the labels of
// `gudevd stats`' load syscalls.
func (r Result) SyscallOutcome(err error) string {
	if r.Syscall == "" {
		var me *ModuleError
		if errors.As(err, &me) && (me.Op == SyscallFinit || me.Op == SyscallInit) {
			return errnoName(err)
		}
		return ""
	}
	switch {
	case err != nil:
		return errnoName(err)
	case r.Exists:
		return "eexist"
	}
	return "ok"
}

// Outcome classifies a Load that returned r and err, for statistics and
// logs: "failed", SkipLive or SkipBuiltin, "eexist", "install" (its
// install command ran), "waited" (another load finished it) or "loaded".
func (r Result) Outcome(err error) string {
	switch {
	case err != nil:
		return "failed"
	case r.Skipped != "":
		return r.Skipped
	case r.Exists:
		return "eexist"
	case r.Install:
		return "install"
	case r.Waited:
		return "waited"
	}
	return "loaded"
}

// errnoName returns the name of the errno err matches ("ENOMEM"), "errno
// N" for one without a name, or "error" when err carries none.
func errnoName(err error) string {
	var errno unix.Errno
	if errors.As(err, &errno) {
		if name := unix.ErrnoName(errno); name != "" {
			return name
		}
		return fmt.Sprintf("errno %d", int(errno))
	}
	return "error"
}
