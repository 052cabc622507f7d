package modload

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"golang.org/x/sys/unix"
)

// Syscall names the load syscall a Result used.
const (
	SyscallFinit = "finit_module"
	SyscallInit  = "init_module"
)

// Reasons a Result skipped loading.
const (
	SkipLive    = "live"    // already loaded
	SkipBuiltin = "builtin" // built into the kernel
)

// Result describes how one module was loaded (or why it was not).
type Result struct {
	Module string `json:"module"`
	// Skipped is SkipLive or SkipBuiltin when nothing was loaded.
	Skipped string `json:"skipped,omitempty"`
	// Waited is set when another load of the module was in progress
	// (initstate "coming" or "going") and Load waited for it rather than
	// adding a duplicate load.
	Waited bool `json:"waited,omitempty"`
	// Install is set when the module's install command ran instead.
	Install bool `json:"install,omitempty"`
	// Syscall is SyscallFinit or SyscallInit, or "" when none was made.
	Syscall string `json:"syscall,omitempty"`
	// Flags are the finit_module flags.
	Flags int `json:"flags,omitempty"`
	// Exists is set when the kernel answered EEXIST: another loader won
	// the race. Load counts that as success.
	Exists bool `json:"exists,omitempty"`
	// Compression of the file: "", "xz", "zstd" or "gzip".
	Compression string `json:"compression,omitempty"`
	// BytesRead counts bytes this process read from the file; ImageSize
	// is the size of the image handed to init_module.
	BytesRead int64         `json:"bytes_read,omitempty"`
	ImageSize int64         `json:"image_size,omitempty"`
	Duration  time.Duration `json:"duration"`
}

// Loader loads single modules. Its methods are safe for concurrent use.
type Loader struct {
	dir   string
	log   *slog.Logger
	k     Kernel
	shell string
	// Polling for a concurrent load: from pollMin doubling to pollMax.
	pollMin, pollMax time.Duration
	// builtinPolls is how often a directory without initstate is seen
	// before it is taken for a built-in module.
	builtinPolls int
	maxImage     int64

	mu      sync.Mutex // guards the fields below
	compr   string
	comprOK bool
}

// LoaderOption configures a Loader.
type LoaderOption func(*Loader)

// WithKernel makes the Loader load into k instead of the running kernel:
// a model of the kernel's module loader, for tests of the real Loader.
func WithKernel(k Kernel) LoaderOption {
	return func(l *Loader) { l.k = k }
}

// NewLoader returns a Loader for the modules under modulesDir
// (/lib/modules/VERSION, which relative Step paths are joined to), with
// sysfs mounted at sysfs (normally /sys). log may be nil.
func NewLoader(modulesDir, sysfs string, log *slog.Logger, opts ...LoaderOption) *Loader {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &Loader{
		dir:          modulesDir,
		log:          log,
		k:            sysKernel{root: sysfs},
		shell:        "/bin/sh",
		pollMin:      time.Millisecond,
		pollMax:      100 * time.Millisecond,
		builtinPolls: 3,
		// The largest distribution modules are tens of MiB
		// decompressed; anything near this limit is not a module.
		maxImage: 1 << 30,
	}
	for _, o := range opts {
		o(l)
	}
	return l
}

// State reports what the kernel says of a module (/sys/module/NAME), through
// the loader's Kernel: modprobe --dry-run skips a module that is live.
func (l *Loader) State(name string) (ModuleState, error) { return l.k.ModuleState(name) }

// Load loads the module of one step; its dependencies must already be
// loaded. A module that is loaded, built in, or that someone else loads
// meanwhile is success; so is EEXIST. Every other failure is a
// *ModuleError that errors.Is matches against its errno.
func (l *Loader) Load(ctx context.Context, s Step) (Result, error) {
	start := time.Now()
	res := Result{Module: s.Name}
	err := l.load(ctx, s, &res)
	res.Duration = time.Since(start)
	l.log.DebugContext(ctx, "load module", "module", s.Name, "skipped", res.Skipped,
		"syscall", res.Syscall, "exists", res.Exists, "duration", res.Duration, "err", err)
	return res, err
}

func (l *Loader) load(ctx context.Context, s Step, res *Result) error {
	if s.Builtin {
		res.Skipped = SkipBuiltin
		return nil
	}
	if done, err := l.settle(ctx, s, res); done || err != nil {
		return err
	}
	if s.Install != "" {
		res.Install = true
		return l.install(ctx, s)
	}
	if s.Path == "" {
		return &ModuleError{Module: s.Name, Op: "load", Err: ErrUnknownModule}
	}
	return l.insert(ctx, s, res)
}

// settle reads the module's sysfs state and waits out a concurrent load. It
// reports done when there is nothing left to load.
func (l *Loader) settle(ctx context.Context, s Step, res *Result) (done bool, err error) {
	delay := l.pollMin
	noInit := 0
	for {
		st, err := l.k.ModuleState(s.Name)
		if err != nil {
			return false, &ModuleError{Module: s.Name, Op: "read initstate", Err: err}
		}
		switch st {
		case StateGone:
			return false, nil
		case StateLive:
			res.Skipped = SkipLive
			return true, nil
		case StateNoInitstate:
			if noInit++; noInit >= l.builtinPolls {
				res.Skipped = SkipBuiltin
				return true, nil
			}
		case StateComing, StateGoing:
			// Another loader (a modprobe, or the kernel's own
			// request_module) owns this load. A second load
			// syscall now would only allocate the image again
			// and fail with EEXIST, so wait for its outcome.
			res.Waited = true
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return false, &ModuleError{Module: s.Name, Op: "wait for concurrent load", Err: ctx.Err()}
		case <-t.C:
		}
		delay = min(2*delay, l.pollMax)
	}
}

// install runs the module's install command the way modprobe does: through
// /bin/sh -c, with $CMDLINE_OPTS in the command replaced by the options and
// MODPROBE_MODULE naming the module. A command still running when ctx ends
// is killed with its whole process group.
func (l *Loader) install(ctx context.Context, s Step) error {
	line := strings.ReplaceAll(s.Install, "$CMDLINE_OPTS", s.Options)
	cmd := exec.CommandContext(ctx, l.shell, "-c", line)
	cmd.Env = append(os.Environ(), "MODPROBE_MODULE="+s.Name, "CMDLINE_OPTS="+s.Options)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return unix.Kill(-cmd.Process.Pid, unix.SIGKILL) }
	cmd.WaitDelay = time.Second
	out := &tailBuffer{max: 4096}
	cmd.Stdout, cmd.Stderr = out, out
	err := cmd.Run()
	if errors.Is(err, exec.ErrWaitDelay) && cmd.ProcessState != nil && cmd.ProcessState.Success() {
		// The shell succeeded but left a background child holding
		// its output open.
		err = nil
	}
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		err = fmt.Errorf("%w: %q: %w", ErrInstallFailed, line, ctx.Err())
	} else {
		err = fmt.Errorf("%w: %q: %v: %s", ErrInstallFailed, line, err, bytes.TrimSpace(out.Bytes()))
	}
	return &ModuleError{Module: s.Name, Op: "install", Err: err}
}

// tailBuffer keeps the first max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex // guards the field below
	buf bytes.Buffer
	max int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *tailBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

// insert opens the module file and makes the one load syscall.
func (l *Loader) insert(ctx context.Context, s Step, res *Result) error {
	p := s.Path
	if !filepath.IsAbs(p) {
		p = filepath.Join(l.dir, p)
	}
	fail := func(op string, err error) error {
		return &ModuleError{Module: s.Name, Path: p, Op: op, Err: err}
	}
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return fail("open", underlyingErrno(err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fail("stat", underlyingErrno(err))
	}
	hdr := make([]byte, elf64HeaderSize)
	n, err := f.ReadAt(hdr, 0)
	if err != nil && err != io.EOF {
		return fail("read", underlyingErrno(err))
	}
	hdr = hdr[:n]
	res.BytesRead = int64(n)
	res.Compression = compressionOf(hdr)

	kc, err := l.kernelCompression()
	if err != nil {
		l.log.WarnContext(ctx, "cannot read kernel module compression; decompressing in user space", "err", err)
	}
	if res.Compression == "" {
		if err := checkELF(hdr, st.Size()); err != nil {
			return fail("check", err)
		}
	}
	if res.Compression == "" || res.Compression == kc {
		flags := 0
		if res.Compression != "" {
			flags = unix.MODULE_INIT_COMPRESSED_FILE
		}
		if err := ctx.Err(); err != nil {
			return fail(SyscallFinit, err)
		}
		res.Syscall, res.Flags = SyscallFinit, flags
		err := l.k.FinitModule(int(f.Fd()), s.Options, flags)
		if !errors.Is(err, unix.ENOSYS) {
			return l.outcome(ctx, s, res, fail, SyscallFinit, err)
		}
		// No finit_module in this kernel: load from memory.
	}
	image, read, err := readImage(f, res.Compression, l.maxImage)
	res.BytesRead += read
	if err != nil {
		return fail("read", err)
	}
	if err := checkELF(image, int64(len(image))); err != nil {
		return fail("check", err)
	}
	if err := ctx.Err(); err != nil {
		return fail(SyscallInit, err)
	}
	res.Syscall, res.Flags, res.ImageSize = SyscallInit, 0, int64(len(image))
	return l.outcome(ctx, s, res, fail, SyscallInit, l.k.InitModule(image, s.Options))
}

func (l *Loader) outcome(ctx context.Context, s Step, res *Result, fail func(string, error) error, op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EEXIST):
		return l.exists(ctx, s, res, fail, op, err)
	default:
		return fail(op, err)
	}
}

// exists tells the two EEXISTs apart. The kernel answers EEXIST when a
// module of that name is already there (someone loaded it between our sysfs
// check and the syscall): success. But a module's init function may return
// -EEXIST itself, and the syscall passes it on: a second cpufreq driver
// (pcc_cpufreq after acpi_cpufreq registered) does exactly that, and is then
// not loaded at all. Only sysfs says which: live means loaded.
func (l *Loader) exists(ctx context.Context, s Step, res *Result, fail func(string, error) error, op string, err error) error {
	probe := *res
	done, serr := l.settle(ctx, s, &probe)
	if serr != nil {
		return fail(op, errors.Join(err, serr))
	}
	if !done {
		return fail(op, err)
	}
	res.Exists = true
	return nil
}

func (l *Loader) kernelCompression() (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.comprOK {
		return l.compr, nil
	}
	c, err := l.k.Compression()
	if err != nil {
		return "", err
	}
	l.compr, l.comprOK = c, true
	return c, nil
}

// underlyingErrno returns the errno inside an *os.PathError, so the
// ModuleError carries the path once and errors.Is still sees the errno.
func underlyingErrno(err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return err
}

// The magics kmod recognises compressed modules by.
var (
	magicZstd = []byte{0x28, 0xb5, 0x2f, 0xfd}
	magicXz   = []byte{0xfd, '7', 'z', 'X', 'Z', 0}
	magicGzip = []byte{0x1f, 0x8b}
)

// compressionOf names the compression by the file's magic, as kmod does
// (not by its extension).
func compressionOf(hdr []byte) string {
	switch {
	case bytes.HasPrefix(hdr, magicZstd):
		return "zstd"
	case bytes.HasPrefix(hdr, magicXz):
		return "xz"
	case bytes.HasPrefix(hdr, magicGzip):
		return "gzip"
	}
	return ""
}

// readImage reads the whole file, decompressing it, up to max bytes.
func readImage(f *os.File, compression string, max int64) (image []byte, read int64, err error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, 0, underlyingErrno(err)
	}
	cr := &countingReader{r: f}
	var r io.Reader = cr
	switch compression {
	case "xz":
		xr, err := xz.NewReader(cr)
		if err != nil {
			return nil, cr.n, fmt.Errorf("%w: decompress xz: %v", ErrNotModule, err)
		}
		r = xr
	case "zstd":
		zr, err := zstd.NewReader(cr, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(max)))
		if err != nil {
			return nil, cr.n, fmt.Errorf("%w: decompress zstd: %v", ErrNotModule, err)
		}
		defer zr.Close()
		r = zr
	case "gzip":
		gr, err := gzip.NewReader(cr)
		if err != nil {
			return nil, cr.n, fmt.Errorf("%w: decompress gzip: %v", ErrNotModule, err)
		}
		r = gr
	}
	image, err = io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		if compression != "" {
			return nil, cr.n, fmt.Errorf("%w: decompress %s: %v", ErrNotModule, compression, err)
		}
		return nil, cr.n, underlyingErrno(err)
	}
	if int64(len(image)) > max {
		return nil, cr.n, fmt.Errorf("%w: image larger than %d bytes", ErrNotModule, max)
	}
	return image, cr.n, nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

const (
	elf32HeaderSize = 52
	elf64HeaderSize = 64
)

// checkELF rejects what the kernel's ELF validity check would reject with
// ENOEXEC and what can be seen in the header alone: a bad magic, a header
// cut short, section headers past the end of the file.
func checkELF(hdr []byte, size int64) error {
	if len(hdr) < 4 || !bytes.Equal(hdr[:4], []byte("\x7fELF")) {
		return fmt.Errorf("%w: no ELF magic", ErrNotModule)
	}
	if len(hdr) < 6 {
		return fmt.Errorf("%w: truncated ELF header", ErrNotModule)
	}
	var bo binary.ByteOrder
	switch hdr[5] {
	case 1:
		bo = binary.LittleEndian
	case 2:
		bo = binary.BigEndian
	default:
		return fmt.Errorf("%w: unknown ELF byte order %d", ErrNotModule, hdr[5])
	}
	var shoff, shentsize, shnum uint64
	switch hdr[4] {
	case 1:
		if len(hdr) < elf32HeaderSize {
			return fmt.Errorf("%w: truncated ELF header", ErrNotModule)
		}
		shoff = uint64(bo.Uint32(hdr[0x20:]))
		shentsize = uint64(bo.Uint16(hdr[0x2e:]))
		shnum = uint64(bo.Uint16(hdr[0x30:]))
	case 2:
		if len(hdr) < elf64HeaderSize {
			return fmt.Errorf("%w: truncated ELF header", ErrNotModule)
		}
		shoff = bo.Uint64(hdr[0x28:])
		shentsize = uint64(bo.Uint16(hdr[0x3a:]))
		shnum = uint64(bo.Uint16(hdr[0x3c:]))
	default:
		return fmt.Errorf("%w: unknown ELF class %d", ErrNotModule, hdr[4])
	}
	end := shoff + shentsize*shnum
	if end < shoff || size < 0 || end > uint64(size) {
		return fmt.Errorf("%w: truncated: section headers end at %d, file has %d bytes", ErrNotModule, end, size)
	}
	return nil
}
