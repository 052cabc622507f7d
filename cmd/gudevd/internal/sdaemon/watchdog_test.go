package sdaemon

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gudevd/gudevd/cmd/gudevd/internal/sdaemon/sdaemontest"
)

func TestWatchdogInterval(t *testing.T) {
	self := strconv.Itoa(os.Getpid())
	for _, tt := range []struct {
		name      string
		usec, pid *string
		want      time.Duration
		wantOK    bool
	}{
		{name: "three minutes", usec: ptr("180000000"), pid: &self, want: 3 * time.Minute, wantOK: true},
		{name: "no pid", usec: ptr("1000"), want: time.Millisecond, wantOK: true},
		{name: "unset"},
		{name: "another process's", usec: ptr("1000"), pid: ptr("1")},
		{name: "zero", usec: ptr("0"), pid: &self},
		{name: "infinity", usec: ptr("18446744073709551615"), pid: &self},
		{name: "garbage", usec: ptr("3min"), pid: &self},
		{name: "bad pid", usec: ptr("1000"), pid: ptr("x")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range map[string]*string{watchdogUSecEnv: tt.usec, watchdogPIDEnv: tt.pid} {
				t.Setenv(k, "")
				if v == nil {
					os.Unsetenv(k)
				} else {
					os.Setenv(k, *v)
				}
			}
			got, ok := WatchdogInterval()
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("WatchdogInterval = %v, %v; want %v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

// TestWatchdogPings: WATCHDOG=1 at once and every half interval while
// alive, none while not, and none once the context is done and Watchdog has
// returned to its owner.
func TestWatchdogPings(t *testing.T) {
	addr := filepath.Join(t.TempDir(), "notify")
	c := sdaemontest.ListenNotify(t, addr)
	var alive atomic.Bool
	alive.Store(true)
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { NewNotifier(nil, addr).Watchdog(ctx, 100*time.Millisecond, alive.Load) })
	defer wg.Wait()
	defer cancel()

	start := time.Now()
	got, err := c.Receive(3, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range got {
		if s != StateWatchdog {
			t.Errorf("datagram %q, want %q", s, StateWatchdog)
		}
	}
	// At once, +50 ms, +100 ms: well under the 100 ms interval per ping.
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("3 pings took %v, want about 100ms", d)
	}

	alive.Store(false)
	c.Drain(60 * time.Millisecond) // a ping may have been sent before the Store
	if got, err := c.Receive(1, 250*time.Millisecond); err == nil {
		t.Errorf("ping %q while not alive", got)
	}

	alive.Store(true)
	cancel()
	wg.Wait()
	c.Drain(60 * time.Millisecond)
	if got, err := c.Receive(1, 150*time.Millisecond); err == nil {
		t.Errorf("ping %q after Watchdog returned", got)
	}
}

func TestWatchdogDisabled(t *testing.T) {
	for _, tt := range []struct {
		name     string
		addr     string
		interval time.Duration
	}{
		{"no socket", "", time.Second},
		{"no interval", "/nonexistent/notify", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan struct{})
			go func() {
				defer close(done)
				NewNotifier(nil, tt.addr).Watchdog(t.Context(), tt.interval, nil)
			}()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Watchdog did not return at once")
			}
		})
	}
}
