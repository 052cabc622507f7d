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

// moduleState is what /sys/module/NAME says about a module.
type moduleState int

const (
	// stateGone: no /sys/module/NAME, the module is not in the kernel.
	stateGone moduleState = iota
	// stateLive: initstate "live", loaded and initialised.
	stateLive
	// stateComing: initstate "coming", some other load is running the
	// module's init function right now.
	stateComing
	// stateGoing: initstate "going", being unloaded or its init failed.
	stateGoing
	// stateNoInitstate: the directory exists without initstate. Built-in
	// modules with parameters look like this for good; a loadable module
	// looks like this for the instant between the kernel creating its
	// kobject and adding its attributes.
	stateNoInitstate
)

func (s moduleState) String() string {
	return [...]string{"gone", "live", "coming", "going", "no initstate"}[s]
}

// kernel is the system boundary of the loader: the two load syscalls and the
// sysfs files that describe loaded modules.
type kernel interface {
	// finitModule loads the module file open at fd.
	finitModule(fd int, params string, flags int) error
	// initModule loads a module image from memory.
	initModule(image []byte, params string) error
	// moduleState reads /sys/module/NAME/initstate.
	moduleState(name string) (moduleState, error)
	// compression reads /sys/module/compression: the compression the
	// kernel decompresses itself ("xz", "zstd" or "gzip"), or "".
	compression() (string, error)
}

// sysKernel is the real kernel, with sysfs mounted at root.
type sysKernel struct {
	root string
}

func (k sysKernel) finitModule(fd int, params string, flags int) error {
	return unix.FinitModule(fd, params, flags)
}

func (k sysKernel) initModule(image []byte, params string) error {
	return unix.InitModule(image, params)
}

func (k sysKernel) moduleState(name string) (moduleState, error) {
	dir := filepath.Join(k.root, "module", name)
	b, err := os.ReadFile(filepath.Join(dir, "initstate"))
	if errors.Is(err, fs.ErrNotExist) {
		if st, err := os.Stat(dir); err == nil && st.IsDir() {
			return stateNoInitstate, nil
		}
		return stateGone, nil
	}
	if err != nil {
		return stateGone, err
	}
	return parseInitstate(string(b))
}

func parseInitstate(s string) (moduleState, error) {
	switch strings.TrimSpace(s) {
	case "live":
		return stateLive, nil
	case "coming":
		return stateComing, nil
	case "going":
		return stateGoing, nil
	}
	return stateGone, fmt.Errorf("parse initstate %q: unknown state", s)
}

func (k sysKernel) compression() (string, error) {
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
