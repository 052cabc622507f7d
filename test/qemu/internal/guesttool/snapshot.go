package main

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// snapshotLimit is the most of one attribute a snapshot keeps: sysfs
// attributes are a page at most, but binary ones (a PCI device's config,
// a firmware table) can be larger and no rule reads them whole.
const snapshotLimit = 64 << 10

// snapshotTimeout bounds one attribute read: a few drivers' attributes
// block while the device is busy, and the snapshot must not hang the boot.
const snapshotTimeout = 2 * time.Second

// cmdSnapshot writes a tar.gz of the sysfs trees it is given (default
// /sys/devices, /sys/class, /sys/bus, /sys/block, /sys/dev), the fixture
// the rules engine's and the builtins' tests read with uevent/sysfstest:
// directories, symlinks as links, and every attribute root may read, its
// contents as read at the time. Attributes that fail to read (write-only
// ones, those a driver refuses) are left out.
func cmdSnapshot(ctx context.Context, args []string, stdout io.Writer) error {
	fl := flag.NewFlagSet("snapshot", flag.ContinueOnError)
	out := fl.String("out", "", "write the tar.gz `FILE`")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("snapshot: -out is required")
	}
	roots := fl.Args()
	if len(roots) == 0 {
		roots = []string{"/sys/devices", "/sys/class", "/sys/bus", "/sys/block", "/sys/dev"}
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	defer f.Close()
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	n := 0
	for _, r := range roots {
		c, err := snapshotTree(ctx, tw, r)
		if err != nil {
			return err
		}
		n += c
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "snapshot: %d entries\n", n)
	return f.Close()
}

// snapshotTree adds root and everything below it, without following
// symlinks (the class and bus trees link into devices).
func snapshotTree(ctx context.Context, tw *tar.Writer, root string) (int, error) {
	n := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // devices come and go; skip what vanished
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		h, body, ok := snapshotEntry(p, d)
		if !ok {
			return nil
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(body); err != nil {
			return err
		}
		n++
		return nil
	})
	return n, err
}

// snapshotEntry makes one entry's header and body; ok is false for what
// the snapshot leaves out.
func snapshotEntry(p string, d fs.DirEntry) (*tar.Header, []byte, bool) {
	name := strings.TrimPrefix(p, "/")
	info, err := d.Info()
	if err != nil {
		return nil, nil, false
	}
	switch {
	case d.IsDir():
		return &tar.Header{Name: name + "/", Typeflag: tar.TypeDir, Mode: int64(info.Mode().Perm())}, nil, true
	case d.Type()&fs.ModeSymlink != 0:
		l, err := os.Readlink(p)
		if err != nil {
			return nil, nil, false
		}
		return &tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: l, Mode: 0o777}, nil, true
	case d.Type().IsRegular() && info.Mode().Perm()&0o400 != 0:
		b, ok := readAttr(p)
		if !ok {
			return nil, nil, false
		}
		return &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: int64(info.Mode().Perm()), Size: int64(len(b))}, b, true
	}
	return nil, nil, false
}

// readAttr reads up to snapshotLimit of an attribute, giving up after
// snapshotTimeout; a read that does not return leaves its goroutine behind
// until the process exits, which the snapshot does soon after.
func readAttr(p string) ([]byte, bool) {
	type result struct {
		b   []byte
		err error
	}
	ch := make(chan result, 1)
	go func() {
		f, err := os.Open(p)
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, snapshotLimit))
		ch <- result{b, err}
	}()
	select {
	case r := <-ch:
		return r.b, r.err == nil
	case <-time.After(snapshotTimeout):
		return nil, false
	}
}
