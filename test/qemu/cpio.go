package qemu

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
)

// Initramfs is an in-memory description of a cpio "newc" archive: the
// format the kernel unpacks into its rootfs before running /init.
type Initramfs struct {
	entries map[string]entry
}

type entry struct {
	mode  uint32 // file type and permission bits, as in stat(2)
	data  []byte // file contents or symlink target
	src   string // host file to copy when data is nil
	major uint32
	minor uint32
}

const (
	modeDir  = 0o040000
	modeFile = 0o100000
	modeLink = 0o120000
	modeChr  = 0o020000
)

// NewInitramfs returns an archive with the directories and the console
// device the kernel needs before devtmpfs is mounted: without /dev/console
// init starts with no stdin, stdout or stderr.
func NewInitramfs() *Initramfs {
	r := &Initramfs{entries: make(map[string]entry)}
	for _, d := range []string{"bin", "sbin", "dev", "proc", "sys", "tmp", "run", "etc", "lib", "lib64", "usr", "out"} {
		r.Dir(d)
	}
	r.entries["dev/console"] = entry{mode: modeChr | 0o600, major: 5, minor: 1}
	return r
}

func clean(p string) string { return strings.TrimPrefix(path.Clean("/"+p), "/") }

// Dir adds a directory and its parents.
func (r *Initramfs) Dir(p string) {
	p = clean(p)
	for p != "" && p != "." {
		if _, ok := r.entries[p]; !ok {
			r.entries[p] = entry{mode: modeDir | 0o755}
		}
		p = path.Dir(p)
	}
}

// File adds a file with the given contents.
func (r *Initramfs) File(p string, data []byte, perm uint32) {
	p = clean(p)
	r.Dir(path.Dir(p))
	if data == nil {
		data = []byte{}
	}
	r.entries[p] = entry{mode: modeFile | perm, data: data}
}

// Copy adds the host file src at p, keeping its permission bits. Symlinks
// are kept as symlinks.
func (r *Initramfs) Copy(p, src string) error {
	fi, err := os.Lstat(src)
	if err != nil {
		return fmt.Errorf("add %s to initramfs: %w", p, err)
	}
	p = clean(p)
	r.Dir(path.Dir(p))
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		t, err := os.Readlink(src)
		if err != nil {
			return fmt.Errorf("add %s to initramfs: %w", p, err)
		}
		r.Symlink(p, t)
	case fi.IsDir():
		r.Dir(p)
	default:
		r.entries[p] = entry{mode: modeFile | uint32(fi.Mode().Perm()), src: src}
	}
	return nil
}

// Symlink adds a symbolic link at p pointing to target.
func (r *Initramfs) Symlink(p, target string) {
	p = clean(p)
	r.Dir(path.Dir(p))
	r.entries[p] = entry{mode: modeLink | 0o777, data: []byte(target)}
}

// Has reports whether p is in the archive.
func (r *Initramfs) Has(p string) bool {
	_, ok := r.entries[clean(p)]
	return ok
}

// WriteTo writes the archive in newc format, parents before children.
func (r *Initramfs) WriteTo(w io.Writer) (int64, error) {
	names := make([]string, 0, len(r.entries))
	for n := range r.entries {
		names = append(names, n)
	}
	sort.Strings(names)
	cw := &countWriter{w: w}
	for i, n := range names {
		e := r.entries[n]
		data := e.data
		if e.mode&0o170000 == modeFile && e.src != "" {
			b, err := os.ReadFile(e.src)
			if err != nil {
				return cw.n, fmt.Errorf("read %s for initramfs: %w", e.src, err)
			}
			data = b
		}
		if e.mode&0o170000 == modeDir {
			data = nil
		}
		if err := writeRecord(cw, uint32(i+1), n, e, data); err != nil {
			return cw.n, err
		}
	}
	err := writeRecord(cw, 0, "TRAILER!!!", entry{}, nil)
	return cw.n, err
}

func writeRecord(w io.Writer, ino uint32, name string, e entry, data []byte) error {
	nlink := uint32(1)
	if e.mode&0o170000 == modeDir {
		nlink = 2
	}
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		ino, e.mode, 0, 0, nlink, 0, len(data), 0, 0, e.major, e.minor, len(name)+1, 0)
	if _, err := io.WriteString(w, hdr+name+"\x00"); err != nil {
		return fmt.Errorf("write initramfs: %w", err)
	}
	if err := pad(w, len(hdr)+len(name)+1); err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("write initramfs: %w", err)
	}
	return pad(w, len(data))
}

func pad(w io.Writer, n int) error {
	if r := n % 4; r != 0 {
		if _, err := w.Write(make([]byte, 4-r)); err != nil {
			return fmt.Errorf("write initramfs: %w", err)
		}
	}
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
