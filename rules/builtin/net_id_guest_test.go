package builtin

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gudevd/gudevd/uevent/sysfstest"
)

// TestNetIDGuest compares NetID with what systemd-udevd 252's `udevadm
// test-builtin net_id` printed on a bookworm guest (testdata/guest): the
// properties, and exit status 1 (a device that is no interface: no
// IFINDEX) for an error.
func TestNetIDGuest(t *testing.T) {
	sys, err := sysfstest.Load("testdata/guest/sys.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("testdata/guest/net_id/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no captures: %v", err)
	}
	for _, f := range files {
		syspath := strings.ReplaceAll(strings.TrimSuffix(filepath.Base(f), ".txt"), "!", "/")
		t.Run(syspath, func(t *testing.T) {
			want, wantExit := readTestBuiltin(t, f)
			d := SysDevice{FS: sys, Path: syspath}
			got, err := NetID(context.Background(), &Device{Sysfs: sys, Syspath: syspath, Props: d.Uevent()}, nil, DefaultNamingScheme(), nil)
			if gotExit := err != nil; gotExit != wantExit {
				t.Fatalf("NetID error %v, udevadm's exit status 1: %v", err, wantExit)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("NetID (-udevadm +got):\n%s", diff)
			}
		})
	}
}

// readTestBuiltin reads a capture: KEY=value lines, then "exit=N".
func readTestBuiltin(t *testing.T, file string) ([]Prop, bool) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var props []Prop
	failed := false
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		k, v, ok := strings.Cut(line, "=")
		switch {
		case !ok:
			t.Fatalf("%s: bad line %q", file, line)
		case k == "exit":
			failed = v != "0"
		default:
			props = append(props, Prop{Key: k, Value: v})
		}
	}
	return props, failed
}
