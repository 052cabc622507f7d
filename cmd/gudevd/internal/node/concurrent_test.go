package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestConcurrentClaimants runs the events of many disks claiming one link
// at once, as udevd's workers may: whatever the interleaving, the link
// must end at the claimant of the highest priority left. Without the
// stack directory's lock a claimant that read the stack before a higher
// one wrote its entry points the link after it, and the link is wrong.
func TestConcurrentClaimants(t *testing.T) {
	const (
		link   = "/dev/disk/by-label/shared"
		disks  = 8
		rounds = 30
	)
	tests := []struct {
		name   string
		remove func(i int) bool // which disks are removed after the adds
		want   string
	}{
		{"all added", func(int) bool { return false }, "../../sd7"},
		{"all but sd3 removed", func(i int) bool { return i != 3 }, "../../sd3"},
		{"highest removed", func(i int) bool { return i == disks-1 }, "../../sd6"},
		{"all removed", func(int) bool { return true }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for round := range rounds {
				e := newEnv(t)
				devs := make([]Device, disks)
				for i := range devs {
					devs[i] = e.disk(t, fmt.Sprintf("sd%d", i), uint32(16*i))
				}
				parallel(t, disks, func(i int) error {
					return e.n.Update(context.Background(), devs[i], Perms{}, []string{link}, i, nil)
				})
				parallel(t, disks, func(i int) error {
					if !tt.remove(i) {
						return nil
					}
					return e.n.Remove(context.Background(), devs[i], []string{link})
				})
				if got := e.readlink(link); got != tt.want {
					t.Fatalf("round %d: link -> %q, want %q", round, got, tt.want)
				}
				if s := e.n.Stats(); s.LinkFailures != 0 {
					t.Fatalf("round %d: %+v\n%s", round, s, e.log)
				}
			}
		})
	}
}

// parallel runs f(0..n-1) in goroutines released at once and reports
// their errors.
func parallel(t *testing.T, n int, f func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = f(i)
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

// TestForeignLock: another udev-compatible process holding the stack
// directory's flock (udevd, udevadm) holds Update back until it lets go,
// and a cancelled ctx ends the wait.
func TestForeignLock(t *testing.T) {
	const link = "/dev/disk/by-id/x"
	e := newEnv(t)
	sda := e.disk(t, "sda", 0)
	dir, err := e.n.stackDir(link)
	if err != nil {
		t.Fatal(err)
	}
	dirfd, err := openStack(e.links, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dirfd)
	lockfd, err := unix.Openat(dirfd, ".lock", unix.O_CLOEXEC|unix.O_RDONLY|unix.O_CREAT, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(lockfd)
	if err := unix.Flock(lockfd, unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := e.n.Update(ctx, sda, Perms{}, []string{link}, 0, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Update under a foreign lock: %v, want context.DeadlineExceeded", err)
	}
	if got := e.readlink(link); got != "" {
		t.Errorf("link made under a foreign lock: -> %q", got)
	}

	done := make(chan error, 1)
	go func() { done <- e.n.Update(context.Background(), sda, Perms{}, []string{link}, 0, nil) }()
	select {
	case err := <-done:
		t.Fatalf("Update returned under a foreign lock: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	if err := unix.Flock(lockfd, unix.LOCK_UN); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Update: %v", err)
	}
	if got := e.readlink(link); got != "../../sda" {
		t.Errorf("link -> %q, want ../../sda", got)
	}
}
