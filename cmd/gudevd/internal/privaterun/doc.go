// Package privaterun lets a test drive the real udevadm against gudevd:
// udevadm's paths are fixed (/run/udev/control, /run/udev/queue,
// /run/udev/data), so the test runs again, in the same test binary, under
// unshare(1) in a mount namespace of its own with a tmpfs on /run, where
// those paths are the test's and the machine's /run is untouched. It is
// for tests only.
//
// It must not import modalias, modload, rules, workers or cmd/gudevd/internal/daemon.
package privaterun
