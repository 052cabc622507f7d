package modules

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/gudevd/gudevd/modalias"
)

// OpenCatalog is LoadCatalog for a process that makes a few lookups and
// exits, such as the kernel's modprobe helper when no daemon runs: it reads
// depmod's .bin indexes as libkmod does, mapped, touching only the nodes
// its lookups walk, instead of parsing every text file (see modalias.Open).
// Close it after the last lookup.
func OpenCatalog(t Tree, cmdline string) (*Catalog, error) {
	idx, err := modalias.Open(modalias.Sources{Modules: os.DirFS(t.Dir), Root: os.DirFS(t.Root), Config: t.Config, Cmdline: cmdline})
	if err != nil {
		return nil, fmt.Errorf("open module index: %w", err)
	}
	return NewCatalog(idx), nil
}

// Close logs what the index found damaged, in modprobe.d and in the parts
// of the .bin indexes the lookups read, and releases the index's mappings.
// The catalog must not be used afterwards.
func (c *Catalog) Close(log *slog.Logger) error {
	for _, p := range c.index.Problems() {
		log.Warn("skipped damaged part of the module index", "err", p)
	}
	return c.index.Close()
}
