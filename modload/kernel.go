package modload

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// ModuleState is what /sys/module/NAME says about a module.
type ModuleState int

const (
	// StateGone: no /sys/module/NAME, the module is not in the kernel.
	StateGone ModuleState = iota
	// StateLive: initstate "live", loaded and initialised.
	StateLive
	// StateComing: initstate "coming", some other load is running the
	// module's init function right now.
	StateComing
	// StateGoing: initstate "going", being unloaded or its init failed.
	StateGoing
	// StateNoInitstate: the directory exists without initstate. Built-in
	// modules with parameters look like this for good; a loadable module
	// looks like this for the instant between the kernel creating its
	// kobject and adding its attributes.
	StateNoInitstate
)

func (s ModuleState) String() string {
	if s < StateGone || s > StateNoInitstate {
		return fmt.Sprintf("ModuleState(%d)", int(s))
	}
	return [...]string{"gone", "live", "coming", "going", "no initstate"}[s]
}

// Kernel is the loader's system boundary: the two load syscalls and the
// sysfs files that describe loaded modules. The real one (NewLoader's
// default) makes the syscalls and reads sysfs; tests give the Loader a
// model of the kernel's module loader instead (WithKernel, and
// modloadtest.Kernel).
type Kernel interface {
	// FinitModule loads the module file open at fd (finit_module(2)).
	FinitModule(fd int, params string, flags int) error
	// InitModule loads a module image from memory (init_module(2)).
	InitModule(image []byte, params string) error
	// ModuleState reads /sys/module/NAME/initstate.
	ModuleState(name string) (ModuleState, error)
	// Compression reads /sys/module/compression: the compression the
	// kernel decompresses itself ("xz", "zstd" or "gzip"), or "".
	Compression() (string, error)
}

// sysKernel is the real kernel, with sysfs mounted at root.
type sysKernel struct {
	root string
}

func (k sysKernel) FinitModule(fd int, params string, flags int) error {
	return unix.FinitModule(fd, params, flags)
}

func (k sysKernel) InitModule(image []byte, params string) error {
	return unix.InitModule(image, params)
}

func (k sysKernel) ModuleState(name string) (ModuleState, error) {
	dir := filepath.Join(k.root, "module", name)
	b, err := os.ReadFile(filepath.Join(dir, "initstate"))
	if errors.Is(err, fs.ErrNotExist) {
		if st, err := os.Stat(dir); err == nil && st.IsDir() {
			return StateNoInitstate, nil
		}
		return StateGone, nil
	}
	if err != nil {
		return StateGone, err
	}
	return parseInitstate(string(b))
}

func parseInitstate(s string) (ModuleState, error) {
	switch strings.TrimSpace(s) {
	case "live":
		return StateLive, nil
	case "coming":
		return StateComing, nil
	case "going":
		return StateGoing, nil
	}
	return StateGone, fmt.Errorf("parse initstate %q: unknown state", s)
}

func (k sysKernel) Compression() (string, error) {
	b, err := os.ReadFile(filepath.Join(k.root, "module", "compression"))
	if errors.Is(err, fs.ErrNotExist) {
		// Kernels before 6.4 cannot decompress modules.
		return "", nil
	}
	if err != nil {
		return "", err
	}
	switch c := strings.TrimSpace(string(b)); c {
	case "xz", "zstd", "gzip":
		return c, nil
	default:
		return "", fmt.Errorf("parse /sys/module/compression %q: unknown compression", c)
	}
}
