package modloadtest_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gudevd/gudevd/modload"
	"github.com/gudevd/gudevd/modload/modloadtest"
	"golang.org/x/sys/unix"
)

// workerEnv makes the test binary, run again, load one module the way a
// gudevd worker process does: TREE:MODULE:RECORD.
const workerEnv = "MODLOADTEST_WORKER"

func TestMain(m *testing.M) {
	if v := os.Getenv(workerEnv); v != "" {
		if err := runWorker(v); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runWorker loads one module of a tree with the real Loader over its own
// Kernel, recording to a shared file.
func runWorker(spec string) error {
	var dir, module, record string
	if _, err := fmt.Sscanf(spec, "%s %s %s", &dir, &module, &record); err != nil {
		return fmt.Errorf("worker spec %q: %w", spec, err)
	}
	k := modloadtest.NewKernel()
	k.RecordTo(record)
	_, err := modload.NewLoader(dir, "", nil, modload.WithKernel(k)).Load(
		context.Background(), modload.Step{Name: module, Path: "kernel/" + module + ".ko"})
	return err
}

// TestTreeLoads writes a tree and runs the real Loader over it: every
// file it writes loads, compressed ones included, into the Kernel, which
// records each call in memory and in the file.
func TestTreeLoads(t *testing.T) {
	dir := t.TempDir()
	err := modloadtest.WriteTree(dir,
		modloadtest.Module{Name: "a", Deps: []string{"b"}, Aliases: []string{"x:*"}},
		modloadtest.Module{Name: "b"},
		modloadtest.Module{Name: "c", Compression: "xz"},
		modloadtest.Module{Name: "d", Compression: "zstd"},
	)
	if err != nil {
		t.Fatal(err)
	}
	wantText := map[string]string{
		"modules.dep":   "kernel/a.ko: kernel/b.ko\nkernel/b.ko:\nkernel/c.ko.xz:\nkernel/d.ko.zst:\n",
		"modules.alias": "alias x:* a\n",
	}
	for name, want := range wantText {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, string(got)); d != "" {
			t.Errorf("%s (-want +got):\n%s", name, d)
		}
	}
	record := filepath.Join(t.TempDir(), "calls")
	k := modloadtest.NewKernel()
	k.SetCompression("xz")
	k.Fail("b", unix.ENODEV)
	k.RecordTo(record)
	l := modload.NewLoader(dir, "", nil, modload.WithKernel(k))
	steps := []modload.Step{
		{Name: "a", Path: "kernel/a.ko", Options: "p=\"x y\""},
		{Name: "b", Path: "kernel/b.ko"},
		{Name: "c", Path: "kernel/c.ko.xz"},
		{Name: "d", Path: "kernel/d.ko.zst"},
	}
	for _, s := range steps {
		l.Load(t.Context(), s) // b fails; the call is what counts
	}
	want := []modloadtest.Call{
		{Syscall: modload.SyscallFinit, Module: "a", Params: "p=\"x y\"", Result: "ok"},
		{Syscall: modload.SyscallFinit, Module: "b", Result: "ENODEV"},
		{Syscall: modload.SyscallFinit, Module: "c", Flags: unix.MODULE_INIT_COMPRESSED_FILE, Result: "ok"},
		{Syscall: modload.SyscallInit, Module: "d", Result: "ok"},
	}
	if d := cmp.Diff(want, k.Calls()); d != "" {
		t.Errorf("Calls (-want +got):\n%s", d)
	}
	got, err := modloadtest.ReadCalls(record)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("ReadCalls (-want +got):\n%s", d)
	}
}

// TestRecordAcrossProcesses: worker processes, each with its own Kernel,
// append to one file, and the parent counts every syscall.
func TestRecordAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	mods := []modloadtest.Module{{Name: "m1"}, {Name: "m2"}, {Name: "m3"}}
	if err := modloadtest.WriteTree(dir, mods...); err != nil {
		t.Fatal(err)
	}
	record := filepath.Join(t.TempDir(), "calls")
	var procs []*exec.Cmd
	for _, m := range append(mods, mods[0]) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s %s", workerEnv, dir, m.Name, record))
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, cmd)
	}
	for _, p := range procs {
		if err := p.Wait(); err != nil {
			t.Errorf("worker: %v", err)
		}
	}
	calls, err := modloadtest.ReadCalls(record)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, c := range calls {
		if c.Syscall != modload.SyscallFinit || c.Result != "ok" {
			t.Errorf("call %+v, want a successful finit_module", c)
		}
		count[c.Module]++
	}
	// Each process is its own kernel: m1 loaded by two workers is two
	// syscalls, which is what a test of deduplication must see.
	if d := cmp.Diff(map[string]int{"m1": 2, "m2": 1, "m3": 1}, count); d != "" {
		t.Errorf("syscalls per module (-want +got):\n%s", d)
	}
}

func TestReadCalls(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, data string
		want       []modloadtest.Call
		wantErr    bool
	}{
		{name: "missing file is no call"},
		{
			name: "fields, quoted params",
			data: "init_module\tm\tENOMEM\t0\t\"a=\\\"1 2\\\"\"\n",
			want: []modloadtest.Call{{Syscall: "init_module", Module: "m", Result: "ENOMEM", Params: `a="1 2"`}},
		},
		{name: "too few fields", data: "finit_module\tm\tok\n", wantErr: true},
		{name: "bad flags", data: "finit_module\tm\tok\tx\t\"\"\n", wantErr: true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprint(i))
			if tt.data != "" {
				if err := os.WriteFile(path, []byte(tt.data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := modloadtest.ReadCalls(path)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}
