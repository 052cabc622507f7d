package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestWorkerPIDs finds `gudevd worker` processes by their NUL-separated
// command lines, and nothing else: the daemon itself, another program's
// "worker", a process that exited between the listing and the read.
func TestWorkerPIDs(t *testing.T) {
	proc := t.TempDir()
	for pid, cmdline := range map[string]string{
		"10":   "/usr/bin/gudevd\x00daemon\x00--coldplug\x00",
		"11":   "/usr/bin/gudevd\x00worker\x00--modules-dir\x00/lib/modules/6.1\x00",
		"12":   "gudevd\x00worker\x00",
		"13":   "/usr/bin/other\x00worker\x00",
		"14":   "/usr/bin/gudevd\x00",
		"self": "/usr/bin/gudevd\x00worker\x00",
	} {
		if err := os.MkdirAll(filepath.Join(proc, pid), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(proc, pid, "cmdline"), []byte(cmdline), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(proc, "15"), 0o755); err != nil { // exited: no cmdline
		t.Fatal(err)
	}
	got, err := workerPIDs(proc)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{11, 12}, got); diff != "" {
		t.Errorf("workerPIDs (-want +got):\n%s", diff)
	}
}

// TestOutsideLoads keeps the workers all of whose threads are blocked in
// syscalls other than finit_module (313) and init_module (175), as
// /proc/PID/task/TID/syscall shows: a kill inside a load cuts the
// module's init short in the kernel, and a running thread may be inside
// one.
func TestOutsideLoads(t *testing.T) {
	proc := t.TempDir()
	threads := map[string]string{
		"20/task/20": "202 0x1 0x2\n",         // futex: idle
		"21/task/21": "202 0x1\n",             // main thread idle ...
		"21/task/22": "313 0x3 0x4 0x0\n",     // ... another in finit_module
		"23/task/23": "running\n",             // on a CPU: maybe inside finit_module
		"25/task/25": "281 0x4 0x0\n",         // epoll_pwait: idle
		"25/task/26": "0 0x3 0xc000\n",        // read
		"24/task/24": "175 0x7f 0x1000 0x0\n", // init_module
	}
	for dir, sc := range threads {
		if err := os.MkdirAll(filepath.Join(proc, dir), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(proc, dir, "syscall"), []byte(sc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]int{20, 25}, outsideLoads(proc, []int{20, 21, 23, 24, 25, 27})); diff != "" {
		t.Errorf("outsideLoads (-want +got):\n%s", diff)
	}
}
