package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/gudevd/gudevd/cmd/gudevd/internal/modules"
	"github.com/gudevd/gudevd/modalias"
)

// cmdResolve prints the modules udev would load for each MODALIAS (the
// blacklist applied, as modprobe -b does), one a line; with "-" it reads
// MODALIAS lines from stdin and prints "MODALIAS<TAB>mod mod ..." for each.
func cmdResolve(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "resolve")
	root := fs.String("root", "/", "read DIR/lib/modules/VERSION and the modprobe.d directories under DIR")
	version := fs.String("kernel-version", "", "kernel version (default: uname -r)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: gudevd resolve [--root DIR] [--kernel-version V] MODALIAS... | -\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errUsage
	}
	ix, err := loadResolveIndex(*root, *version)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(e.stdout)
	if fs.NArg() == 1 && fs.Arg(0) == "-" {
		err = resolveStream(ctx, ix, e.stdin, w)
	} else {
		for _, a := range fs.Args() {
			for _, m := range ix.Resolve(a) {
				fmt.Fprintln(w, m)
			}
		}
	}
	if ferr := w.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("write output: %w", ferr)
	}
	return err
}

// loadResolveIndex reads root/lib/modules/version and root's modprobe.d,
// as modprobe -d root does. The kernel command line counts only for the
// running system (root "/").
func loadResolveIndex(root, version string) (*modalias.Index, error) {
	if version == "" {
		v, err := modules.KernelRelease()
		if err != nil {
			return nil, err
		}
		version = v
	}
	dir := filepath.Join(root, "lib/modules", version)
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("read module directory: %w", err)
	}
	src := modalias.Sources{Modules: os.DirFS(dir), Root: os.DirFS(root)}
	if filepath.Clean(root) == "/" {
		src.Cmdline = modules.ReadCmdline()
	}
	ix, err := modalias.Load(src)
	if err != nil {
		var fe *modalias.FileError
		if errors.As(err, &fe) {
			fe.File = filepath.Join(dir, fe.File)
		}
		return nil, fmt.Errorf("load module index: %w", err)
	}
	return ix, nil
}

// resolveStream answers one MODALIAS a line until EOF or cancellation.
func resolveStream(ctx context.Context, ix *modalias.Index, r io.Reader, w *bufio.Writer) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if err := ctx.Err(); err != nil {
			return err
		}
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" {
			continue
		}
		fmt.Fprintf(w, "%s\t%s\n", line, strings.Join(ix.Resolve(line), " "))
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read stdin: %w", err)
	}
	return nil
}
