package modload

import (
	"bytes"
	"compress/gzip"
	"io"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"golang.org/x/sys/unix"
)

// fakeKernel models what the loader sees of the kernel's module loader:
// the sysfs initstate of every module ("coming" while its init runs, "live"
// after, gone when init fails), one in-flight load per module name with
// later loads of the same name waiting for it and getting EEXIST, errnos
// from init, init latency, and /sys/module/compression.
type fakeKernel struct {
	mu      sync.Mutex // guards the fields below
	changed *sync.Cond // signalled on every state change
	state   map[string]moduleState
	// hidden modules are loaded but sysfs does not show them yet, as in
	// the window between another loader's syscall and sysfs: the
	// loader's check passes and the syscall gets EEXIST.
	hidden  map[string]bool
	builtin map[string]bool
	fail    map[string]unix.Errno // init of that module fails
	latency time.Duration         // how long a module's init runs
	compr   string                // /sys/module/compression
	noFinit bool                  // a kernel without finit_module
	calls   []fakeCall
}

type fakeCall struct {
	Syscall string
	Module  string
	Params  string
	Flags   int
}

func newFakeKernel() *fakeKernel {
	k := &fakeKernel{
		state:   make(map[string]moduleState),
		hidden:  make(map[string]bool),
		builtin: make(map[string]bool),
		fail:    make(map[string]unix.Errno),
	}
	k.changed = sync.NewCond(&k.mu)
	return k
}

func (k *fakeKernel) setState(name string, st moduleState) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if st == stateGone {
		delete(k.state, name)
	} else {
		k.state[name] = st
	}
	k.changed.Broadcast()
}

func (k *fakeKernel) moduleState(name string) (moduleState, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.builtin[name] {
		return stateNoInitstate, nil
	}
	return k.state[name], nil
}

func (k *fakeKernel) compression() (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.compr, nil
}

func (k *fakeKernel) finitModule(fd int, params string, flags int) error {
	if k.noFinit {
		return unix.ENOSYS
	}
	raw, err := readFd(fd)
	if err != nil {
		return err
	}
	image := raw
	switch {
	case flags&^unix.MODULE_INIT_COMPRESSED_FILE != 0:
		return unix.EINVAL
	case flags&unix.MODULE_INIT_COMPRESSED_FILE != 0:
		k.mu.Lock()
		c := k.compr
		k.mu.Unlock()
		if c == "" {
			// Kernels without module decompression reject the flag.
			return unix.EINVAL
		}
		if image, err = decompress(c, raw); err != nil {
			return unix.EBADMSG
		}
	}
	return k.load(SyscallFinit, image, params, flags)
}

func (k *fakeKernel) initModule(image []byte, params string) error {
	return k.load(SyscallInit, image, params, 0)
}

// load is the kernel's load_module: the image must be ELF naming a module;
// a load of a name already present waits while that one is coming and then
// fails with EEXIST.
func (k *fakeKernel) load(syscall string, image []byte, params string, flags int) error {
	name := fakeModuleName(image)
	k.mu.Lock()
	defer k.mu.Unlock()
	k.calls = append(k.calls, fakeCall{Syscall: syscall, Module: name, Params: params, Flags: flags})
	if name == "" {
		return unix.ENOEXEC
	}
	for k.state[name] == stateComing || k.state[name] == stateGoing {
		k.changed.Wait()
	}
	if k.state[name] == stateLive || k.hidden[name] {
		// The refused duplicate finds the module there: sysfs shows it
		// from now on.
		delete(k.hidden, name)
		k.state[name] = stateLive
		return unix.EEXIST
	}
	k.state[name] = stateComing
	k.changed.Broadcast()
	k.mu.Unlock()
	time.Sleep(k.latency)
	k.mu.Lock()
	if errno := k.fail[name]; errno != 0 {
		delete(k.state, name)
		k.changed.Broadcast()
		return errno
	}
	k.state[name] = stateLive
	k.changed.Broadcast()
	return nil
}

func (k *fakeKernel) syscalls() []fakeCall {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]fakeCall(nil), k.calls...)
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

// fakeModuleName finds the "name=" that makeKo puts after the ELF header,
// standing in for the kernel reading .gnu.linkonce.this_module.
func fakeModuleName(image []byte) string {
	if checkELF(image, int64(len(image))) != nil {
		return ""
	}
	_, after, ok := bytes.Cut(image, []byte("\x00name="))
	if !ok {
		return ""
	}
	name, _, _ := bytes.Cut(after, []byte{0})
	return string(name)
}

// makeKo returns the smallest file the loader and the fake accept as
// module name: a valid ELF64 header without sections, then its name.
func makeKo(name string) []byte {
	h := make([]byte, elf64HeaderSize)
	copy(h, "\x7fELF")
	h[4], h[5], h[6] = 2, 1, 1 // ELFCLASS64, little endian, EV_CURRENT
	h[0x10] = 1                // ET_REL
	h[0x12] = 62               // EM_X86_64
	h[0x34] = elf64HeaderSize  // e_ehsize
	return append(h, "\x00name="+name+"\x00"...)
}

func compress(t interface{ Fatal(...any) }, c string, b []byte) []byte {
	var buf bytes.Buffer
	var w io.WriteCloser
	var err error
	switch c {
	case "xz":
		w, err = xz.NewWriter(&buf)
	case "zstd":
		w, err = zstd.NewWriter(&buf)
	case "gzip":
		w = gzip.NewWriter(&buf)
	default:
		return b
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func decompress(c string, b []byte) ([]byte, error) {
	var r io.Reader
	var err error
	switch c {
	case "xz":
		r, err = xz.NewReader(bytes.NewReader(b))
	case "zstd":
		var d *zstd.Decoder
		d, err = zstd.NewReader(bytes.NewReader(b))
		if err == nil {
			defer d.Close()
			r = d
		}
	case "gzip":
		r, err = gzip.NewReader(bytes.NewReader(b))
	}
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}
