package sysfstest

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"testing/fstest"
)

// ErrBadArchive is returned for an archive entry Load cannot take: a path
// that leaves the tree, or a type other than a directory, a regular file
// or a symlink.
var ErrBadArchive = errors.New("bad sysfs archive")

// Load reads a tar archive, gzip-compressed when its name ends in .gz, into
// an fstest.MapFS rooted at the archive's root: a captured "sys/devices/x"
// is "devices/x". Symlinks stay symlinks (fs.ReadLink reads them, Open
// follows them), as the driver and subsystem links of sysfs must.
func Load(file string) (fstest.MapFS, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("load sysfs: %w", err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(file, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("load sysfs %s: %w", file, err)
		}
		defer zr.Close()
		r = zr
	}
	m, err := Read(r)
	if err != nil {
		return nil, fmt.Errorf("load sysfs %s: %w", file, err)
	}
	return m, nil
}

// Read reads an uncompressed tar stream as Load does.
func Read(r io.Reader) (fstest.MapFS, error) {
	m := fstest.MapFS{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return m, nil
		}
		if err != nil {
			return nil, err
		}
		name, ok := clean(h.Name)
		if !ok {
			return nil, fmt.Errorf("%w: entry %q leaves the tree", ErrBadArchive, h.Name)
		}
		if name == "" {
			continue // the root itself
		}
		switch h.Typeflag {
		case tar.TypeDir:
			m[name] = &fstest.MapFile{Mode: fs.ModeDir | fs.FileMode(h.Mode)&fs.ModePerm, ModTime: h.ModTime}
		case tar.TypeReg:
			b, err := io.ReadAll(tr)
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", h.Name, err)
			}
			m[name] = &fstest.MapFile{Data: b, Mode: fs.FileMode(h.Mode) & fs.ModePerm, ModTime: h.ModTime}
		case tar.TypeSymlink:
			m[name] = &fstest.MapFile{Data: []byte(h.Linkname), Mode: fs.ModeSymlink | 0o777, ModTime: h.ModTime}
		default:
			return nil, fmt.Errorf("%w: entry %q has type %q", ErrBadArchive, h.Name, h.Typeflag)
		}
	}
}

// clean turns an archive path into an fs.FS name below the archive's root,
// dropping a leading "sys/" or "./sys/" so that a capture of /sys reads as
// sysfs itself.
func clean(name string) (string, bool) {
	name = strings.TrimPrefix(path.Clean("/"+name), "/")
	if name == "sys" {
		return "", true
	}
	name = strings.TrimPrefix(name, "sys/")
	if name == "" {
		return "", true
	}
	return name, fs.ValidPath(name)
}
