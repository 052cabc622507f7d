// Package programs runs the programs of udev rules (PROGRAM, IMPORT{program}
// and, in the daemon, RUN) as systemd-udevd 252's workers spawn them
// (udev-event.c, udev_event_spawn): stdin from /dev/null, the device's
// properties as the whole environment, standard output kept up to a limit,
// standard error logged, killed with SIGKILL when the event's time is up.
// Each program runs from a worker process of a bounded workers.Pool, so a
// program that hangs or floods its output costs one worker, not the daemon,
// and no more run at once than the pool allows.
//
// It must not import modalias, modload, uevent, cmd/gudevd/internal/daemon
// or cmd/gudevd/internal/modules: it knows programs, not devices or modules.
package programs
