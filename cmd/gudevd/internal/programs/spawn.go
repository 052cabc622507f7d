package programs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Job is one program to run, as the daemon sends it to a worker.
type Job struct {
	Argv []string `json:"argv"` // argv[0] absolute: the rules engine resolved it
	Env  []string `json:"env"`  // the whole environment, KEY=VALUE
	// Timeout is how long the program may run; udevd counts it from the
	// event's birth, so the caller passes what is left.
	Timeout time.Duration `json:"timeout"`
	// Limit is how much of standard output to keep. udevd's buffers are
	// UDEV_LINE_SIZE (16384) bytes with room for a NUL.
	Limit int `json:"limit"`
}

// Reply is what became of a Job.
type Reply struct {
	Stdout []byte `json:"stdout"`
	// Truncated says standard output was longer than Limit. udevd stops
	// reading there; a worker reads on and drops the rest, so a program
	// that floods and then exits still completes its event.
	Truncated bool `json:"truncated,omitempty"`
	// Stderr is the program's standard error, up to Limit, for the log.
	Stderr []byte `json:"stderr,omitempty"`
	// Exit is the exit status; -1 when a signal ended the program.
	Exit     int    `json:"exit"`
	Signal   string `json:"signal,omitempty"`
	TimedOut bool   `json:"timed_out,omitempty"`
	// Error is why the program could not be run at all (no such file).
	Error string `json:"error,omitempty"`
}

// Handle is the worker side: it decodes a Job, runs it and encodes the
// Reply. A program's failure is in the Reply, not an error: the worker's
// error channel is for jobs it could not understand.
func Handle(ctx context.Context, job []byte) ([]byte, error) {
	var j Job
	if err := json.Unmarshal(job, &j); err != nil {
		return nil, fmt.Errorf("decode program job: %w", err)
	}
	if len(j.Argv) == 0 || !strings.HasPrefix(j.Argv[0], "/") {
		return nil, fmt.Errorf("program job %q: %w", j.Argv, ErrBadCommand)
	}
	return json.Marshal(spawn(ctx, j))
}

// ErrBadCommand is a job whose command is empty or not absolute.
var ErrBadCommand = errors.New("command empty or not an absolute path")

// spawn runs one program to its end or its timeout.
func spawn(ctx context.Context, j Job) Reply {
	if j.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, j.Timeout)
		defer cancel()
	}
	cmd := exec.Command(j.Argv[0], j.Argv[1:]...)
	cmd.Env = j.Env
	if cmd.Env == nil {
		cmd.Env = []string{} // nil would mean the worker's own environment
	}
	stdout := &capped{limit: j.Limit}
	stderr := &capped{limit: j.Limit}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// Its own process group, so that the kill at the timeout reaches what
	// it started too (a shell's children would hold the pipes open).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return Reply{Exit: -1, Error: err.Error()}
	}
	done := make(chan struct{})
	timedOut := make(chan bool, 1)
	go func() {
		select {
		case <-ctx.Done():
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			timedOut <- true
		case <-done:
			timedOut <- false
		}
	}()
	err := cmd.Wait()
	close(done)
	r := Reply{Stdout: stdout.buf.Bytes(), Truncated: stdout.truncated(), Stderr: stderr.buf.Bytes(), TimedOut: <-timedOut}
	exitStatus(&r, cmd, err)
	return r
}

// exitStatus fills in how the program ended.
func exitStatus(r *Reply, cmd *exec.Cmd, err error) {
	r.Exit = -1
	if ps := cmd.ProcessState; ps != nil {
		if st, ok := ps.Sys().(syscall.WaitStatus); ok && st.Signaled() {
			r.Signal = st.Signal().String()
		} else {
			r.Exit = ps.ExitCode()
		}
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) && !errors.Is(err, exec.ErrWaitDelay) {
		r.Error = err.Error()
	}
}

// capped keeps the first limit bytes written to it and counts them all.
type capped struct {
	limit int
	buf   bytes.Buffer
	total int
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.limit - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(room, len(p))])
	}
	c.total += len(p)
	return len(p), nil
}

func (c *capped) truncated() bool { return c.total > c.limit }
