package workers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// newTestPool starts a pool of test workers; the test's cleanup closes it
// and checks that it left no worker process behind.
func newTestPool(t *testing.T, cfg Config) *Pool {
	t.Helper()
	if cfg.Start == nil {
		cfg.Start, _ = testStart(t)
	}
	p, err := NewPool(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.Close(ctx); err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("Close: %v", err)
		}
		if s := p.Stats(); s.Processes != 0 {
			t.Errorf("after Close, %d worker processes are not reaped", s.Processes)
		}
	})
	return p
}

func runPid(t *testing.T, p *Pool) int {
	t.Helper()
	out, err := p.Run(context.Background(), []byte("pid"))
	if err != nil {
		t.Fatalf("Run(pid): %v", err)
	}
	pid, err := strconv.Atoi(string(out))
	if err != nil {
		t.Fatalf("Run(pid) = %q: %v", out, err)
	}
	return pid
}

// alive reports whether pid exists, reaped or not.
func alive(pid int) bool {
	return unix.Kill(pid, 0) != unix.ESRCH
}

func TestPoolRun(t *testing.T) {
	p := newTestPool(t, Config{Max: 2})
	big := strings.Repeat("x", 200_000)
	tests := []struct {
		name  string
		job   string
		want  string
		errno syscall.Errno // if the job fails, with a *JobError carrying it
		is    error         // and matching this too
	}{
		{name: "echo", job: "echo hello", want: "hello"},
		{name: "empty result", job: "echo", want: ""},
		{name: "large result", job: "echo " + big, want: big},
		{name: "error with errno", job: "errno 17 module exists", errno: syscall.EEXIST, is: fs.ErrExist},
		{name: "error with ENOENT", job: "errno 2 no such module", errno: syscall.ENOENT, is: fs.ErrNotExist},
		{name: "error without errno", job: "nonsense", is: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := p.Run(context.Background(), []byte(tt.job))
			wantErr := tt.errno != 0 || tt.name == "error without errno"
			if !wantErr {
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
				if diff := cmp.Diff(tt.want, string(out)); diff != "" {
					t.Errorf("Run result (-want +got):\n%s", diff)
				}
				return
			}
			var je *JobError
			if !errors.As(err, &je) {
				t.Fatalf("Run error %v (%T), want a *JobError", err, err)
			}
			if je.Errno != tt.errno {
				t.Errorf("JobError.Errno = %v, want %v", je.Errno, tt.errno)
			}
			if tt.errno != 0 && !errors.Is(err, tt.errno) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.errno)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
			}
		})
	}
	s := p.Stats()
	if s.Jobs != uint64(len(tests)) || s.Died != 0 || s.Spawned == 0 || s.Spawned > 2 {
		t.Errorf("Stats = %+v, want %d jobs, none died, 1 or 2 workers spawned", s, len(tests))
	}
}

func TestPoolRunRejectsOversizeJob(t *testing.T) {
	p := newTestPool(t, Config{Max: 1})
	_, err := p.Run(context.Background(), make([]byte, MaxPayload+1))
	if !errors.Is(err, ErrFrameTooLarge) || !errors.Is(err, unix.EMSGSIZE) {
		t.Errorf("Run(oversize job) = %v, want ErrFrameTooLarge matching EMSGSIZE", err)
	}
	if s := p.Stats(); s.Spawned != 0 {
		t.Errorf("an oversize job started %d workers", s.Spawned)
	}
}

func TestPoolWorkerDies(t *testing.T) {
	tests := []struct {
		job    string
		reason string         // in WorkerDiedError.Reason
		exit   int            // exit code, if it exited
		signal syscall.Signal // or the signal that killed it
		stderr string         // in the worker's stderr
	}{
		// A panic is not recovered: the Go runtime prints it and exits 2.
		{job: "panic", reason: "EOF", exit: 2, stderr: "test handler panics"},
		{job: "exit 3", reason: "EOF", exit: 3},
		{job: "sigkill", reason: "EOF", signal: syscall.SIGKILL},
		// Garbage and foreign replies come from a live worker: the pool
		// kills it.
		{job: "garbage", reason: "frame too large", signal: syscall.SIGKILL},
		{job: "foreign", reason: "replied to job 1152921504606846976", signal: syscall.SIGKILL},
	}
	for _, tt := range tests {
		t.Run(tt.job, func(t *testing.T) {
			start, stderr := testStart(t)
			p := newTestPool(t, Config{Max: 1, Start: start})
			before := runPid(t, p)

			_, err := p.Run(context.Background(), []byte(tt.job))
			var died *WorkerDiedError
			if !errors.As(err, &died) || !errors.Is(err, ErrWorkerDied) {
				t.Fatalf("Run(%s) = %v, want a *WorkerDiedError matching ErrWorkerDied", tt.job, err)
			}
			if died.Pid != before {
				t.Errorf("died.Pid = %d, want the worker's pid %d", died.Pid, before)
			}
			if !strings.Contains(died.Reason, tt.reason) {
				t.Errorf("died.Reason = %q, want it to contain %q", died.Reason, tt.reason)
			}
			if died.State == nil {
				t.Fatalf("died.State = nil, want the exit status")
			}
			select {
			case <-died.Reaped:
			default:
				t.Errorf("died.Reaped is open though the worker was reaped (%v): a retry would wait for ever", died.State)
			}
			sig, signaled := died.Signal()
			if tt.signal != 0 && (!signaled || sig != tt.signal) {
				t.Errorf("worker ended with %v, want signal %v", died.State, tt.signal)
			}
			if tt.signal == 0 && (signaled || died.State.ExitCode() != tt.exit) {
				t.Errorf("worker ended with %v, want exit status %d", died.State, tt.exit)
			}
			if tt.stderr != "" {
				b, _ := os.ReadFile(stderr)
				if !bytes.Contains(b, []byte(tt.stderr)) {
					t.Errorf("worker stderr %q does not contain %q", b, tt.stderr)
				}
			}

			// The job was answered; the next one gets a new worker.
			after := runPid(t, p)
			if after == before {
				t.Errorf("the job after the death ran on the dead worker %d", before)
			}
			if alive(before) {
				t.Errorf("dead worker %d was not reaped", before)
			}
			s := p.Stats()
			want := PoolStats{Max: 1, Workers: 1, Idle: 1, Processes: 1, Spawned: 2, Jobs: 3, Failed: 1, Died: 1}
			if diff := cmp.Diff(want, s); diff != "" {
				t.Errorf("Stats (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPoolIdleWorkerDies(t *testing.T) {
	p := newTestPool(t, Config{Max: 1})
	before := runPid(t, p)
	if err := syscall.Kill(before, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the idle worker to be reaped", func() bool { return p.Stats().Workers == 0 })
	after := runPid(t, p)
	if after == before {
		t.Errorf("job ran on the killed worker %d", before)
	}
	if s := p.Stats(); s.Died != 0 || s.Failed != 0 {
		t.Errorf("Stats = %+v: a worker that died idle failed a job", s)
	}
	if s := p.Stats(); s.IdleDied != 1 {
		t.Errorf("Stats.IdleDied = %d, want 1: the idle death went uncounted", s.IdleDied)
	}
}

// TestPoolTimeoutAbandons models a worker stuck in the kernel: SIGKILL is
// recorded but not delivered, as for a process in uninterruptible sleep, so
// the hung worker stays alive and unreaped while the pool goes on.
func TestPoolTimeoutAbandons(t *testing.T) {
	const max = 2
	var log syncBuffer
	p := newTestPool(t, Config{
		Max:     max,
		Timeout: 1500 * time.Millisecond,
		Logger:  slog.New(slog.NewTextHandler(&log, nil)),
	})
	var mu sync.Mutex
	var stuck int    // the pid that SIGKILL cannot end yet
	var killed []int // pids the pool sent SIGKILL
	p.signal = func(proc *os.Process, sig os.Signal) error {
		mu.Lock()
		defer mu.Unlock()
		if sig == syscall.SIGKILL {
			killed = append(killed, proc.Pid)
		}
		if proc.Pid == stuck {
			return nil
		}
		return proc.Signal(sig)
	}
	hung := runPid(t, p)
	mu.Lock()
	stuck = hung
	mu.Unlock()

	_, err := p.Run(context.Background(), []byte("hang"))
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, unix.ETIMEDOUT) {
		t.Fatalf("Run(hang) = %v, want ErrTimeout matching ETIMEDOUT", err)
	}
	mu.Lock()
	if diff := cmp.Diff([]int{hung}, killed); diff != "" {
		t.Errorf("pids sent SIGKILL (-want +got):\n%s", diff)
	}
	mu.Unlock()
	if !alive(hung) {
		t.Fatalf("hung worker %d is gone: the test no longer models a stuck process", hung)
	}
	if s := p.Stats(); s.Abandoned != 1 || s.TimedOut != 1 || s.Workers != 0 || s.Running != 0 {
		t.Errorf("after the timeout, Stats = %+v, want 1 abandoned, 1 timed out, no live worker, no slot held", s)
	}
	if !strings.Contains(log.String(), "job timed out") {
		t.Errorf("log %q does not report the timeout", log.String())
	}

	// The abandoned worker holds no slot: max jobs still run at once.
	dir := t.TempDir()
	var wg sync.WaitGroup
	seen := make([]string, max)
	errs := make([]error, max)
	for i := range max {
		wg.Go(func() {
			out, err := p.Run(context.Background(), []byte("conc "+dir+" 300ms"))
			seen[i], errs[i] = string(out), err
		})
	}
	wg.Wait()
	for i := range max {
		if errs[i] != nil {
			t.Errorf("job %d while a worker is abandoned: %v", i, errs[i])
		}
	}
	if !alive(hung) {
		t.Errorf("hung worker %d was reaped before the %d jobs ran: the test proved nothing", hung, max)
	}
	if seen[0] != strconv.Itoa(max) && seen[1] != strconv.Itoa(max) {
		t.Errorf("jobs running at once, as each job saw = %q, want one to see %d", seen, max)
	}

	// Close cannot reap the stuck worker: it gives up with its ctx.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := p.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close with a stuck worker = %v, want context.DeadlineExceeded", err)
	}
	// The syscall returns at last: the reaper collects the worker.
	syscall.Kill(hung, syscall.SIGKILL)
	waitFor(t, "the abandoned worker to be reaped", func() bool { return p.Stats().Processes == 0 })
	if alive(hung) {
		t.Errorf("abandoned worker %d is still there after its reaper ran", hung)
	}
}

func TestPoolTimeoutKillsWorker(t *testing.T) {
	p := newTestPool(t, Config{Max: 1, Timeout: 300 * time.Millisecond})
	hung := runPid(t, p)
	_, err := p.Run(context.Background(), []byte("hang"))
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Run(hang) = %v, want ErrTimeout", err)
	}
	var te *TimeoutError
	if !errors.As(err, &te) || te.Pid != hung {
		t.Fatalf("Run(hang) = %#v, want a *TimeoutError naming worker %d", err, hung)
	}
	select {
	case <-te.Reaped:
	case <-time.After(10 * time.Second):
		t.Fatal("TimeoutError.Reaped did not close after the killed worker exited")
	}
	if alive(hung) {
		t.Errorf("worker %d is alive after Reaped closed", hung)
	}
	if next := runPid(t, p); next == hung {
		t.Errorf("job after the timeout ran on the killed worker %d", hung)
	}
}

func TestPoolConcurrencyBounded(t *testing.T) {
	const max, jobs = 3, 12
	p := newTestPool(t, Config{Max: max})
	dir := t.TempDir()
	var wg sync.WaitGroup
	seen := make([]int, jobs)
	for i := range jobs {
		wg.Go(func() {
			out, err := p.Run(context.Background(), []byte("conc "+dir+" 100ms"))
			if err != nil {
				t.Errorf("job %d: %v", i, err)
				return
			}
			seen[i], _ = strconv.Atoi(string(out))
		})
	}
	wg.Wait()
	if most := maxOf(seen); most != max {
		t.Errorf("most jobs seen running at once = %d, want exactly Max = %d (all seen: %v)", most, max, seen)
	}
	if s := p.Stats(); s.Spawned > max || s.Jobs != jobs {
		t.Errorf("Stats = %+v, want at most %d workers spawned for %d jobs", s, max, jobs)
	}
}

func maxOf(xs []int) int {
	m := 0
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

func TestPoolCallerCancels(t *testing.T) {
	p := newTestPool(t, Config{Max: 1})
	first := runPid(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := p.Run(ctx, []byte("sleep 400ms"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run with a short ctx = %v, want context.DeadlineExceeded", err)
	}
	// The job goes on and its worker is reused, not killed.
	if next := runPid(t, p); next != first {
		t.Errorf("job after a cancelled caller ran on worker %d, want the same worker %d", next, first)
	}
	if s := p.Stats(); s.Jobs != 3 || s.Failed != 0 || s.Spawned != 1 {
		t.Errorf("Stats = %+v, want 3 jobs, none failed, 1 worker", s)
	}
}

func TestPoolWarnsSlowJob(t *testing.T) {
	var log syncBuffer
	p := newTestPool(t, Config{Max: 1, Warn: 50 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if _, err := p.Run(context.Background(), []byte("sleep 300ms")); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "job is slow") {
		t.Errorf("log %q does not warn about the slow job", log.String())
	}
}

func TestPoolCloseLeavesNoChild(t *testing.T) {
	const max = 3
	p := newTestPool(t, Config{Max: max})
	dir := t.TempDir()
	var wg sync.WaitGroup
	for range max {
		wg.Go(func() {
			if _, err := p.Run(context.Background(), []byte("conc "+dir+" 300ms")); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	pids := children(t)
	if len(pids) != max {
		t.Fatalf("after %d concurrent jobs, this process has children %v, want %d workers", max, pids, max)
	}
	// A job still running when Close starts is waited for.
	slow := make(chan error, 1)
	go func() {
		_, err := p.Run(context.Background(), []byte("sleep 200ms"))
		slow <- err
	}()
	waitFor(t, "the slow job to start", func() bool { return p.Stats().Running == 1 })

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-slow; err != nil {
		t.Errorf("job running during Close: %v", err)
	}
	if left := children(t); len(left) != 0 {
		t.Errorf("after Close, this process still has children %v (workers were %v)", left, pids)
	}
	if s := p.Stats(); s.Processes != 0 || s.Workers != 0 {
		t.Errorf("after Close, Stats = %+v", s)
	}
	if _, err := p.Run(context.Background(), []byte("echo x")); !errors.Is(err, ErrClosed) || !errors.Is(err, unix.ESHUTDOWN) {
		t.Errorf("Run after Close = %v, want ErrClosed matching ESHUTDOWN", err)
	}
}

// children returns the pids of this process's children, zombies included,
// from the parent pid field of every /proc/PID/stat.
func children(t *testing.T) []int {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		t.Fatal(err)
	}
	self := os.Getpid()
	var pids []int
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue // exited since the glob
		}
		// "pid (comm) state ppid ...": comm may hold spaces and parens.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(b[i+1:]))
		if len(fields) < 2 {
			continue
		}
		if ppid, _ := strconv.Atoi(fields[1]); ppid == self {
			pid, _ := strconv.Atoi(strings.Fields(string(b))[0])
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestPoolCloseKillsRunningJob checks the other way out of Close: its ctx
// ends while a job still runs, so it kills every worker, and the job is
// answered with its worker's death.
func TestPoolCloseKillsRunningJob(t *testing.T) {
	p := newTestPool(t, Config{Max: 2})
	hung := make(chan error, 1)
	go func() {
		_, err := p.Run(context.Background(), []byte("hang"))
		hung <- err
	}()
	waitFor(t, "the job to start", func() bool { return len(children(t)) == 1 && p.Stats().Running == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := p.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close with a job running past its ctx = %v, want context.DeadlineExceeded", err)
	}
	err := <-hung
	var died *WorkerDiedError
	if !errors.As(err, &died) {
		t.Fatalf("job killed by Close = %v, want a *WorkerDiedError", err)
	}
	if sig, ok := died.Signal(); !ok || sig != syscall.SIGKILL {
		t.Errorf("worker ended with %v, want SIGKILL", died.State)
	}
	waitFor(t, "the killed worker to be reaped", func() bool { return p.Stats().Processes == 0 })
	if left := children(t); len(left) != 0 {
		t.Errorf("after Close, this process still has children %v", left)
	}
}

func TestPoolRunCancelledBeforeStart(t *testing.T) {
	p := newTestPool(t, Config{Max: 1})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Run(ctx, []byte("echo x")); !errors.Is(err, context.Canceled) {
		t.Errorf("Run with a cancelled ctx = %v, want context.Canceled", err)
	}
	if s := p.Stats(); s.Spawned != 0 || s.Jobs != 0 {
		t.Errorf("a cancelled Run did work: %+v", s)
	}
}

func TestNewPoolRejectsBadConfig(t *testing.T) {
	start, _ := testStart(t)
	tests := []struct {
		name string
		cfg  Config
	}{
		{name: "no start", cfg: Config{Max: 1}},
		{name: "negative max", cfg: Config{Start: start, Max: -1}},
		{name: "negative timeout", cfg: Config{Start: start, Timeout: -time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewPool(tt.cfg); err == nil {
				t.Errorf("NewPool(%+v) succeeded", tt.cfg)
			}
		})
	}
}

func TestNewPoolDefaults(t *testing.T) {
	start, _ := testStart(t)
	p, err := NewPool(Config{Start: start})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	got := struct {
		Max           int
		Timeout, Warn time.Duration
	}{p.cfg.Max, p.cfg.Timeout, p.cfg.Warn}
	want := struct {
		Max           int
		Timeout, Warn time.Duration
	}{DefaultLimit(), DefaultTimeout, DefaultTimeout / 3}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}

// waitFor polls cond until it holds; the test's own timeout bounds it.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a test at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestWorkerFinishesJobWhenDaemonDies kills the pool's process while its
// worker is inside a job: the worker must finish the job (a module load
// cut short leaves the kernel a half-initialised module) and then exit,
// since the kernel closed the daemon's end of its socket.
func TestWorkerFinishesJobWhenDaemonDies(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	daemon := exec.Command(exe, "-test.run=^$")
	daemon.Env = append(os.Environ(), testDaemonEnv+"=finish "+dir+" 500ms")
	daemon.Stderr = os.Stderr
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	defer daemon.Wait()
	defer daemon.Process.Kill()
	pid := waitFile(t, filepath.Join(dir, "running"))
	if err := daemon.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	daemon.Wait()
	worker, err := strconv.Atoi(string(pid))
	if err != nil {
		t.Fatalf("worker pid %q: %v", pid, err)
	}
	waitFile(t, filepath.Join(dir, "done"))
	// The worker is the daemon's orphan, reparented to init (or to a
	// subreaper), which reaps it: it is gone or a zombie soon after.
	deadline := time.Now().Add(10 * time.Second)
	for processRunning(worker) {
		if time.Now().After(deadline) {
			syscall.Kill(worker, syscall.SIGKILL)
			t.Fatalf("worker %d still running 10 s after its daemon died and its job ended", worker)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitFile waits up to 10 s for path to exist and returns its contents.
func waitFile(t *testing.T, path string) []byte {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear in 10 s: %v", path, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// processRunning reports whether pid exists and is not a zombie.
func processRunning(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z'
}
