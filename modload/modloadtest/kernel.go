package modloadtest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gudevd/gudevd/modload"
	"golang.org/x/sys/unix"
)

// Kernel models what modload.Loader sees of the kernel's module loader.
// Its methods are safe for concurrent use.
type Kernel struct {
	mu      sync.Mutex // guards the fields below
	changed *sync.Cond // signalled on every state change
	state   map[string]modload.ModuleState
	// hidden modules are loaded but sysfs does not show them yet, as in
	// the window between another loader's syscall and sysfs: the
	// loader's check passes and the syscall gets EEXIST.
	hidden  map[string]bool
	builtin map[string]bool
	fail    map[string]unix.Errno // init of that module fails
	latency time.Duration         // how long a module's init runs
	compr   string                // /sys/module/compression
	noFinit bool                  // a kernel without finit_module
	calls   []Call
	record  string // file every call is appended to, or ""
}

// Call is one load syscall the Kernel received.
type Call struct {
	Syscall string // modload.SyscallFinit or modload.SyscallInit
	Module  string // the name in the image; "" when it names none
	Params  string
	Flags   int
	// Result is "ok" or the name of the errno the syscall returned.
	Result string
}

// NewKernel returns a kernel with no module loaded that decompresses
// nothing and whose inits take no time.
func NewKernel() *Kernel {
	k := &Kernel{
		state:   make(map[string]modload.ModuleState),
		hidden:  make(map[string]bool),
		builtin: make(map[string]bool),
		fail:    make(map[string]unix.Errno),
	}
	k.changed = sync.NewCond(&k.mu)
	return k
}

// SetState sets what sysfs says of a module, as another loader or an
// unload would.
func (k *Kernel) SetState(name string, st modload.ModuleState) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if st == modload.StateGone {
		delete(k.state, name)
	} else {
		k.state[name] = st
	}
	k.changed.Broadcast()
}

// SetBuiltin makes sysfs show the module's directory without initstate
// for good, as for a built-in module with parameters.
func (k *Kernel) SetBuiltin(name string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.builtin[name] = true
}

// Hide makes the module loaded without sysfs showing it: the next load of
// it gets EEXIST, and sysfs shows it live from then on.
func (k *Kernel) Hide(name string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.hidden[name] = true
}

// Fail makes every init of the module fail with errno.
func (k *Kernel) Fail(name string, errno unix.Errno) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.fail[name] = errno
}

// SetLatency sets how long each module's init runs; loads of other
// modules run meanwhile.
func (k *Kernel) SetLatency(d time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.latency = d
}

// SetCompression sets /sys/module/compression: "xz", "zstd", "gzip" or ""
// (a kernel before 6.4, which decompresses nothing).
func (k *Kernel) SetCompression(c string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.compr = c
}

// DisableFinit makes finit_module fail with ENOSYS, as on kernels before
// 3.8.
func (k *Kernel) DisableFinit() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.noFinit = true
}

// RecordTo makes every later load syscall append one line to the file at
// path (created if needed), in a form ReadCalls reads. The line is written
// when the syscall returns; a syscall whose line cannot be written fails
// with the write's error.
func (k *Kernel) RecordTo(path string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.record = path
}

// Calls returns the load syscalls this Kernel received, in order.
func (k *Kernel) Calls() []Call {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]Call(nil), k.calls...)
}

// ModuleState implements modload.Kernel.
func (k *Kernel) ModuleState(name string) (modload.ModuleState, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.builtin[name] {
		return modload.StateNoInitstate, nil
	}
	return k.state[name], nil
}

// Compression implements modload.Kernel.
func (k *Kernel) Compression() (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.compr, nil
}

// FinitModule implements modload.Kernel: it reads the file behind fd as
// the kernel does, decompressing it for MODULE_INIT_COMPRESSED_FILE when
// the kernel can.
func (k *Kernel) FinitModule(fd int, params string, flags int) error {
	k.mu.Lock()
	noFinit, c := k.noFinit, k.compr
	k.mu.Unlock()
	if noFinit {
		return unix.ENOSYS
	}
	image, err := readFd(fd)
	if err != nil {
		return err
	}
	switch {
	case flags&^unix.MODULE_INIT_COMPRESSED_FILE != 0:
		return unix.EINVAL
	case flags&unix.MODULE_INIT_COMPRESSED_FILE != 0:
		if c == "" {
			// Kernels without module decompression reject the flag.
			return unix.EINVAL
		}
		if image, err = decompress(c, image); err != nil {
			return unix.EBADMSG
		}
	}
	return k.load(Call{Syscall: modload.SyscallFinit, Module: NameOf(image), Params: params, Flags: flags})
}

// InitModule implements modload.Kernel.
func (k *Kernel) InitModule(image []byte, params string) error {
	return k.load(Call{Syscall: modload.SyscallInit, Module: NameOf(image), Params: params})
}

// load is the kernel's load_module: the image must name a module; a load
// of a name already present waits while that one is coming and then fails
// with EEXIST.
func (k *Kernel) load(c Call) error {
	errno := k.init(c.Module)
	c.Result = "ok"
	if errno != 0 {
		c.Result = unix.ErrnoName(errno)
	}
	k.mu.Lock()
	k.calls = append(k.calls, c)
	record := k.record
	k.mu.Unlock()
	if record != "" {
		if err := appendCall(record, c); err != nil {
			return err
		}
	}
	if errno != 0 {
		return errno
	}
	return nil
}

// init runs a module's init and returns its errno, 0 for success.
func (k *Kernel) init(name string) unix.Errno {
	if name == "" {
		return unix.ENOEXEC
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for k.state[name] == modload.StateComing || k.state[name] == modload.StateGoing {
		k.changed.Wait()
	}
	if k.state[name] == modload.StateLive || k.hidden[name] {
		// The refused duplicate finds the module there: sysfs shows it
		// from now on.
		delete(k.hidden, name)
		k.state[name] = modload.StateLive
		return unix.EEXIST
	}
	k.state[name] = modload.StateComing
	k.changed.Broadcast()
	latency := k.latency
	k.mu.Unlock()
	time.Sleep(latency)
	k.mu.Lock()
	defer k.changed.Broadcast()
	if errno := k.fail[name]; errno != 0 {
		delete(k.state, name)
		return errno
	}
	k.state[name] = modload.StateLive
	return 0
}

// readFd reads a whole file by descriptor without moving its offset, as
// the kernel reads the file behind finit_module's fd.
func readFd(fd int) ([]byte, error) {
	var out []byte
	buf := make([]byte, 64<<10)
	for off := int64(0); ; {
		n, err := unix.Pread(fd, buf, off)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return out, nil
		}
		out = append(out, buf[:n]...)
		off += int64(n)
	}
}

// appendCall writes c as one line with a single write(2) on an O_APPEND
// file, so that the lines of concurrent processes do not mix.
func appendCall(path string, c Call) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("record load syscall: %w", err)
	}
	line := fmt.Sprintf("%s\t%s\t%s\t%d\t%s\n", c.Syscall, c.Module, c.Result, c.Flags, strconv.Quote(c.Params))
	_, werr := f.WriteString(line)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("record load syscall: %w", werr)
	}
	return nil
}

// ReadCalls reads the calls recorded by every Kernel that RecordTo pointed
// at path, in the order they returned. A missing file is no call.
func ReadCalls(path string) ([]Call, error) {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Call
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		c, err := parseCall(sc.Text())
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		out = append(out, c)
	}
	return out, sc.Err()
}

func parseCall(line string) (Call, error) {
	f := strings.SplitN(line, "\t", 5)
	if len(f) != 5 {
		return Call{}, fmt.Errorf("want 5 fields, got %q", line)
	}
	flags, err := strconv.Atoi(f[3])
	if err != nil {
		return Call{}, fmt.Errorf("flags: %w", err)
	}
	params, err := strconv.Unquote(f[4])
	if err != nil {
		return Call{}, fmt.Errorf("params: %w", err)
	}
	return Call{Syscall: f[0], Module: f[1], Result: f[2], Flags: flags, Params: params}, nil
}
