package sdaemon

import (
	"context"
	"os"
	"strconv"
	"time"
)

// The variables systemd sets for a unit with WatchdogSec= (sd_watchdog_enabled(3)).
const (
	watchdogUSecEnv = "WATCHDOG_USEC"
	watchdogPIDEnv  = "WATCHDOG_PID"
)

// WatchdogInterval returns the unit's WatchdogSec= as systemd passed it, as
// sd_watchdog_enabled does: WATCHDOG_USEC must be set and neither 0 nor
// infinity, and WATCHDOG_PID, when set, must be this process (a worker that
// inherited the environment is not watched). A malformed value, which
// sd_watchdog_enabled reports as an error, also gives false: systemd does
// not write one. The variables stay set.
func WatchdogInterval() (time.Duration, bool) {
	s, ok := os.LookupEnv(watchdogUSecEnv)
	if !ok {
		return 0, false
	}
	usec, err := strconv.ParseUint(s, 10, 64)
	// timestamp_is_set: 0 and USEC_INFINITY mean no watchdog; beyond what a
	// Duration holds no ping would come in time to matter.
	if err != nil || usec == 0 || usec > uint64(time.Duration(1<<63-1)/time.Microsecond) {
		return 0, false
	}
	if p, ok := os.LookupEnv(watchdogPIDEnv); ok {
		pid, err := strconv.Atoi(p)
		if err != nil || pid != os.Getpid() {
			return 0, false
		}
	}
	return time.Duration(usec) * time.Microsecond, true
}

// Watchdog sends WATCHDOG=1 at once and then every interval/2 until ctx is
// done, skipping every ping for which alive (nil: always alive) reports
// false, so that systemd kills a daemon whose event loop is stuck
// (WatchdogSec= expires, SIGABRT, then Restart=always). sd-event's
// sd_event_set_watchdog pings at once too, then every half to three
// quarters of the interval; half is what sd_watchdog_enabled(3) asks for.
// It blocks: the caller runs it in a goroutine it waits for before exiting.
// It returns at once without a socket or with interval <= 0.
func (n Notifier) Watchdog(ctx context.Context, interval time.Duration, alive func() bool) {
	if !n.Enabled() || interval <= 0 {
		return
	}
	t := time.NewTicker(max(interval/2, 1))
	defer t.Stop()
	for ctx.Err() == nil {
		if alive == nil || alive() {
			n.Send(StateWatchdog)
		}
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
}
