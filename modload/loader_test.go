package modload_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/gudevd/gudevd/modload"
	"github.com/gudevd/gudevd/modload/modloadtest"
	"golang.org/x/sys/unix"
)

// writeFile writes a test module file under dir.
func writeFile(t *testing.T, dir, rel string, b []byte) {
	t.Helper()
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// elfHeader is the size of an ELF64 header: what Load reads of a file to
// find its compression and check it.
const elfHeader = 64

func testLoader(t *testing.T, dir string, k modload.Kernel) *modload.Loader {
	t.Helper()
	return modload.NewLoader(dir, "", nil, modload.WithKernel(k))
}

// call is a load syscall as the Kernel records it.
func call(syscall, module, params string, flags int, result string) modloadtest.Call {
	return modloadtest.Call{Syscall: syscall, Module: module, Params: params, Flags: flags, Result: result}
}

func mustCompress(t *testing.T, c string, b []byte) []byte {
	t.Helper()
	out, err := modloadtest.Compress(c, b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLoad(t *testing.T) {
	raw := modloadtest.MakeKo("m")
	truncatedSections := modloadtest.MakeKo("m")
	truncatedSections[0x28] = 0xff // e_shoff
	truncatedSections[0x3a] = 64   // e_shentsize
	truncatedSections[0x3c] = 2    // e_shnum
	files := map[string][]byte{
		"kernel/m.ko":          raw,
		"kernel/m.ko.xz":       mustCompress(t, "xz", raw),
		"kernel/m.ko.zst":      mustCompress(t, "zstd", raw),
		"kernel/m.ko.gz":       mustCompress(t, "gzip", raw),
		"kernel/text.ko":       []byte("this is not ELF, it is a text file\n"),
		"kernel/short.ko":      raw[:20],
		"kernel/empty.ko":      nil,
		"kernel/sections.ko":   truncatedSections,
		"kernel/badxz.ko.xz":   append([]byte{0xfd, '7', 'z', 'X', 'Z', 0}, "garbage"...),
		"kernel/badzstd.ko.xz": append([]byte{0x28, 0xb5, 0x2f, 0xfd}, "garbage"...),
	}
	tests := []struct {
		name  string
		step  modload.Step
		setup func(k *modloadtest.Kernel)
		want  modload.Result
		calls []modloadtest.Call
		// anyRead: how much a failing decompressor reads is its own
		// business.
		anyRead bool
		// wantErr lists targets errors.Is must match; nil means success.
		wantErr []error
	}{
		{
			name:  "uncompressed: finit_module",
			step:  modload.Step{Name: "m", Path: "kernel/m.ko", Options: "a=1 b=2"},
			want:  modload.Result{Module: "m", Syscall: modload.SyscallFinit, BytesRead: elfHeader},
			calls: []modloadtest.Call{call(modload.SyscallFinit, "m", "a=1 b=2", 0, "ok")},
		},
		{
			name:  "compressed as the kernel decompresses: finit_module with the flag",
			step:  modload.Step{Name: "m", Path: "kernel/m.ko.xz"},
			setup: func(k *modloadtest.Kernel) { k.SetCompression("xz") },
			want: modload.Result{Module: "m", Syscall: modload.SyscallFinit, Flags: unix.MODULE_INIT_COMPRESSED_FILE,
				Compression: "xz", BytesRead: elfHeader},
			calls: []modloadtest.Call{call(modload.SyscallFinit, "m", "", unix.MODULE_INIT_COMPRESSED_FILE, "ok")},
		},
		{
			name:  "zstd, kernel decompresses xz: init_module",
			step:  modload.Step{Name: "m", Path: "kernel/m.ko.zst"},
			setup: func(k *modloadtest.Kernel) { k.SetCompression("xz") },
			want: modload.Result{Module: "m", Syscall: modload.SyscallInit, Compression: "zstd",
				BytesRead: readBoth(files["kernel/m.ko.zst"]), ImageSize: int64(len(raw))},
			calls: []modloadtest.Call{call(modload.SyscallInit, "m", "", 0, "ok")},
		},
		{
			name: "gzip, kernel decompresses nothing: init_module",
			step: modload.Step{Name: "m", Path: "kernel/m.ko.gz", Options: "x=y"},
			want: modload.Result{Module: "m", Syscall: modload.SyscallInit, Compression: "gzip",
				BytesRead: readBoth(files["kernel/m.ko.gz"]), ImageSize: int64(len(raw))},
			calls: []modloadtest.Call{call(modload.SyscallInit, "m", "x=y", 0, "ok")},
		},
		{
			name: "xz, kernel decompresses nothing: init_module",
			step: modload.Step{Name: "m", Path: "kernel/m.ko.xz"},
			want: modload.Result{Module: "m", Syscall: modload.SyscallInit, Compression: "xz",
				BytesRead: readBoth(files["kernel/m.ko.xz"]), ImageSize: int64(len(raw))},
			calls: []modloadtest.Call{call(modload.SyscallInit, "m", "", 0, "ok")},
		},
		{
			name:  "kernel without finit_module: init_module",
			step:  modload.Step{Name: "m", Path: "kernel/m.ko"},
			setup: func(k *modloadtest.Kernel) { k.DisableFinit() },
			want: modload.Result{Module: "m", Syscall: modload.SyscallInit,
				BytesRead: elfHeader + int64(len(raw)), ImageSize: int64(len(raw))},
			calls: []modloadtest.Call{call(modload.SyscallInit, "m", "", 0, "ok")},
		},
		{
			name:  "live: no syscall",
			step:  modload.Step{Name: "m", Path: "kernel/m.ko"},
			setup: func(k *modloadtest.Kernel) { k.SetState("m", modload.StateLive) },
			want:  modload.Result{Module: "m", Skipped: modload.SkipLive},
		},
		{
			name: "builtin step: no syscall",
			step: modload.Step{Name: "m", Builtin: true},
			want: modload.Result{Module: "m", Skipped: modload.SkipBuiltin},
		},
		{
			name:  "sysfs directory without initstate: built in",
			step:  modload.Step{Name: "m", Path: "kernel/m.ko"},
			setup: func(k *modloadtest.Kernel) { k.SetBuiltin("m") },
			want:  modload.Result{Module: "m", Skipped: modload.SkipBuiltin},
		},
		{
			name:  "EEXIST is success",
			step:  modload.Step{Name: "m", Path: "kernel/m.ko"},
			setup: func(k *modloadtest.Kernel) { k.Hide("m") },
			want:  modload.Result{Module: "m", Syscall: modload.SyscallFinit, Exists: true, BytesRead: elfHeader},
			calls: []modloadtest.Call{call(modload.SyscallFinit, "m", "", 0, "EEXIST")},
		},
		{
			// A second cpufreq driver's init returns -EEXIST: the
			// module is not loaded, whatever the errno suggests.
			name:    "init returns EEXIST itself",
			step:    modload.Step{Name: "m", Path: "kernel/m.ko"},
			setup:   func(k *modloadtest.Kernel) { k.Fail("m", unix.EEXIST) },
			want:    modload.Result{Module: "m", Syscall: modload.SyscallFinit, BytesRead: elfHeader},
			calls:   []modloadtest.Call{call(modload.SyscallFinit, "m", "", 0, "EEXIST")},
			wantErr: []error{unix.EEXIST},
		},
		{
			name:    "signature rejected",
			step:    modload.Step{Name: "m", Path: "kernel/m.ko"},
			setup:   func(k *modloadtest.Kernel) { k.Fail("m", unix.EKEYREJECTED) },
			want:    modload.Result{Module: "m", Syscall: modload.SyscallFinit, BytesRead: elfHeader},
			calls:   []modloadtest.Call{call(modload.SyscallFinit, "m", "", 0, "EKEYREJECTED")},
			wantErr: []error{unix.EKEYREJECTED},
		},
		{
			name:    "init fails with ENODEV",
			step:    modload.Step{Name: "m", Path: "kernel/m.ko.gz"},
			setup:   func(k *modloadtest.Kernel) { k.Fail("m", unix.ENODEV) },
			want:    modload.Result{Module: "m", Syscall: modload.SyscallInit, Compression: "gzip", BytesRead: readBoth(files["kernel/m.ko.gz"]), ImageSize: int64(len(raw))},
			calls:   []modloadtest.Call{call(modload.SyscallInit, "m", "", 0, "ENODEV")},
			wantErr: []error{unix.ENODEV},
		},
		{
			name:    "not permitted",
			step:    modload.Step{Name: "m", Path: "kernel/m.ko"},
			setup:   func(k *modloadtest.Kernel) { k.Fail("m", unix.EPERM) },
			want:    modload.Result{Module: "m", Syscall: modload.SyscallFinit, BytesRead: elfHeader},
			calls:   []modloadtest.Call{call(modload.SyscallFinit, "m", "", 0, "EPERM")},
			wantErr: []error{unix.EPERM},
		},
		{
			name:    "missing file",
			step:    modload.Step{Name: "m", Path: "kernel/nothere.ko"},
			want:    modload.Result{Module: "m"},
			wantErr: []error{unix.ENOENT, os.ErrNotExist},
		},
		{
			name:    "not ELF: no syscall",
			step:    modload.Step{Name: "m", Path: "kernel/text.ko"},
			want:    modload.Result{Module: "m", BytesRead: int64(len(files["kernel/text.ko"]))},
			wantErr: []error{modload.ErrNotModule, unix.ENOEXEC},
		},
		{
			name:    "truncated header: no syscall",
			step:    modload.Step{Name: "m", Path: "kernel/short.ko"},
			want:    modload.Result{Module: "m", BytesRead: 20},
			wantErr: []error{modload.ErrNotModule, unix.ENOEXEC},
		},
		{
			name:    "empty file: no syscall",
			step:    modload.Step{Name: "m", Path: "kernel/empty.ko"},
			want:    modload.Result{Module: "m"},
			wantErr: []error{modload.ErrNotModule, unix.ENOEXEC},
		},
		{
			name:    "section headers past the end: no syscall",
			step:    modload.Step{Name: "m", Path: "kernel/sections.ko"},
			want:    modload.Result{Module: "m", BytesRead: elfHeader},
			wantErr: []error{modload.ErrNotModule, unix.ENOEXEC},
		},
		{
			name:    "corrupt xz: no syscall",
			step:    modload.Step{Name: "m", Path: "kernel/badxz.ko.xz"},
			want:    modload.Result{Module: "m", Compression: "xz"},
			anyRead: true,
			wantErr: []error{modload.ErrNotModule, unix.ENOEXEC},
		},
		{
			name:    "zstd named .xz, kernel decompresses xz: user space reads it by its magic and fails",
			step:    modload.Step{Name: "m", Path: "kernel/badzstd.ko.xz"},
			setup:   func(k *modloadtest.Kernel) { k.SetCompression("xz") },
			want:    modload.Result{Module: "m", Compression: "zstd"},
			anyRead: true,
			wantErr: []error{modload.ErrNotModule, unix.ENOEXEC},
		},
		{
			name:    "no file and no install command",
			step:    modload.Step{Name: "m"},
			want:    modload.Result{Module: "m"},
			wantErr: []error{modload.ErrUnknownModule, unix.ENOENT},
		},
	}
	dir := t.TempDir()
	for rel, b := range files {
		writeFile(t, dir, rel, b)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := modloadtest.NewKernel()
			if tt.setup != nil {
				tt.setup(k)
			}
			got, err := testLoader(t, dir, k).Load(t.Context(), tt.step)
			ignore := []string{"Duration"}
			if tt.anyRead {
				ignore = append(ignore, "BytesRead")
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(modload.Result{}, ignore...)); diff != "" {
				t.Errorf("modload.Result mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.calls, k.Calls()); diff != "" {
				t.Errorf("syscalls mismatch (-want +got):\n%s", diff)
			}
			checkErr(t, err, tt.wantErr)
			if err != nil {
				var me *modload.ModuleError
				if !errors.As(err, &me) || me.Module != tt.step.Name {
					t.Errorf("error %v is not a *modload.ModuleError for %s", err, tt.step.Name)
				}
			}
		})
	}
}

// readBoth is what Load reads of a file it loads from memory: the header
// to find the compression, then the whole file.
func readBoth(file []byte) int64 {
	return int64(min(len(file), elfHeader) + len(file))
}

func checkErr(t *testing.T, err error, want []error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Errorf("err = %v, want nil", err)
		}
		return
	}
	if err == nil {
		t.Errorf("err = nil, want %v", want)
	}
	for _, target := range want {
		if !errors.Is(err, target) {
			t.Errorf("errors.Is(%v, %v) = false", err, target)
		}
	}
}

// TestLoadWaitsForComingModule: while another loader's init runs (sysfs
// says "coming"), Load must not make a syscall; it reports the outcome of
// that load when it ends, or loads itself if that load failed.
func TestLoadWaitsForComingModule(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "m.ko", modloadtest.MakeKo("m"))
	tests := []struct {
		name  string
		first modload.ModuleState
		then  modload.ModuleState
		want  modload.Result
		calls []modloadtest.Call
	}{
		{"other load succeeds", modload.StateComing, modload.StateLive, modload.Result{Module: "m", Waited: true, Skipped: modload.SkipLive}, nil},
		{"other load fails", modload.StateComing, modload.StateGone, modload.Result{Module: "m", Waited: true, Syscall: modload.SyscallFinit, BytesRead: elfHeader},
			[]modloadtest.Call{call(modload.SyscallFinit, "m", "", 0, "ok")}},
		{"unload finishes", modload.StateGoing, modload.StateGone, modload.Result{Module: "m", Waited: true, Syscall: modload.SyscallFinit, BytesRead: elfHeader},
			[]modloadtest.Call{call(modload.SyscallFinit, "m", "", 0, "ok")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := modloadtest.NewKernel()
			k.SetState("m", tt.first)
			// The loader must have seen the state at least twice before
			// the other load ends: it is polling, not loading.
			polled := make(chan struct{})
			l := testLoader(t, dir, &countingKernel{Kernel: k, after: 2, reached: polled})
			var wg sync.WaitGroup
			wg.Go(func() {
				<-polled
				if calls := k.Calls(); len(calls) != 0 {
					t.Errorf("syscalls while coming: %v", calls)
				}
				k.SetState("m", tt.then)
			})
			got, err := l.Load(t.Context(), modload.Step{Name: "m", Path: "m.ko"})
			wg.Wait()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(modload.Result{}, "Duration")); diff != "" {
				t.Errorf("modload.Result mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.calls, k.Calls()); diff != "" {
				t.Errorf("syscalls mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// countingKernel closes reached once ModuleState has been asked after
// times.
type countingKernel struct {
	modload.Kernel
	mu      sync.Mutex // guards the fields below
	n       int
	after   int
	reached chan struct{}
}

func (c *countingKernel) ModuleState(name string) (modload.ModuleState, error) {
	st, err := c.Kernel.ModuleState(name)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n++; c.n == c.after {
		close(c.reached)
	}
	return st, err
}

func TestLoadWaitCancelled(t *testing.T) {
	k := modloadtest.NewKernel()
	k.SetState("m", modload.StateComing)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	_, err := testLoader(t, t.TempDir(), k).Load(ctx, modload.Step{Name: "m", Path: "m.ko"})
	checkErr(t, err, []error{context.DeadlineExceeded})
	if calls := k.Calls(); len(calls) != 0 {
		t.Errorf("syscalls: %v", calls)
	}
}

// TestLoadConcurrent loads one module from many goroutines against the fake
// kernel: all succeed, the module is live, and every load either made the
// syscall, found the module live, waited for it, or got EEXIST.
func TestLoadConcurrent(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "m.ko", modloadtest.MakeKo("m"))
	k := modloadtest.NewKernel()
	k.SetLatency(5 * time.Millisecond)
	l := testLoader(t, dir, k)
	const n = 16
	results := make([]modload.Result, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { results[i], errs[i] = l.Load(t.Context(), modload.Step{Name: "m", Path: "m.ko"}) })
	}
	wg.Wait()
	loaded := 0
	for i, r := range results {
		if errs[i] != nil {
			t.Errorf("load %d: %v", i, errs[i])
		}
		switch {
		case r.Syscall != "" && !r.Exists:
			loaded++
		case r.Syscall != "" && r.Exists, r.Skipped == modload.SkipLive:
		default:
			t.Errorf("load %d: %+v", i, r)
		}
	}
	if loaded != 1 {
		t.Errorf("%d loads initialised the module, want 1", loaded)
	}
	if st, _ := k.ModuleState("m"); st != modload.StateLive {
		t.Errorf("state %v, want live", st)
	}
}

func TestInstall(t *testing.T) {
	tests := []struct {
		name    string
		step    modload.Step
		timeout time.Duration
		wantErr []error
		wantMsg string
	}{
		{name: "true", step: modload.Step{Name: "m", Install: "true"}},
		{
			name: "options and module name",
			step: modload.Step{Name: "m", Options: "x=1 y=2",
				Install: `[ "$CMDLINE_OPTS" = 'x=1 y=2' ] && [ "$MODPROBE_MODULE" = m ] && [ "$(printf %s $CMDLINE_OPTS)" = 'x=1y=2' ]`},
		},
		{
			name:    "false",
			step:    modload.Step{Name: "m", Install: "false"},
			wantErr: []error{modload.ErrInstallFailed, unix.EINVAL},
		},
		{
			name:    "output is reported",
			step:    modload.Step{Name: "m", Install: "echo no such firmware >&2; exit 3"},
			wantErr: []error{modload.ErrInstallFailed},
			wantMsg: `load module m: install: install command failed: "echo no such firmware >&2; exit 3": exit status 3: no such firmware`,
		},
		{
			name:    "hanging command is killed at the deadline",
			step:    modload.Step{Name: "m", Install: "sleep 60; true"},
			timeout: 100 * time.Millisecond,
			wantErr: []error{modload.ErrInstallFailed, context.DeadlineExceeded},
		},
		{
			name:    "hanging grandchild is killed too",
			step:    modload.Step{Name: "m", Install: "sh -c 'sleep 60'; true"},
			timeout: 100 * time.Millisecond,
			wantErr: []error{modload.ErrInstallFailed, context.DeadlineExceeded},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			k := modloadtest.NewKernel()
			got, err := testLoader(t, t.TempDir(), k).Load(ctx, tt.step)
			checkErr(t, err, tt.wantErr)
			if tt.wantMsg != "" && (err == nil || err.Error() != tt.wantMsg) {
				t.Errorf("error %q, want %q", err, tt.wantMsg)
			}
			if !got.Install || got.Syscall != "" {
				t.Errorf("modload.Result %+v, want Install without syscall", got)
			}
			if calls := k.Calls(); len(calls) != 0 {
				t.Errorf("syscalls: %v", calls)
			}
		})
	}
}

func TestInstallSkippedWhenLive(t *testing.T) {
	k := modloadtest.NewKernel()
	k.SetState("m", modload.StateLive)
	got, err := testLoader(t, t.TempDir(), k).Load(t.Context(), modload.Step{Name: "m", Install: "false"})
	if err != nil || got.Install || got.Skipped != modload.SkipLive {
		t.Errorf("Load = %+v, %v; want skipped as live", got, err)
	}
}

// BenchmarkLoad measures the loader's own work per module against the fake
// kernel (sysfs check, open, header read, syscall): the module is unloaded
// between iterations so every load reaches the syscall.
func BenchmarkLoad(b *testing.B) {
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "m.ko"), modloadtest.MakeKo("m"), 0o644); err != nil {
		b.Fatal(err)
	}
	k := modloadtest.NewKernel()
	l := modload.NewLoader(dir, "", nil, modload.WithKernel(k))
	s := modload.Step{Name: "m", Path: "m.ko"}
	for b.Loop() {
		if _, err := l.Load(b.Context(), s); err != nil {
			b.Fatal(err)
		}
		k.SetState("m", modload.StateGone)
	}
}

// TestLoadRealModules loads real Debian modules (testdata/ko, see regen.sh)
// into the fake kernel, which finds the module name in the image's
// .modinfo as the kernel does: the ELF check must accept them, and the
// user-space xz decompression must produce the real image.
func TestLoadRealModules(t *testing.T) {
	tests := []struct {
		name  string
		path  string
		compr string
		want  []modloadtest.Call
	}{
		{"6.1 uncompressed", "ko/irqbypass.ko", "", []modloadtest.Call{call(modload.SyscallFinit, "irqbypass", "", 0, "ok")}},
		{"6.12 xz, kernel decompresses", "ko/irqbypass.ko.xz", "xz", []modloadtest.Call{call(modload.SyscallFinit, "irqbypass", "", unix.MODULE_INIT_COMPRESSED_FILE, "ok")}},
		{"6.12 xz, user space decompresses", "ko/irqbypass.ko.xz", "", []modloadtest.Call{call(modload.SyscallInit, "irqbypass", "", 0, "ok")}},
		{"6.12 xz, kernel decompresses zstd", "ko/irqbypass.ko.xz", "zstd", []modloadtest.Call{call(modload.SyscallInit, "irqbypass", "", 0, "ok")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := modloadtest.NewKernel()
			k.SetCompression(tt.compr)
			res, err := testLoader(t, "testdata", k).Load(t.Context(), modload.Step{Name: "irqbypass", Path: tt.path})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, k.Calls()); diff != "" {
				t.Errorf("syscalls mismatch (-want +got):\n%s", diff)
			}
			if res.Syscall == modload.SyscallInit && res.ImageSize <= res.BytesRead {
				t.Errorf("image of %d bytes from %d read: not decompressed", res.ImageSize, res.BytesRead)
			}
		})
	}
}
