package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
)

const testExe = "/usr/bin/gudevd"

// procEntry is one process in a fake /proc.
func procEntry(fsys fstest.MapFS, pid, ppid int, state, cmdline string) {
	fsys[fmt.Sprintf("%d/cmdline", pid)] = &fstest.MapFile{Data: []byte(cmdline)}
	fsys[fmt.Sprintf("%d/stat", pid)] = &fstest.MapFile{Data: []byte(fmt.Sprintf("%d (gudevd (x) y) %s %d 1 1 0 -1\n", pid, state, ppid))}
}

// TestOrphanWorkers finds a previous daemon's workers: this binary run as
// `worker`, not this daemon's own children, not zombies.
func TestOrphanWorkers(t *testing.T) {
	const self = 100
	proc := fstest.MapFS{"self": {Mode: 0o777}}
	procEntry(proc, 1, 0, "S", "/bin/init\x00")
	procEntry(proc, 7, 1, "D", testExe+"\x00worker\x00--modules-dir\x00/lib/modules/6.1\x00") // orphan inside finit_module
	procEntry(proc, 8, 1, "S", testExe+"\x00worker\x00")                                      // idle orphan
	procEntry(proc, 9, 1, "Z", testExe+"\x00worker\x00")                                      // zombie: done
	procEntry(proc, 10, self, "D", testExe+"\x00worker\x00")                                  // our own worker
	procEntry(proc, 11, 1, "S", "/other/gudevd\x00worker\x00")                                // another binary
	procEntry(proc, 12, 1, "S", testExe+"\x00daemon\x00--coldplug\x00")                       // a daemon
	got := orphanWorkers(proc, testExe, self)
	if diff := cmp.Diff([]int{7, 8}, got); diff != "" {
		t.Errorf("orphanWorkers (-want +got):\n%s", diff)
	}
	procEntry(proc, 7, 1, "Z", testExe+"\x00worker\x00")
	delete(proc, "8/stat")
	delete(proc, "8/cmdline")
	if got := stillRunning(proc, []int{7, 8}); len(got) != 0 {
		t.Errorf("stillRunning after the orphans exited = %v, want none", got)
	}
}

// TestRunWaitsForOrphanWorkers: a daemon started while a killed daemon's
// worker is still inside a load (state D in /proc) loads nothing, and is
// not ready, until that worker is gone; else its loads would race the
// orphan's (fault-restart saw libata answered EBUSY, its dependants lost).
func TestRunWaitsForOrphanWorkers(t *testing.T) {
	ensureSignalLoop()
	proc := t.TempDir()
	write := func(name, s string) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(proc, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(proc, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("4242/cmdline", testExe+"\x00worker\x00")
	write("4242/stat", "4242 (gudevd) D 1 1 1 0 -1\n")
	var exited atomic.Bool
	timer := time.AfterFunc(300*time.Millisecond, func() {
		exited.Store(true)
		write("4242/stat", "4242 (gudevd) Z 1 1 1 0 -1\n")
	})
	defer timer.Stop()
	start := time.Now()
	r := startDaemon(t, func(c *Config) {
		c.ProcFS = os.DirFS(proc)
		c.Executable = testExe
	})
	if !exited.Load() {
		t.Fatalf("daemon ready after %v, while the previous daemon's worker was still loading", time.Since(start))
	}
	r.event(t, cpuEvent(t, 1))
	if got := syscallsPerModule(t, r.syscall); got["aesni_intel"] != 1 {
		t.Errorf("load syscalls after the orphan left = %v, want aesni_intel once", got)
	}
}
