package node

import (
	"bytes"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// env is a /dev and a /run/udev/links in a temporary directory.
type env struct {
	dev, links string
	n          *Nodes
	log        *syncBuffer
}

// syncBuffer is a log sink that concurrent goroutines may write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newEnv(t *testing.T) *env {
	t.Helper()
	root := t.TempDir()
	e := &env{dev: filepath.Join(root, "dev"), links: filepath.Join(root, "run/udev/links"), log: &syncBuffer{}}
	if err := os.Mkdir(e.dev, 0o755); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.n = New(Config{Dev: e.dev, Links: e.links, Log: log})
	return e
}

// path maps "/dev/x" into the test's Dev.
func (e *env) path(p string) string {
	return filepath.Join(e.dev, strings.TrimPrefix(p, "/dev"))
}

// mknod makes a device node of mode (type and permission bits) and
// number at the "/dev/..." path p, owned by root, skipping the test when
// the container refuses mknod.
func (e *env) mknod(t *testing.T, p string, mode uint32, major, minor uint32) {
	t.Helper()
	host := e.path(p)
	if err := os.MkdirAll(filepath.Dir(host), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mknod(host, mode, int(unix.Mkdev(major, minor))); err != nil {
		if err == unix.EPERM {
			t.Skipf("mknod refused: %v", err)
		}
		t.Fatal(err)
	}
	// mknod is subject to the umask; set the bits the test asked for.
	if err := unix.Chmod(host, mode&07777); err != nil {
		t.Fatal(err)
	}
}

// disk makes the node of a block device and returns the device.
func (e *env) disk(t *testing.T, name string, minor uint32) Device {
	t.Helper()
	d := Device{ID: "b8:" + strconv.Itoa(int(minor)), Devnode: "/dev/" + name, Major: 8, Minor: minor, Block: true}
	e.mknod(t, d.Devnode, unix.S_IFBLK|0o660, 8, minor)
	return d
}

// tree describes every entry below root by its path: "dir", "file", or
// "-> target" for a symlink.
func tree(t *testing.T, root string) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			got[rel] = "-> " + target
		case d.IsDir():
			got[rel] = "dir"
		case d.Type()&fs.ModeDevice != 0:
			got[rel] = "device"
		default:
			got[rel] = "file"
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// readlink is the target of a "/dev/..." symlink, "" when there is none.
func (e *env) readlink(p string) string {
	target, err := os.Readlink(e.path(p))
	if err != nil {
		return ""
	}
	return target
}
