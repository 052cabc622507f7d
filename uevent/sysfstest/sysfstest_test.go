package sysfstest

import (
	"archive/tar"
	"bytes"
	"errors"
	"io/fs"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func archive(t *testing.T, hs ...*tar.Header) *bytes.Reader {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range hs {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte("X=1\n")); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(b.Bytes())
}

// TestRead: a capture of /sys reads as sysfs, with its links followed.
func TestRead(t *testing.T) {
	m, err := Read(archive(t,
		&tar.Header{Name: "sys/", Typeflag: tar.TypeDir, Mode: 0o755},
		&tar.Header{Name: "sys/system/", Typeflag: tar.TypeDir, Mode: 0o755},
		&tar.Header{Name: "sys/class/net/", Typeflag: tar.TypeDir, Mode: 0o755},
		&tar.Header{Name: "sys/devices/a/", Typeflag: tar.TypeDir, Mode: 0o755},
		&tar.Header{Name: "sys/devices/a/uevent", Typeflag: tar.TypeReg, Mode: 0o644, Size: 4},
		&tar.Header{Name: "sys/devices/a/subsystem", Typeflag: tar.TypeSymlink, Linkname: "../../class/net"},
		&tar.Header{Name: "sys/class/net/a", Typeflag: tar.TypeSymlink, Linkname: "../../devices/a"},
	))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range m {
		names = append(names, n)
	}
	want := []string{"class/net", "class/net/a", "devices/a", "devices/a/subsystem", "devices/a/uevent", "system"}
	if diff := cmp.Diff(want, names, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
	if l, err := fs.ReadLink(m, "devices/a/subsystem"); err != nil || l != "../../class/net" {
		t.Errorf("ReadLink = %q, %v", l, err)
	}
	if b, err := fs.ReadFile(m, "class/net/a/uevent"); err != nil || string(b) != "X=1\n" {
		t.Errorf("read through the class link = %q, %v", b, err)
	}
}

func TestReadRejects(t *testing.T) {
	_, err := Read(archive(t, &tar.Header{Name: "sys/dev/null", Typeflag: tar.TypeChar}))
	if !errors.Is(err, ErrBadArchive) {
		t.Errorf("a character device entry: err = %v, want ErrBadArchive", err)
	}
}
