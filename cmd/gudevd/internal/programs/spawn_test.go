package programs

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestSpawn runs real programs through the worker's side, as a worker
// does for each job.
func TestSpawn(t *testing.T) {
	sh := func(script string) []string { return []string{"/bin/sh", "-c", script} }
	tests := []struct {
		name string
		job  Job
		want Reply
	}{
		{"output", Job{Argv: sh("echo hello")}, Reply{Stdout: []byte("hello\n")}},
		{"exit status", Job{Argv: sh("echo partial; exit 3")}, Reply{Stdout: []byte("partial\n"), Exit: 3}},
		{"the environment is the job's only", Job{Argv: []string{"/usr/bin/env"}, Env: []string{"ID_PATH=pci-0000:00:1f.2"}},
			Reply{Stdout: []byte("ID_PATH=pci-0000:00:1f.2\n")}},
		{"stdin is /dev/null", Job{Argv: sh("cat; echo done")}, Reply{Stdout: []byte("done\n")}},
		{"stderr kept apart", Job{Argv: sh("echo out; echo err >&2")}, Reply{Stdout: []byte("out\n"), Stderr: []byte("err\n")}},
		{"flood is truncated, the program completes", Job{Argv: sh("head -c 100000 /dev/zero | tr '\\0' x; echo; exit 0"), Limit: 16},
			Reply{Stdout: []byte(strings.Repeat("x", 16)), Truncated: true}},
		{"timeout kills", Job{Argv: sh("echo started; exec sleep 30"), Timeout: 200 * time.Millisecond},
			Reply{Stdout: []byte("started\n"), Exit: -1, Signal: "killed", TimedOut: true}},
		{"timeout kills the group", Job{Argv: sh("sleep 30; echo never"), Timeout: 200 * time.Millisecond},
			Reply{Exit: -1, Signal: "killed", TimedOut: true}},
		{"a signal of its own", Job{Argv: sh("kill -TERM $$")}, Reply{Exit: -1, Signal: "terminated"}},
		{"a child left holding stdout", Job{Argv: sh("sleep 3 & echo x")}, Reply{Stdout: []byte("x\n")}},
		{"no such program", Job{Argv: []string{"/nonexistent/ata_id"}}, Reply{Exit: -1, Error: "fork/exec /nonexistent/ata_id: no such file or directory"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.job.Limit == 0 {
				tt.job.Limit = DefaultLimit
			}
			start := time.Now()
			got := spawn(context.Background(), tt.job)
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %v: a program outlived its timeout or held the worker", d)
			}
			if diff := cmp.Diff(tt.want, got, cmp.Transformer("string", func(b []byte) string { return string(b) })); diff != "" {
				t.Errorf("spawn (-want +got):\n%s", diff)
			}
		})
	}
}

// TestHandleRejects: a job the worker cannot understand is an error of
// the job, not a program's failure.
func TestHandleRejects(t *testing.T) {
	for _, job := range []string{`{`, `{"argv":[]}`, `{"argv":["ata_id"]}`} {
		if _, err := Handle(context.Background(), []byte(job)); err == nil {
			t.Errorf("Handle(%s) = nil error", job)
		}
	}
}

// TestSpawnTimeoutKillsGroup: what the program started dies with it at the
// timeout, the worker kills the program's process group: a subshell
// left running would act after its event is over.
func TestSpawnTimeoutKillsGroup(t *testing.T) {
	mark := t.TempDir() + "/late"
	got := spawn(context.Background(), Job{
		Argv:    []string{"/bin/sh", "-c", "(sleep 1; touch " + mark + ") & wait"},
		Timeout: 200 * time.Millisecond, Limit: DefaultLimit,
	})
	if !got.TimedOut {
		t.Fatalf("reply %+v: not timed out", got)
	}
	time.Sleep(1500 * time.Millisecond)
	if _, err := os.Stat(mark); err == nil {
		t.Errorf("the program's child outlived the timeout and created %s", mark)
	}
}
