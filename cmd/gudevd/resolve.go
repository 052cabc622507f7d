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
	ix, warnings, err := loadResolveIndex(*root, *version)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		fmt.Fprintf(e.stderr, "gudevd resolve: warning: %s\n", w)
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
// running system (root "/"). Like modprobe, it skips malformed lines and
// returns a warning naming file and line for each.
func loadResolveIndex(root, version string) (*modalias.Index, []string, error) {
	if version == "" {
		v, err := modules.KernelRelease()
		if err != nil {
			return nil, nil, err
		}
		version = v
	}
	dir := filepath.Join(root, "lib/modules", version)
	if _, err := os.Stat(dir); err != nil {
		return nil, nil, fmt.Errorf("read module directory: %w", err)
	}
	src := modalias.Sources{Modules: os.DirFS(dir), Root: os.DirFS(root)}
	if filepath.Clean(root) == "/" {
		src.Cmdline = modules.ReadCmdline()
	}
	ix, err := modalias.Load(src)
	if err != nil {
		var fe *modalias.FileError
		if errors.As(err, &fe) {
			fe.File = hostPath(fe.File, root, dir)
		}
		return nil, nil, fmt.Errorf("load module index: %w", err)
	}
	var warnings []string
	for _, p := range ix.Problems() {
		var fe *modalias.FileError
		if errors.As(p, &fe) {
			named := *fe // the index's own error stays as it is
			named.File = hostPath(fe.File, root, dir)
			p = &named
		}
		warnings = append(warnings, p.Error())
	}
	return ix, warnings, nil
}

// hostPath names a file of the index as this host sees it: modalias names
// modprobe.d files from the root ("/etc/modprobe.d/x.conf") and depmod's
// files from the modules directory ("modules.alias").
func hostPath(file, root, dir string) string {
	if filepath.IsAbs(file) {
		return filepath.Join(root, file)
	}
	return filepath.Join(dir, file)
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
