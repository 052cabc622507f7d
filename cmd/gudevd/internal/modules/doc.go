// Package modules turns module names and MODALIAS strings into exactly one
// load each. It owns the catalog (the module index of package modalias and
// the planner of package modload, with a cache of one plan per distinct
// MODALIAS), the workers.Group that makes every module a key loaded once
// for the daemon's lifetime, the pool of worker processes that run the
// loads, the retry policy for transient failures (ENOMEM, EAGAIN, a worker
// timeout, retried only once the killed worker is reaped) and the module
// statistics `gudevd stats` reports. It also serves the worker process
// (ServeWorker) and the daemon-less direct load of `gudevd modprobe`.
//
// It must not import uevent, rules, cmd/gudevd/internal/daemon or
// cmd/gudevd/internal/control: it knows modules, not devices or the daemon's
// protocol.
package modules
