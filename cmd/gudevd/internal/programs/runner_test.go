package programs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/gudevd/gudevd/rules"
)

// The runner tests run real worker processes: this test binary again,
// with testWorkerEnv set, serving jobs as `gudevd program-worker` does.
const testWorkerEnv = "GUDEVD_TEST_PROGRAM_WORKER"

func TestMain(m *testing.M) {
	if os.Getenv(testWorkerEnv) != "" {
		if err := ServeWorker(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "test program worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func newTestRunner(t *testing.T, cfg Config) *Runner {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Command = func(ctx context.Context) *exec.Cmd {
		cmd := exec.CommandContext(ctx, exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), testWorkerEnv+"=1")
		cmd.Stderr = os.Stderr
		return cmd
	}
	if cfg.Max == 0 {
		cfg.Max = 2
	}
	r, err := NewRunner(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

// TestRunnerProgram: each way a program ends is the error the rules
// engine tells apart (a failed PROGRAM match against a broken event), and
// a counter.
func TestRunnerProgram(t *testing.T) {
	cfg := Config{Timeout: 500 * time.Millisecond, Limit: 8}
	t.Run("pool", func(t *testing.T) { testRunnerProgram(t, newTestRunner(t, cfg)) })
	t.Run("direct", func(t *testing.T) {
		r, err := NewRunner(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close(context.Background())
		testRunnerProgram(t, r)
	})
}

func testRunnerProgram(t *testing.T, r *Runner) {
	sh := func(s string) []string { return []string{"/bin/sh", "-c", s} }
	tests := []struct {
		name    string
		argv    []string
		want    string
		wantErr []error
	}{
		{"success", sh("echo ok"), "ok\n", nil},
		{"failure", sh("echo no; exit 1"), "no\n", []error{rules.ErrProgramFailed}},
		{"hang", sh("sleep 30"), "", []error{ErrTimedOut, syscall.ETIME}},
		{"signal", sh("kill -KILL $$"), "", []error{ErrKilled}},
		{"flood", sh("yes | head -c 100000"), "y\ny\ny\ny\n", nil},
		{"missing", []string{"/nonexistent"}, "", []error{ErrCannotRun, syscall.ENOEXEC}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := r.Program(context.Background(), tt.argv, nil)
			if string(out) != tt.want {
				t.Errorf("stdout = %q, want %q", out, tt.want)
			}
			if tt.wantErr == nil && err != nil {
				t.Errorf("err = %v, want nil", err)
			}
			for _, w := range tt.wantErr {
				if !errors.Is(err, w) {
					t.Errorf("err = %v, want one matching %v", err, w)
				}
			}
		})
	}
	s := r.Stats()
	got := [6]uint64{s.Runs, s.Failed, s.TimedOut, s.Killed, s.Truncated, s.CannotRun}
	if want := [6]uint64{6, 1, 1, 1, 1, 1}; got != want {
		t.Errorf("runs, failed, timed out, killed, truncated, cannot run = %v, want %v", got, want)
	}
}

// TestRunnerEventDeadline: the time a program gets is what is left of the
// event's, not a fresh timeout.
func TestRunnerEventDeadline(t *testing.T) {
	r := newTestRunner(t, Config{Timeout: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := r.Program(ctx, []string{"/bin/sleep", "30"}, nil)
	if !errors.Is(err, ErrTimedOut) || time.Since(start) > 10*time.Second {
		t.Errorf("a program past the event's deadline: err %v after %v, want ErrTimedOut at once", err, time.Since(start))
	}
	// The worker killed it and said so: nothing was lost, and the worker
	// serves the next program.
	if s := r.Stats(); s.TimedOut != 1 || s.WorkerLost != 0 {
		t.Errorf("stats %+v: want 1 timed out, 0 workers lost", s)
	}
	if out, err := r.Program(context.Background(), []string{"/bin/echo", "next"}, nil); err != nil || string(out) != "next\n" {
		t.Errorf("the program after: %q, %v", out, err)
	}
}

// TestRunnerCancel: a cancelled event (the daemon stopping) stops waiting
// at once, without the grace a deadline gets. The program itself runs on
// in its worker until its timeout or Close (which waits for it, then
// kills what is left when its ctx ends).
func TestRunnerCancel(t *testing.T) {
	r := newTestRunner(t, Config{Timeout: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err := r.Program(ctx, []string{"/bin/sleep", "3"}, nil)
	if took := time.Since(start); !errors.Is(err, context.Canceled) || took > 2*time.Second {
		t.Errorf("a cancelled event: err %v after %v, want context.Canceled at once", err, took)
	}
}
