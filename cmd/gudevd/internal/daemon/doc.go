// Package daemon is gudevd's event loop: it receives uevents (uevent.Conn),
// orders them in a uevent.Queue, dispatches at most Children at once
// through the per-event pipeline, and owns settle, the resync after a
// receive buffer overflow, coldplug (trigger or sysfs scan), reload on SIGHUP
// or `gudevd control --reload`, the control socket's requests and the order
// of shutdown: events, then module work, then the workers, then the control
// socket. Every goroutine it starts is waited for before Run returns.
//
// The pipeline (pipeline.go) runs each event in the order systemd-udevd's
// worker does: rules, then the device node and database, then the
// broadcast. Until the rules engine lands, its rules stage is what
// 80-drivers.rules does: the MODALIAS of an add event goes to package
// modules, which loads each module once.
//
// It must not import modalias or modload directly: module names, plans and
// loads go through cmd/gudevd/internal/modules.
package daemon
