package qemu

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// Kernel is a Debian kernel package the harness boots.
type Kernel struct {
	Name    string // short name used in file names and tables: "6.1"
	Package string // Debian binary package with vmlinuz and modules
	Release string // uname -r, the /lib/modules directory name
}

// Kernels are the pinned kernels: bookworm's 6.1 (plain .ko files, loaded
// with finit_module) and the 6.12 backport whose modules are .ko.xz that
// the kernel itself decompresses (finit_module with
// MODULE_INIT_COMPRESSED_FILE).
var Kernels = []Kernel{
	{Name: "6.1", Package: "linux-image-6.1.0-47-amd64-unsigned", Release: "6.1.0-47-amd64"},
	{Name: "6.12", Package: "linux-image-6.12.117+deb12-amd64-unsigned", Release: "6.12.117+deb12-amd64"},
}

// KernelByName looks a kernel up by its short name.
func KernelByName(name string) (Kernel, error) {
	for _, k := range Kernels {
		if k.Name == name {
			return k, nil
		}
	}
	return Kernel{}, fmt.Errorf("look up kernel %q: unknown (have 6.1, 6.12)", name)
}

// kernelTree is a kernel package extracted in the cache with depmod run
// over its full module tree.
type kernelTree struct {
	Kernel
	Vmlinuz string
	ModDir  string // .../lib/modules/<release>
}

func (h *Harness) kernelTree(ctx context.Context, k Kernel) (*kernelTree, error) {
	root, err := h.debs().Root(ctx, k.Package)
	if err != nil {
		return nil, err
	}
	t := &kernelTree{
		Kernel:  k,
		Vmlinuz: filepath.Join(root, "boot", "vmlinuz-"+k.Release),
		ModDir:  filepath.Join(root, "lib", "modules", k.Release),
	}
	if _, err := os.Stat(t.Vmlinuz); err != nil {
		return nil, fmt.Errorf("find kernel image of %s: %w", k.Package, err)
	}
	// The package ships no depmod output: Debian generates it in postinst.
	if _, err := os.Stat(filepath.Join(t.ModDir, "modules.dep")); err != nil {
		h.progress("running depmod over %s", k.Release)
		if err := runTool(ctx, "", "depmod", "-b", root, k.Release); err != nil {
			return nil, fmt.Errorf("index modules of %s: %w", k.Release, err)
		}
	}
	return t, nil
}
