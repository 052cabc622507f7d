package workers

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// errnoError is a sentinel error that wraps its errno, so a caller can test
// either errors.Is(err, ErrTimeout) or errors.Is(err, unix.ETIMEDOUT), and a
// handler's error that wraps one crosses to the daemon with its errno.
type errnoError struct {
	msg   string
	errno syscall.Errno
}

func (e *errnoError) Error() string { return e.msg }

func (e *errnoError) Unwrap() error { return e.errno }

var (
	// ErrTimeout reports a job that overran Config.Timeout. Its worker was
	// killed and abandoned. It matches ETIMEDOUT.
	ErrTimeout error = &errnoError{msg: "job timed out", errno: syscall.ETIMEDOUT}

	// ErrClosed reports a Run on a closing or closed Pool, or a Do that would
	// start work on a closed Group. It matches ESHUTDOWN.
	ErrClosed error = &errnoError{msg: "closed", errno: syscall.ESHUTDOWN}

	// ErrWorkerDied reports a job whose worker exited, was killed, or broke
	// the protocol before replying. The error returned by Pool.Run is a
	// *WorkerDiedError that matches it.
	ErrWorkerDied = errors.New("worker died")
)

// WorkerDiedError is the error for a job whose worker died mid-job: the
// request is answered with it, never lost, and the worker is replaced.
type WorkerDiedError struct {
	Pid int
	// Reason is what the pool saw: the stream ended, the reply was
	// garbled, or it belonged to another job.
	Reason string
	// State is the worker's exit status, or nil if the worker had not been
	// reaped when the pool gave up waiting for it.
	State *os.ProcessState
	// Reaped is closed once the worker has been reaped. A worker killed
	// inside a syscall (finit_module) dies only when the syscall returns,
	// so whoever retries its job waits for this first.
	Reaped <-chan struct{}
}

func (e *WorkerDiedError) Error() string {
	status := "exit status unknown"
	if e.State != nil {
		status = e.State.String()
	}
	return fmt.Sprintf("worker %d died: %s (%s)", e.Pid, e.Reason, status)
}

// Is makes every WorkerDiedError match ErrWorkerDied.
func (e *WorkerDiedError) Is(target error) bool { return target == ErrWorkerDied }

// Signal returns the signal that killed the worker, if one did.
func (e *WorkerDiedError) Signal() (syscall.Signal, bool) {
	if e.State == nil {
		return 0, false
	}
	ws, ok := e.State.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() {
		return 0, false
	}
	return ws.Signal(), true
}

// JobError is a handler's error carried back from the worker: its message
// and, if the handler's error wrapped a syscall.Errno, that errno, so that
// errors.Is(err, unix.EEXIST) holds in the daemon exactly when it held in the
// worker.
type JobError struct {
	Msg   string
	Errno syscall.Errno // 0 if the handler's error carried none
}

func (e *JobError) Error() string { return e.Msg }

// Unwrap returns the errno, so errors.Is matches it and everything it
// matches (EEXIST also matches fs.ErrExist).
func (e *JobError) Unwrap() error {
	if e.Errno == 0 {
		return nil
	}
	return e.Errno
}

// jobErrorFrame encodes a handler's error for the wire.
func jobErrorFrame(id uint64, err error) frame {
	f := frame{kind: kindError, id: id, payload: []byte(err.Error())}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		f.errno = errno
	}
	if len(f.payload) > MaxPayload-errnoSize {
		f.payload = f.payload[:MaxPayload-errnoSize]
	}
	return f
}

// TimeoutError is the error for a job that overran Config.Timeout. It
// matches ErrTimeout (and so ETIMEDOUT). Its worker was killed and
// abandoned; Reaped closes once the process is gone. A process in
// finit_module is gone only when the syscall has returned, so a caller that
// retries the job after Reaped cannot race the kernel's work on the first.
type TimeoutError struct {
	Job     uint64
	Pid     int
	Timeout time.Duration
	Reaped  <-chan struct{}
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("run job %d on worker %d for %v: %v", e.Job, e.Pid, e.Timeout, ErrTimeout)
}

func (e *TimeoutError) Unwrap() error { return ErrTimeout }
