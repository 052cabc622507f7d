package qemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ErrMissingTool is returned when a host program the harness needs (qemu,
// apt-get, dpkg-deb, depmod) is not installed.
var ErrMissingTool = errors.New("missing host tool")

// Debs downloads Debian packages with `apt-get download` into the cache and
// extracts each into its own directory. Nothing is installed on the host.
type Debs struct {
	Dir      string    // holds the .deb files and the extracted trees
	Progress io.Writer // download and extraction progress, may be nil
}

func (d *Debs) progress(format string, args ...any) {
	if d.Progress != nil {
		fmt.Fprintf(d.Progress, format+"\n", args...)
	}
}

// Root returns the directory pkg is extracted in, downloading and
// extracting it first if needed.
func (d *Debs) Root(ctx context.Context, pkg string) (string, error) {
	root := filepath.Join(d.Dir, "root", pkg)
	if _, err := os.Stat(filepath.Join(root, ".done")); err == nil {
		return root, nil
	}
	deb, err := d.Download(ctx, pkg)
	if err != nil {
		return "", err
	}
	d.progress("extracting %s", filepath.Base(deb))
	if err := os.RemoveAll(root); err != nil {
		return "", fmt.Errorf("clear %s: %w", root, err)
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", root, err)
	}
	if err := runTool(ctx, "", "dpkg-deb", "-x", deb, root); err != nil {
		return "", fmt.Errorf("extract %s: %w", pkg, err)
	}
	if err := os.WriteFile(filepath.Join(root, ".done"), nil, 0o644); err != nil {
		return "", fmt.Errorf("mark %s extracted: %w", pkg, err)
	}
	return root, nil
}

// Download returns the path of pkg's .deb in the cache, fetching it with
// apt-get download when it is not there yet.
func (d *Debs) Download(ctx context.Context, pkg string) (string, error) {
	dir := filepath.Join(d.Dir, "debs")
	if p, ok := findDeb(dir, pkg); ok {
		return p, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", dir, err)
	}
	d.progress("downloading %s (apt-get download)", pkg)
	if err := runTool(ctx, dir, "apt-get", "download", pkg); err != nil {
		return "", fmt.Errorf("download Debian package %s: %w", pkg, err)
	}
	p, ok := findDeb(dir, pkg)
	if !ok {
		return "", fmt.Errorf("download Debian package %s: apt-get succeeded but left no %s_*.deb in %s", pkg, pkg, dir)
	}
	return p, nil
}

func findDeb(dir, pkg string) (string, bool) {
	m, _ := filepath.Glob(filepath.Join(dir, pkg+"_*.deb"))
	if len(m) == 0 {
		return "", false
	}
	return m[len(m)-1], true
}

// runTool runs a host program and folds its stderr into the error.
func runTool(ctx context.Context, dir, name string, args ...string) error {
	return runToolEnv(ctx, dir, nil, name, args...)
}

// runToolEnv is runTool with extra environment variables.
func runToolEnv(ctx context.Context, dir string, env []string, name string, args ...string) error {
	if _, err := exec.LookPath(name); err != nil {
		return fmt.Errorf("%w: %s (%v)", ErrMissingTool, name, err)
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("run %s %s: %w: %s", name, strings.Join(args, " "), err, tail(stderr.Bytes(), 20))
	}
	return nil
}
