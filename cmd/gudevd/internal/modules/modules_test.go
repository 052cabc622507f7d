package modules

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gudevd/gudevd/workers"
	"golang.org/x/sys/unix"
)

// TestWaitReaped: a retry after a timeout waits for the killed worker, whose
// syscall may still be in the kernel, to be gone.
func TestWaitReaped(t *testing.T) {
	reaped := make(chan struct{})
	te := fmt.Errorf("load module kvm: %w", &workers.TimeoutError{Pid: 42, Reaped: reaped})
	done := make(chan error, 1)
	go func() { done <- waitReaped(context.Background(), te) }()
	select {
	case err := <-done:
		t.Fatalf("waitReaped returned %v before the worker was reaped", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(reaped)
	if err := <-done; err != nil {
		t.Errorf("waitReaped after the reap = %v, want nil", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := waitReaped(ctx, fmt.Errorf("x: %w", &workers.TimeoutError{Reaped: make(chan struct{})})); err == nil {
		t.Error("waitReaped with an ended context and a live worker = nil, want the timeout error")
	}
	if err := waitReaped(ctx, unix.ENOMEM); err != nil {
		t.Errorf("waitReaped(ENOMEM) = %v, want nil: only timeouts and dead workers wait", err)
	}
	died := fmt.Errorf("load module kvm: %w", &workers.WorkerDiedError{Pid: 43, Reaped: make(chan struct{})})
	if err := waitReaped(ctx, died); err == nil {
		t.Error("waitReaped with an ended context and a dead worker not yet reaped = nil, want the error")
	}
}

// TestKilledWorker: only a worker killed from outside (SIGKILL), or one
// whose end is not known yet, makes its load worth retrying.
func TestKilledWorker(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{name: "not reaped in time", err: &workers.WorkerDiedError{Pid: 1}, want: true},
		{name: "ENOMEM", err: unix.ENOMEM, want: false},
		{name: "timeout", err: workers.ErrTimeout, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := killedWorker(fmt.Errorf("load module kvm: %w", tt.err)); got != tt.want {
				t.Errorf("killedWorker(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
