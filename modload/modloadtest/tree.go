package modloadtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Module is one module of a tree WriteTree writes.
type Module struct {
	Name string
	// Deps are the modules it needs as modules.dep lists them: its whole
	// closure, a module before the modules it needs.
	Deps []string
	// Aliases are its modules.alias patterns.
	Aliases []string
	// Compression is "", "xz", "zstd" or "gzip": the file is
	// kernel/NAME.ko with the matching extension.
	Compression string
}

// extensions are the file name endings of compressed modules.
var extensions = map[string]string{"": ".ko", "xz": ".ko.xz", "zstd": ".ko.zst", "gzip": ".ko.gz"}

// WriteTree writes a module tree under dir, as depmod leaves
// /lib/modules/VERSION: modules.dep and modules.alias listing mods in
// their order, an empty modules.builtin, and for each module a MakeKo file,
// compressed as asked, that the Loader loads into a Kernel. A dependency
// that is not one of mods is listed as kernel/NAME.ko without a file.
func WriteTree(dir string, mods ...Module) error {
	exts := make(map[string]string, len(mods))
	for _, m := range mods {
		ext, ok := extensions[m.Compression]
		if !ok {
			return fmt.Errorf("write module tree: %s: unknown compression %q", m.Name, m.Compression)
		}
		exts[m.Name] = ext
	}
	path := func(name string) string {
		if ext, ok := exts[name]; ok {
			return "kernel/" + name + ext
		}
		return "kernel/" + name + ".ko"
	}
	var dep, alias strings.Builder
	for _, m := range mods {
		fmt.Fprintf(&dep, "%s:", path(m.Name))
		for _, d := range m.Deps {
			fmt.Fprintf(&dep, " %s", path(d))
		}
		dep.WriteString("\n")
		for _, a := range m.Aliases {
			fmt.Fprintf(&alias, "alias %s %s\n", a, m.Name)
		}
		ko, err := Compress(m.Compression, MakeKo(m.Name))
		if err != nil {
			return fmt.Errorf("write module tree: %w", err)
		}
		if err := writeFile(filepath.Join(dir, path(m.Name)), ko); err != nil {
			return err
		}
	}
	for name, data := range map[string]string{"modules.dep": dep.String(), "modules.alias": alias.String(), "modules.builtin": ""} {
		if err := writeFile(filepath.Join(dir, name), []byte(data)); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(name string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return fmt.Errorf("write module tree: %w", err)
	}
	if err := os.WriteFile(name, data, 0o644); err != nil {
		return fmt.Errorf("write module tree: %w", err)
	}
	return nil
}
