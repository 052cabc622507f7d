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
