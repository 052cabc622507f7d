package devdb

import "golang.org/x/sys/unix"

// Now is the time as USEC_INITIALIZED (I:) records it: CLOCK_MONOTONIC in
// microseconds, as udevd's now(CLOCK_MONOTONIC); 0 if the clock cannot be
// read, which a writer takes for "not initialized".
func Now() uint64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return uint64(ts.Nano() / 1000)
}
