// Package workers owns the bounded, crash-isolated pool of worker processes
// and the shared in-flight and done state that makes every key run once:
// the first request for a key starts the work, every later request for it,
// while it runs or after it finished, shares that one result.
//
// It knows nothing of modules or devices: jobs are opaque bytes and keys are
// strings.
//
// It must not import uevent, modalias, modload or rules.
package workers
