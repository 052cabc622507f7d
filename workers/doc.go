// Package workers owns the bounded, crash-isolated pool of worker processes
// and the shared in-flight and done state that makes every key run once:
// the first request for a key starts the work, every later request for it,
// while it runs or after it finished, shares that one result.
//
// It knows nothing of modules or devices: jobs are opaque bytes and keys are
// strings.
//
// It must not import uevent, modalias, modload or rules.
//
// # Exactly once: Group
//
// A Group maps a key to one run of a function. Do starts the run for the
// first request and shares its result with every later one, whether it is
// still running (JoinedInFlight) or finished (ServedFromDone). The run gets
// a context owned by the Group, not by the request that started it: a caller
// that gives up stops waiting, and the run goes on for the others. Unlike
// x/sync/singleflight, which forgets a key when its call returns, a Group
// remembers results: on a machine with hundreds of CPUs the duplicate
// requests for a module keep arriving long after its first load finished,
// and each one must not become another load.
//
// Failure policy. Results, successes and failures alike, stay cached: a
// module that failed to load fails the same way for every later device until
// something changes. Three things change it:
//
//   - Forget(key): the key's result is dropped (the module was removed, so
//     the next request loads it again).
//   - ForgetFailed(): every failure is dropped (the module index changed, so
//     a module that was missing may now exist).
//   - Retry(ctx, key, fn): an explicit retry, as `gudevd load` run by hand
//     does: a failed result is dropped before the request.
//
// None of them touches a run in flight: two concurrent runs of one key are
// never allowed, so a request that comes while a run is in flight always
// shares it. Counters (requests, runs started, joined in flight, served from
// done, failures) are kept in total and per key.
//
// # Crash isolation: Pool
//
// A Pool runs jobs on long-lived worker processes, the daemon's binary run
// again as `gudevd worker`, at most Config.Max at once. Workers are started
// when a job finds none idle and kept for later jobs. Each one talks to the
// daemon over its own socketpair, passed as descriptor WorkerFD, in frames:
// a uint32 length, a kind, the job id and a payload (see frame.go). A reply
// carries the job's id, so a reply that belongs to another job is caught.
// A handler's error crosses as its message and its syscall.Errno, and comes
// out of Pool.Run as a *JobError that errors.Is matches against that errno.
//
// A worker that dies mid-job, by panic (Serve does not recover: the process
// dies and the daemon reports its exit status), exit, signal, OOM kill or
// garbage on its socket, fails that one job with a *WorkerDiedError that
// matches ErrWorkerDied and carries the exit status; the next job starts a
// replacement. A job that overruns Config.Timeout gets its worker killed
// with SIGKILL and abandoned: a process in finit_module sleeps
// uninterruptibly and cannot be reaped until the syscall returns, so the
// pool waits for it in a reaper goroutine, never in the job's path, and the
// abandoned worker holds none of the Max slots. The job fails with
// ErrTimeout, which matches ETIMEDOUT. Jobs are never retried by the pool:
// whether a failed load is worth another try is the caller's decision.
package workers
