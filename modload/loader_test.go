package modload

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

func testLoader(t *testing.T, dir string, k *fakeKernel) *Loader {
	l := newLoader(dir, k, nil)
	l.pollMin, l.pollMax = 100*time.Microsecond, time.Millisecond
	return l
}

func TestLoad(t *testing.T) {
	raw := makeKo("m")
	truncatedSections := makeKo("m")
	truncatedSections[0x28] = 0xff // e_shoff
	truncatedSections[0x3a] = 64   // e_shentsize
	truncatedSections[0x3c] = 2    // e_shnum
	files := map[string][]byte{
		"kernel/m.ko":          raw,
		"kernel/m.ko.xz":       compress(t, "xz", raw),
		"kernel/m.ko.zst":      compress(t, "zstd", raw),
		"kernel/m.ko.gz":       compress(t, "gzip", raw),
		"kernel/text.ko":       []byte("this is not ELF, it is a text file\n"),
		"kernel/short.ko":      raw[:20],
		"kernel/empty.ko":      nil,
		"kernel/sections.ko":   truncatedSections,
		"kernel/badxz.ko.xz":   append([]byte{0xfd, '7', 'z', 'X', 'Z', 0}, "garbage"...),
		"kernel/badzstd.ko.xz": append([]byte{0x28, 0xb5, 0x2f, 0xfd}, "garbage"...),
	}
	tests := []struct {
		name  string
		step  Step
		setup func(k *fakeKernel)
		want  Result
		calls []fakeCall
		// anyRead: how much a failing decompressor reads is its own
		// business.
		anyRead bool
		// wantErr lists targets errors.Is must match; nil means success.
		wantErr []error
	}{
		{
			name:  "uncompressed: finit_module",
			step:  Step{Name: "m", Path: "kernel/m.ko", Options: "a=1 b=2"},
			want:  Result{Module: "m", Syscall: SyscallFinit, BytesRead: elf64HeaderSize},
			calls: []fakeCall{{SyscallFinit, "m", "a=1 b=2", 0}},
		},
		{
			name:  "compressed as the kernel decompresses: finit_module with the flag",
			step:  Step{Name: "m", Path: "kernel/m.ko.xz"},
			setup: func(k *fakeKernel) { k.compr = "xz" },
			want: Result{Module: "m", Syscall: SyscallFinit, Flags: unix.MODULE_INIT_COMPRESSED_FILE,
				Compression: "xz", BytesRead: elf64HeaderSize},
			calls: []fakeCall{{SyscallFinit, "m", "", unix.MODULE_INIT_COMPRESSED_FILE}},
		},
		{
			name:  "zstd, kernel decompresses xz: init_module",
			step:  Step{Name: "m", Path: "kernel/m.ko.zst"},
			setup: func(k *fakeKernel) { k.compr = "xz" },
			want: Result{Module: "m", Syscall: SyscallInit, Compression: "zstd",
				BytesRead: readBoth(files["kernel/m.ko.zst"]), ImageSize: int64(len(raw))},
			calls: []fakeCall{{SyscallInit, "m", "", 0}},
		},
		{
			name: "gzip, kernel decompresses nothing: init_module",
			step: Step{Name: "m", Path: "kernel/m.ko.gz", Options: "x=y"},
			want: Result{Module: "m", Syscall: SyscallInit, Compression: "gzip",
				BytesRead: readBoth(files["kernel/m.ko.gz"]), ImageSize: int64(len(raw))},
			calls: []fakeCall{{SyscallInit, "m", "x=y", 0}},
		},
		{
			name: "xz, kernel decompresses nothing: init_module",
			step: Step{Name: "m", Path: "kernel/m.ko.xz"},
			want: Result{Module: "m", Syscall: SyscallInit, Compression: "xz",
				BytesRead: readBoth(files["kernel/m.ko.xz"]), ImageSize: int64(len(raw))},
			calls: []fakeCall{{SyscallInit, "m", "", 0}},
		},
		{
			name:  "kernel without finit_module: init_module",
			step:  Step{Name: "m", Path: "kernel/m.ko"},
			setup: func(k *fakeKernel) { k.noFinit = true },
			want: Result{Module: "m", Syscall: SyscallInit,
				BytesRead: elf64HeaderSize + int64(len(raw)), ImageSize: int64(len(raw))},
			calls: []fakeCall{{SyscallInit, "m", "", 0}},
		},
		{
			name:  "live: no syscall",
			step:  Step{Name: "m", Path: "kernel/m.ko"},
			setup: func(k *fakeKernel) { k.state["m"] = stateLive },
			want:  Result{Module: "m", Skipped: SkipLive},
		},
		{
			name: "builtin step: no syscall",
			step: Step{Name: "m", Builtin: true},
			want: Result{Module: "m", Skipped: SkipBuiltin},
		},
		{
			name:  "sysfs directory without initstate: built in",
			step:  Step{Name: "m", Path: "kernel/m.ko"},
			setup: func(k *fakeKernel) { k.builtin["m"] = true },
			want:  Result{Module: "m", Skipped: SkipBuiltin},
		},
		{
			name:  "EEXIST is success",
			step:  Step{Name: "m", Path: "kernel/m.ko"},
			setup: func(k *fakeKernel) { k.hidden["m"] = true },
			want:  Result{Module: "m", Syscall: SyscallFinit, Exists: true, BytesRead: elf64HeaderSize},
			calls: []fakeCall{{SyscallFinit, "m", "", 0}},
		},
		{
			// A second cpufreq driver's init returns -EEXIST: the
			// module is not loaded, whatever the errno suggests.
			name:    "init returns EEXIST itself",
			step:    Step{Name: "m", Path: "kernel/m.ko"},
			setup:   func(k *fakeKernel) { k.fail["m"] = unix.EEXIST },
			want:    Result{Module: "m", Syscall: SyscallFinit, BytesRead: elf64HeaderSize},
			calls:   []fakeCall{{SyscallFinit, "m", "", 0}},
			wantErr: []error{unix.EEXIST},
		},
		{
			name:    "signature rejected",
			step:    Step{Name: "m", Path: "kernel/m.ko"},
			setup:   func(k *fakeKernel) { k.fail["m"] = unix.EKEYREJECTED },
			want:    Result{Module: "m", Syscall: SyscallFinit, BytesRead: elf64HeaderSize},
			calls:   []fakeCall{{SyscallFinit, "m", "", 0}},
			wantErr: []error{unix.EKEYREJECTED},
		},
		{
			name:    "init fails with ENODEV",
			step:    Step{Name: "m", Path: "kernel/m.ko.gz"},
			setup:   func(k *fakeKernel) { k.fail["m"] = unix.ENODEV },
			want:    Result{Module: "m", Syscall: SyscallInit, Compression: "gzip", BytesRead: readBoth(files["kernel/m.ko.gz"]), ImageSize: int64(len(raw))},
			calls:   []fakeCall{{SyscallInit, "m", "", 0}},
			wantErr: []error{unix.ENODEV},
		},
		{
			name:    "not permitted",
			step:    Step{Name: "m", Path: "kernel/m.ko"},
			setup:   func(k *fakeKernel) { k.fail["m"] = unix.EPERM },
			want:    Result{Module: "m", Syscall: SyscallFinit, BytesRead: elf64HeaderSize},
			calls:   []fakeCall{{SyscallFinit, "m", "", 0}},
			wantErr: []error{unix.EPERM},
		},
		{
			name:    "missing file",
			step:    Step{Name: "m", Path: "kernel/nothere.ko"},
			want:    Result{Module: "m"},
			wantErr: []error{unix.ENOENT, os.ErrNotExist},
		},
		{
			name:    "not ELF: no syscall",
			step:    Step{Name: "m", Path: "kernel/text.ko"},
			want:    Result{Module: "m", BytesRead: int64(len(files["kernel/text.ko"]))},
			wantErr: []error{ErrNotModule, unix.ENOEXEC},
		},
		{
			name:    "truncated header: no syscall",
			step:    Step{Name: "m", Path: "kernel/short.ko"},
			want:    Result{Module: "m", BytesRead: 20},
			wantErr: []error{ErrNotModule, unix.ENOEXEC},
		},
		{
			name:    "empty file: no syscall",
			step:    Step{Name: "m", Path: "kernel/empty.ko"},
			want:    Result{Module: "m"},
			wantErr: []error{ErrNotModule, unix.ENOEXEC},
		},
		{
			name:    "section headers past the end: no syscall",
			step:    Step{Name: "m", Path: "kernel/sections.ko"},
			want:    Result{Module: "m", BytesRead: elf64HeaderSize},
			wantErr: []error{ErrNotModule, unix.ENOEXEC},
		},
		{
			name:    "corrupt xz: no syscall",
			step:    Step{Name: "m", Path: "kernel/badxz.ko.xz"},
			want:    Result{Module: "m", Compression: "xz"},
			anyRead: true,
			wantErr: []error{ErrNotModule, unix.ENOEXEC},
		},
		{
			name:    "zstd named .xz, kernel decompresses xz: user space reads it by its magic and fails",
			step:    Step{Name: "m", Path: "kernel/badzstd.ko.xz"},
			setup:   func(k *fakeKernel) { k.compr = "xz" },
			want:    Result{Module: "m", Compression: "zstd"},
			anyRead: true,
			wantErr: []error{ErrNotModule, unix.ENOEXEC},
		},
		{
			name:    "no file and no install command",
			step:    Step{Name: "m"},
			want:    Result{Module: "m"},
			wantErr: []error{ErrUnknownModule, unix.ENOENT},
		},
	}
	dir := t.TempDir()
	for rel, b := range files {
		writeFile(t, dir, rel, b)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newFakeKernel()
			if tt.setup != nil {
				tt.setup(k)
			}
			got, err := testLoader(t, dir, k).Load(t.Context(), tt.step)
			ignore := []string{"Duration"}
			if tt.anyRead {
				ignore = append(ignore, "BytesRead")
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(Result{}, ignore...)); diff != "" {
				t.Errorf("Result mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.calls, k.syscalls()); diff != "" {
				t.Errorf("syscalls mismatch (-want +got):\n%s", diff)
			}
			checkErr(t, err, tt.wantErr)
			if err != nil {
				var me *ModuleError
				if !errors.As(err, &me) || me.Module != tt.step.Name {
					t.Errorf("error %v is not a *ModuleError for %s", err, tt.step.Name)
				}
			}
		})
	}
}

// readBoth is what Load reads of a file it loads from memory: the header
// to find the compression, then the whole file.
func readBoth(file []byte) int64 {
	return int64(min(len(file), elf64HeaderSize) + len(file))
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
	writeFile(t, dir, "m.ko", makeKo("m"))
	tests := []struct {
		name  string
		first moduleState
		then  moduleState
		want  Result
		calls []fakeCall
	}{
		{"other load succeeds", stateComing, stateLive, Result{Module: "m", Waited: true, Skipped: SkipLive}, nil},
		{"other load fails", stateComing, stateGone, Result{Module: "m", Waited: true, Syscall: SyscallFinit, BytesRead: elf64HeaderSize},
			[]fakeCall{{SyscallFinit, "m", "", 0}}},
		{"unload finishes", stateGoing, stateGone, Result{Module: "m", Waited: true, Syscall: SyscallFinit, BytesRead: elf64HeaderSize},
			[]fakeCall{{SyscallFinit, "m", "", 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newFakeKernel()
			k.state["m"] = tt.first
			l := testLoader(t, dir, k)
			// The loader must have seen the state at least twice before
			// the other load ends: it is polling, not loading.
			polled := make(chan struct{})
			l.k = &countingKernel{kernel: k, after: 2, reached: polled}
			var wg sync.WaitGroup
			wg.Go(func() {
				<-polled
				if calls := k.syscalls(); len(calls) != 0 {
					t.Errorf("syscalls while coming: %v", calls)
				}
				k.setState("m", tt.then)
			})
			got, err := l.Load(t.Context(), Step{Name: "m", Path: "m.ko"})
			wg.Wait()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(Result{}, "Duration")); diff != "" {
				t.Errorf("Result mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.calls, k.syscalls()); diff != "" {
				t.Errorf("syscalls mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// countingKernel closes reached once moduleState has been asked after times.
type countingKernel struct {
	kernel
	mu      sync.Mutex // guards the fields below
	n       int
	after   int
	reached chan struct{}
}

func (c *countingKernel) moduleState(name string) (moduleState, error) {
	st, err := c.kernel.moduleState(name)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n++; c.n == c.after {
		close(c.reached)
	}
	return st, err
}

func TestLoadWaitCancelled(t *testing.T) {
	k := newFakeKernel()
	k.state["m"] = stateComing
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	_, err := testLoader(t, t.TempDir(), k).Load(ctx, Step{Name: "m", Path: "m.ko"})
	checkErr(t, err, []error{context.DeadlineExceeded})
	if calls := k.syscalls(); len(calls) != 0 {
		t.Errorf("syscalls: %v", calls)
	}
}

// TestLoadConcurrent loads one module from many goroutines against the fake
// kernel: all succeed, the module is live, and every load either made the
// syscall, found the module live, waited for it, or got EEXIST.
func TestLoadConcurrent(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "m.ko", makeKo("m"))
	k := newFakeKernel()
	k.latency = 5 * time.Millisecond
	l := testLoader(t, dir, k)
	const n = 16
	results := make([]Result, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { results[i], errs[i] = l.Load(t.Context(), Step{Name: "m", Path: "m.ko"}) })
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
		case r.Syscall != "" && r.Exists, r.Skipped == SkipLive:
		default:
			t.Errorf("load %d: %+v", i, r)
		}
	}
	if loaded != 1 {
		t.Errorf("%d loads initialised the module, want 1", loaded)
	}
	if st, _ := k.moduleState("m"); st != stateLive {
		t.Errorf("state %v, want live", st)
	}
}

func TestInstall(t *testing.T) {
	tests := []struct {
		name    string
		step    Step
		timeout time.Duration
		wantErr []error
		wantMsg string
	}{
		{name: "true", step: Step{Name: "m", Install: "true"}},
		{
			name: "options and module name",
			step: Step{Name: "m", Options: "x=1 y=2",
				Install: `[ "$CMDLINE_OPTS" = 'x=1 y=2' ] && [ "$MODPROBE_MODULE" = m ] && [ "$(printf %s $CMDLINE_OPTS)" = 'x=1y=2' ]`},
		},
		{
			name:    "false",
			step:    Step{Name: "m", Install: "false"},
			wantErr: []error{ErrInstallFailed, unix.EINVAL},
		},
		{
			name:    "output is reported",
			step:    Step{Name: "m", Install: "echo no such firmware >&2; exit 3"},
			wantErr: []error{ErrInstallFailed},
			wantMsg: `load module m: install: install command failed: "echo no such firmware >&2; exit 3": exit status 3: no such firmware`,
		},
		{
			name:    "hanging command is killed at the deadline",
			step:    Step{Name: "m", Install: "sleep 60; true"},
			timeout: 100 * time.Millisecond,
			wantErr: []error{ErrInstallFailed, context.DeadlineExceeded},
		},
		{
			name:    "hanging grandchild is killed too",
			step:    Step{Name: "m", Install: "sh -c 'sleep 60'; true"},
			timeout: 100 * time.Millisecond,
			wantErr: []error{ErrInstallFailed, context.DeadlineExceeded},
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
			k := newFakeKernel()
			got, err := testLoader(t, t.TempDir(), k).Load(ctx, tt.step)
			checkErr(t, err, tt.wantErr)
			if tt.wantMsg != "" && (err == nil || err.Error() != tt.wantMsg) {
				t.Errorf("error %q, want %q", err, tt.wantMsg)
			}
			if !got.Install || got.Syscall != "" {
				t.Errorf("Result %+v, want Install without syscall", got)
			}
			if calls := k.syscalls(); len(calls) != 0 {
				t.Errorf("syscalls: %v", calls)
			}
		})
	}
}

func TestInstallSkippedWhenLive(t *testing.T) {
	k := newFakeKernel()
	k.state["m"] = stateLive
	got, err := testLoader(t, t.TempDir(), k).Load(t.Context(), Step{Name: "m", Install: "false"})
	if err != nil || got.Install || got.Skipped != SkipLive {
		t.Errorf("Load = %+v, %v; want skipped as live", got, err)
	}
}

// TestLoaderRealSysfsState reads initstate through the real kernel type
// from a fake sysfs tree.
func TestLoaderRealSysfsState(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "module/live_mod/initstate", []byte("live\n"))
	writeFile(t, root, "module/coming_mod/initstate", []byte("coming\n"))
	writeFile(t, root, "module/going_mod/initstate", []byte("going\n"))
	writeFile(t, root, "module/odd_mod/initstate", []byte("sleeping\n"))
	writeFile(t, root, "module/builtin_mod/parameters/x", []byte("1\n"))
	writeFile(t, root, "module/compression", []byte("zstd\n"))
	k := sysKernel{root: root}
	tests := []struct {
		name    string
		want    moduleState
		wantErr bool
	}{
		{"live_mod", stateLive, false},
		{"coming_mod", stateComing, false},
		{"going_mod", stateGoing, false},
		{"builtin_mod", stateNoInitstate, false},
		{"absent_mod", stateGone, false},
		{"odd_mod", stateGone, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := k.moduleState(tt.name)
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("moduleState = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
	if c, err := k.compression(); c != "zstd" || err != nil {
		t.Errorf("compression = %q, %v; want zstd", c, err)
	}
	if c, err := (sysKernel{root: t.TempDir()}).compression(); c != "" || err != nil {
		t.Errorf("compression without the file = %q, %v; want none", c, err)
	}
}

// BenchmarkLoad measures the loader's own work per module against the fake
// kernel (sysfs check, open, header read, syscall): the module is unloaded
// between iterations so every load reaches the syscall.
func BenchmarkLoad(b *testing.B) {
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "m.ko"), makeKo("m"), 0o644); err != nil {
		b.Fatal(err)
	}
	k := newFakeKernel()
	l := newLoader(dir, k, nil)
	s := Step{Name: "m", Path: "m.ko"}
	for b.Loop() {
		if _, err := l.Load(b.Context(), s); err != nil {
			b.Fatal(err)
		}
		k.setState("m", stateGone)
	}
}

// TestLoadRealModules loads real Debian modules (testdata/ko, see regen.sh)
// into the fake kernel, which finds the module name in the image's
// .modinfo as the kernel does: the ELF check must accept them, and the
// user-space xz decompression must produce the real image.
func TestLoadRealModules(t *testing.T) {
	plain, err := os.ReadFile("testdata/ko/irqbypass.ko")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		path  string
		compr string
		want  []fakeCall
	}{
		{"6.1 uncompressed", "ko/irqbypass.ko", "", []fakeCall{{SyscallFinit, "irqbypass", "", 0}}},
		{"6.12 xz, kernel decompresses", "ko/irqbypass.ko.xz", "xz", []fakeCall{{SyscallFinit, "irqbypass", "", unix.MODULE_INIT_COMPRESSED_FILE}}},
		{"6.12 xz, user space decompresses", "ko/irqbypass.ko.xz", "", []fakeCall{{SyscallInit, "irqbypass", "", 0}}},
		{"6.12 xz, kernel decompresses zstd", "ko/irqbypass.ko.xz", "zstd", []fakeCall{{SyscallInit, "irqbypass", "", 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newFakeKernel()
			k.compr = tt.compr
			res, err := testLoader(t, "testdata", k).Load(t.Context(), Step{Name: "irqbypass", Path: tt.path})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, k.syscalls()); diff != "" {
				t.Errorf("syscalls mismatch (-want +got):\n%s", diff)
			}
			if res.Syscall == SyscallInit && res.ImageSize <= res.BytesRead {
				t.Errorf("image of %d bytes from %d read: not decompressed", res.ImageSize, res.BytesRead)
			}
		})
	}
	if err := checkELF(plain, int64(len(plain))); err != nil {
		t.Errorf("checkELF(irqbypass.ko): %v", err)
	}
	// The section headers end at 13200+32*64 = 15248 (readelf -h); the
	// module signature follows them.
	for _, size := range []int{15248, 15247, 1000} {
		err := checkELF(plain[:size], int64(size))
		if got, want := err == nil, size == 15248; got != want {
			t.Errorf("checkELF(irqbypass.ko cut to %d bytes) = %v, want ok %v", size, err, want)
		}
	}
}
