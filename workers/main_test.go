package workers

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The pool tests run real worker processes: the test binary itself, run
// again with testWorkerEnv set, serving testHandler on WorkerConn.
const testWorkerEnv = "GUDEVD_TEST_WORKER"

// testDaemonEnv runs the test binary as a daemon that owns a pool and runs
// the job the variable holds in it, for tests that kill the daemon.
const testDaemonEnv = "GUDEVD_TEST_DAEMON"

func TestMain(m *testing.M) {
	if os.Getenv(testWorkerEnv) != "" {
		os.Exit(testWorker())
	}
	if job := os.Getenv(testDaemonEnv); job != "" {
		os.Exit(testDaemon(job))
	}
	os.Exit(m.Run())
}

// testDaemon runs job in a one-worker pool of test workers and waits to be
// killed.
func testDaemon(job string) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "test daemon:", err)
		return 1
	}
	p, err := NewPool(Config{Max: 1, Timeout: time.Minute, Start: func(ctx context.Context) *exec.Cmd {
		cmd := exec.CommandContext(ctx, exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), testWorkerEnv+"=1", testDaemonEnv+"=", "GORACE=atexit_sleep_ms=0")
		cmd.Stderr = os.Stderr
		return cmd
	}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "test daemon:", err)
		return 1
	}
	if _, err := p.Run(context.Background(), []byte(job)); err != nil {
		fmt.Fprintln(os.Stderr, "test daemon:", err)
		return 1
	}
	hangForever()
	return 0
}

func testWorker() int {
	conn, err := WorkerConn()
	if err != nil {
		fmt.Fprintln(os.Stderr, "test worker:", err)
		return 1
	}
	if err := Serve(context.Background(), conn, conn, testHandler(conn)); err != nil {
		fmt.Fprintln(os.Stderr, "test worker:", err)
		return 1
	}
	return 0
}

// testHandler does what its job says, "VERB ARGS":
//
//	echo TEXT       reply TEXT
//	pid             reply the worker's pid
//	sleep DURATION  sleep, then reply "slept"
//	errno N TEXT    fail with TEXT wrapping syscall.Errno(N)
//	panic           panic
//	exit N          os.Exit(N)
//	sigkill         send itself SIGKILL
//	garbage         write a frame header claiming 4 GiB, then hang
//	foreign         reply to another job id, then hang
//	hang            block forever, ignoring ctx and SIGTERM
//	conc DIR D      mark itself running in DIR, reply how many jobs are
//	                marked there, after holding the mark for D
//	finish DIR D    write its pid to DIR/running, sleep D, create DIR/done
func testHandler(conn *os.File) Handler {
	return func(ctx context.Context, job []byte) ([]byte, error) {
		verb, arg, _ := strings.Cut(string(job), " ")
		switch verb {
		case "echo":
			return []byte(arg), nil
		case "pid":
			return []byte(strconv.Itoa(os.Getpid())), nil
		case "sleep":
			d, err := time.ParseDuration(arg)
			if err != nil {
				return nil, err
			}
			time.Sleep(d)
			return []byte("slept"), nil
		case "errno":
			n, msg, _ := strings.Cut(arg, " ")
			errno, err := strconv.Atoi(n)
			if err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("%s: %w", msg, syscall.Errno(errno))
		case "panic":
			panic("test handler panics")
		case "exit":
			code, err := strconv.Atoi(arg)
			if err != nil {
				return nil, err
			}
			os.Exit(code)
		case "sigkill":
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			hangForever()
		case "garbage":
			conn.Write([]byte{0xff, 0xff, 0xff, 0xff, 'g', 'a', 'r', 'b', 'a', 'g', 'e'})
			hangForever()
		case "foreign":
			writeFrame(conn, frame{kind: kindResult, id: 1 << 60, payload: []byte("not yours")})
			hangForever()
		case "hang":
			signal.Ignore(syscall.SIGTERM)
			hangForever()
		case "conc":
			dir, d, _ := strings.Cut(arg, " ")
			return concurrent(dir, d)
		case "finish":
			dir, d, _ := strings.Cut(arg, " ")
			return finish(dir, d)
		}
		return nil, fmt.Errorf("unknown test job %q", job)
	}
}

// concurrent marks this job as running in dir while it sleeps for d and
// returns the number of marks it saw just after making its own: at the
// moment the most jobs overlap, the last one to start sees them all.
func concurrent(dir, d string) ([]byte, error) {
	sleep, err := time.ParseDuration(d)
	if err != nil {
		return nil, err
	}
	mark := filepath.Join(dir, strconv.Itoa(os.Getpid()))
	if err := os.WriteFile(mark, nil, 0o600); err != nil {
		return nil, err
	}
	defer os.Remove(mark)
	seen, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	time.Sleep(sleep)
	return []byte(strconv.Itoa(len(seen))), nil
}

// finish announces itself in dir, sleeps for d and then leaves DIR/done: a
// job with an effect that must not be cut short.
func finish(dir, d string) ([]byte, error) {
	sleep, err := time.ParseDuration(d)
	if err != nil {
		return nil, err
	}
	// Renamed into place, so that a reader never sees it empty.
	tmp := filepath.Join(dir, "running.tmp")
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, filepath.Join(dir, "running")); err != nil {
		return nil, err
	}
	time.Sleep(sleep)
	if err := os.WriteFile(filepath.Join(dir, "done"), nil, 0o600); err != nil {
		return nil, err
	}
	return []byte("finished"), nil
}

// testStart returns a Config.Start that runs this test binary as a worker,
// its stderr going to a file the test can read.
func testStart(t testing.TB) (start func(context.Context) *exec.Cmd, stderr string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	stderr = filepath.Join(t.TempDir(), "stderr")
	f, err := os.Create(stderr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return func(ctx context.Context) *exec.Cmd {
		cmd := exec.CommandContext(ctx, exe, "-test.run=^$")
		// Under -race, a process sleeps a second at exit by default so
		// that racing goroutines get caught; workers exit often here.
		cmd.Env = append(os.Environ(), testWorkerEnv+"=1", "GORACE=atexit_sleep_ms=0")
		cmd.Stderr = f
		return cmd
	}, stderr
}

// hangForever blocks without leaving the runtime a deadlock to detect, as
// a handler stuck in a system call would.
func hangForever() {
	for {
		time.Sleep(time.Hour)
	}
}
