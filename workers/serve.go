package workers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// A Handler does one job in a worker process and returns its result. Its
// error crosses to the daemon as a *JobError carrying the message and the
// syscall.Errno the error wraps, if any.
type Handler func(ctx context.Context, job []byte) ([]byte, error)

// WorkerFD is the descriptor on which a worker process finds its end of the
// pool's socket: the pool passes it as the command's first extra file.
const WorkerFD = 3

// WorkerConn returns the worker's end of the pool's socket, WorkerFD, for
// Serve to read jobs from and write replies to. It marks the descriptor
// close-on-exec, since the child end arrives without it and a handler that
// runs a program (an install command) must not leak the daemon's channel
// to it.
func WorkerConn() (*os.File, error) {
	var st unix.Stat_t
	if err := unix.Fstat(WorkerFD, &st); err != nil {
		return nil, fmt.Errorf("stat worker descriptor %d: %w", WorkerFD, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return nil, fmt.Errorf("check worker descriptor %d: not a socket (mode %#o): %w", WorkerFD, st.Mode, unix.ENOTSOCK)
	}
	unix.CloseOnExec(WorkerFD)
	// Non-blocking, so that os.File uses the poller and Serve can interrupt
	// a blocked read when its ctx ends.
	if err := unix.SetNonblock(WorkerFD, true); err != nil {
		return nil, fmt.Errorf("set worker descriptor %d non-blocking: %w", WorkerFD, err)
	}
	return os.NewFile(WorkerFD, "gudevd-worker"), nil
}

// Serve is the worker side of the protocol: it reads one job at a time from
// r, runs h on it and writes the reply to w, until r ends (the daemon closed
// its end, or is gone: Serve returns nil) or ctx ends (Serve returns
// ctx.Err()). A read blocked on r is interrupted by ctx only if r has
// SetReadDeadline, as the *os.File from WorkerConn has.
//
// A panic in h is not recovered: it kills the worker process. That is the
// point of running handlers in processes: the daemon sees the exit status,
// answers that job with a *WorkerDiedError and starts a fresh worker,
// instead of reusing a process whose state the panic left unknown.
func Serve(ctx context.Context, r io.Reader, w io.Writer, h Handler) error {
	if d, ok := r.(interface{ SetReadDeadline(time.Time) error }); ok {
		stop := context.AfterFunc(ctx, func() { d.SetReadDeadline(time.Now()) })
		defer stop()
	}
	for {
		f, err := readFrame(r)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read job: %w", err)
		}
		if f.kind != kindJob {
			return fmt.Errorf("read job %d: got %v frame: %w", f.id, f.kind, errBadFrame)
		}
		if err := writeFrame(w, serveOne(ctx, f, h)); err != nil {
			return fmt.Errorf("write reply to job %d: %w", f.id, err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// serveOne runs h on one job and builds its reply.
func serveOne(ctx context.Context, f frame, h Handler) frame {
	val, err := h(ctx, f.payload)
	if err != nil {
		return jobErrorFrame(f.id, err)
	}
	if len(val) > MaxPayload {
		return jobErrorFrame(f.id, fmt.Errorf("reply to job %d with %d bytes: %w", f.id, len(val), ErrFrameTooLarge))
	}
	return frame{kind: kindResult, id: f.id, payload: val}
}
