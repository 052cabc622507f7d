package modload

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// The strings are what `gudevd stats` and test/qemu show: they must not
// change.
func TestResultClassification(t *testing.T) {
	finitFailed := func(errno unix.Errno) error {
		return &ModuleError{Module: "m", Path: "/m.ko", Op: SyscallFinit, Err: errno}
	}
	tests := []struct {
		name             string
		r                Result
		err              error
		syscall, outcome string
	}{
		{"loaded", Result{Syscall: SyscallFinit}, nil, "ok", "loaded"},
		{"loaded from memory", Result{Syscall: SyscallInit}, nil, "ok", "loaded"},
		{"another loader won the race", Result{Syscall: SyscallFinit, Exists: true}, nil, "eexist", "eexist"},
		{"waited, then loaded itself", Result{Syscall: SyscallFinit, Waited: true}, nil, "ok", "waited"},
		{"waited for another load", Result{Waited: true, Skipped: SkipLive}, nil, "", SkipLive},
		{"live", Result{Skipped: SkipLive}, nil, "", "live"},
		{"builtin", Result{Skipped: SkipBuiltin}, nil, "", "builtin"},
		{"install command", Result{Install: true}, nil, "", "install"},
		{"syscall failed", Result{Syscall: SyscallFinit}, finitFailed(unix.ENOMEM), "ENOMEM", "failed"},
		{"init returned EEXIST itself", Result{Syscall: SyscallFinit}, finitFailed(unix.EEXIST), "EEXIST", "failed"},
		{"errno without a name", Result{Syscall: SyscallInit}, unix.Errno(4095), "errno 4095", "failed"},
		{"failure without an errno", Result{Syscall: SyscallInit}, fmt.Errorf("worker said no"), "error", "failed"},
		{
			// A worker that reports only the error: the syscall
			// shows in the error's Op.
			"syscall failure without its Result", Result{},
			&ModuleError{Module: "m", Op: SyscallInit, Err: unix.ENODEV}, "ENODEV", "failed",
		},
		{"failed before the syscall", Result{}, &ModuleError{Module: "m", Op: "open", Err: unix.ENOENT}, "", "failed"},
		{"install failed", Result{Install: true}, &ModuleError{Module: "m", Op: "install", Err: ErrInstallFailed}, "", "failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := [2]string{tt.r.SyscallOutcome(tt.err), tt.r.Outcome(tt.err)}
			if d := cmp.Diff([2]string{tt.syscall, tt.outcome}, got); d != "" {
				t.Errorf("[SyscallOutcome, Outcome] (-want +got):\n%s", d)
			}
		})
	}
}
