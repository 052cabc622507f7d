package modload

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

func TestStepRoundTrip(t *testing.T) {
	tests := []Step{
		{Name: "kvm_intel", Path: "kernel/arch/x86/kvm/kvm-intel.ko", Options: "nested=1", Deps: []string{"kvm", "irqbypass"}},
		{Name: "virtio_net", Path: "/abs/virtio_net.ko.xz", Pre: []string{"e1000"}, Post: []string{"usbhid"}},
		{Name: "ahci", Install: "/bin/echo $CMDLINE_OPTS", Options: "mobile_lpm_policy=1"},
		{Name: "unix", Builtin: true},
	}
	for _, want := range tests {
		t.Run(want.Name, func(t *testing.T) {
			b, err := MarshalStep(want)
			if err != nil {
				t.Fatal(err)
			}
			got, err := UnmarshalStep(b)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("round trip mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUnmarshalStepErrors(t *testing.T) {
	for _, in := range []string{``, `{`, `[]`, `{}`, `{"name":""}`, `{"name":5}`} {
		if _, err := UnmarshalStep([]byte(in)); err == nil {
			t.Errorf("UnmarshalStep(%q) succeeded", in)
		}
	}
}

// errorTargets are what the daemon asks of a worker's error.
var errorTargets = []error{
	unix.ENOENT, unix.ENOEXEC, unix.EKEYREJECTED, unix.EPERM, unix.ENODEV, unix.EBUSY,
	unix.EINVAL, unix.ELOOP, unix.EEXIST,
	ErrUnknownModule, ErrDependencyCycle, ErrDependencyFailed, ErrNotModule, ErrInstallFailed, ErrBlacklisted, ErrInKernel,
	context.Canceled, context.DeadlineExceeded,
}

func TestResultRoundTrip(t *testing.T) {
	res := Result{Module: "m", Syscall: SyscallFinit, Flags: unix.MODULE_INIT_COMPRESSED_FILE, Compression: "xz",
		Exists: true, Waited: true, BytesRead: 64, Duration: 1500 * time.Microsecond}
	tests := []struct {
		name string
		err  error
	}{
		{"success", nil},
		{"errno", &ModuleError{Module: "m", Path: "/lib/modules/x/m.ko", Op: SyscallFinit, Err: unix.EKEYREJECTED}},
		{"sentinel", &ModuleError{Module: "m", Path: "/m.ko", Op: "check", Err: fmt.Errorf("%w: no ELF magic", ErrNotModule)}},
		{"install timeout", &ModuleError{Module: "m", Op: "install", Err: fmt.Errorf("%w: %q: %w", ErrInstallFailed, "sleep 9", context.DeadlineExceeded)}},
		{"dependency chain", &DependencyError{Module: "a", Dep: "b", Err: &DependencyError{Module: "b", Dep: "c",
			Err: &ModuleError{Module: "c", Op: SyscallInit, Err: unix.ENODEV}}}},
		{"plain errno", unix.EBUSY},
		{"plain error", errors.New("something else")},
		{"wrapped module error", fmt.Errorf("worker 3: %w", &ModuleError{Module: "m", Op: "open", Err: unix.ENOENT})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := MarshalResult(res, tt.err)
			if err != nil {
				t.Fatal(err)
			}
			gotRes, gotErr, err := UnmarshalResult(b)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(res, gotRes); diff != "" {
				t.Errorf("Result mismatch (-want +got):\n%s", diff)
			}
			if (gotErr == nil) != (tt.err == nil) {
				t.Fatalf("error %v, want %v", gotErr, tt.err)
			}
			if tt.err == nil {
				return
			}
			if gotErr.Error() != tt.err.Error() {
				t.Errorf("message %q, want %q", gotErr, tt.err)
			}
			for _, target := range errorTargets {
				if got, want := errors.Is(gotErr, target), errors.Is(tt.err, target); got != want {
					t.Errorf("errors.Is(%v) = %v after the trip, %v before", target, got, want)
				}
			}
			for _, typ := range []struct {
				name string
				as   func(error) bool
			}{
				{"*ModuleError", func(e error) bool { var me *ModuleError; return errors.As(e, &me) }},
				{"*DependencyError", func(e error) bool { var de *DependencyError; return errors.As(e, &de) }},
			} {
				if typ.as(tt.err) && !typ.as(gotErr) {
					t.Errorf("%s lost in the trip: %#v", typ.name, gotErr)
				}
			}
		})
	}
}

func TestUnmarshalResultErrors(t *testing.T) {
	for _, in := range []string{``, `{`, `{"result":5}`, `{"err":{"errno":"x"}}`} {
		if _, _, err := UnmarshalResult([]byte(in)); err == nil {
			t.Errorf("UnmarshalResult(%q) succeeded", in)
		}
	}
}

// FuzzUnmarshalResult: arbitrary bytes never panic, and whatever decodes
// survives a second trip with the same message and errno.
func FuzzUnmarshalResult(f *testing.F) {
	for _, err := range []error{nil, &ModuleError{Module: "m", Op: "open", Err: unix.ENOENT},
		&DependencyError{Module: "a", Dep: "b", Err: &ModuleError{Module: "b", Op: "plan", Err: ErrDependencyCycle}}} {
		b, _ := MarshalResult(Result{Module: "m"}, err)
		f.Add(b)
	}
	f.Add([]byte(`{"err":{"kind":"dependency","cause":{"kind":"dependency"}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, loadErr, err := UnmarshalResult(b)
		if err != nil {
			return
		}
		b2, err := MarshalResult(r, loadErr)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		r2, loadErr2, err := UnmarshalResult(b2)
		if err != nil {
			t.Fatalf("decode re-encoded: %v", err)
		}
		if diff := cmp.Diff(r, r2); diff != "" {
			t.Errorf("Result changed:\n%s", diff)
		}
		if fmt.Sprint(loadErr) != fmt.Sprint(loadErr2) || errnoOf(loadErr) != errnoOf(loadErr2) {
			t.Errorf("error changed: %v (%d) -> %v (%d)", loadErr, errnoOf(loadErr), loadErr2, errnoOf(loadErr2))
		}
	})
}
