package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/gudevd/gudevd/modalias"
	"github.com/gudevd/gudevd/modload"
	"golang.org/x/sys/unix"
)

// kernelRelease is `uname -r`: the default module tree is
// /lib/modules/$(uname -r), as for modprobe.
func kernelRelease() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", fmt.Errorf("read kernel release: %w", err)
	}
	return unix.ByteSliceToString(u.Release[:]), nil
}

// modulesDirFor returns dir if set, else root/lib/modules/$(uname -r).
func modulesDirFor(root, dir string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	rel, err := kernelRelease()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "lib/modules", rel), nil
}

// readCmdline returns the kernel command line, or "" where /proc is not
// mounted: the knobs it carries are optional.
func readCmdline() string {
	b, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return ""
	}
	return string(b)
}

// loadCatalog reads the module index, modules.dep and modprobe.d under root.
// A damaged modules.dep line loses only the modules on it: the rest of the
// tree still loads, and the damage is logged.
func loadCatalog(log *slog.Logger, root, modulesDir, cmdline string) (*catalog, error) {
	mfs := os.DirFS(modulesDir)
	idx, err := modalias.Load(modalias.Sources{Modules: mfs, Root: os.DirFS(root), Cmdline: cmdline})
	if err != nil {
		return nil, fmt.Errorf("load module index: %w", err)
	}
	deps, err := modload.LoadDeps(mfs)
	if deps == nil {
		return nil, fmt.Errorf("load module dependencies: %w", err)
	}
	if err != nil {
		log.Warn("skip damaged modules.dep lines", "err", err)
	}
	return (&catalog{index: idx, deps: deps}).withConfig(idx.Config()), nil
}
