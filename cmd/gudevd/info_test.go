package main

import (
	"bytes"
	"errors"
	"github.com/gudevd/gudevd/cmd/gudevd/internal/privaterun"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gudevd/gudevd/uevent/devdb"
	"github.com/gudevd/gudevd/uevent/sysfstest"
)

// infoUdevadmEnv makes the test binary, run by unshare(1) in a mount
// namespace of its own with a tmpfs on /run, write database entries for
// devices of this machine's /sys and compare udevadm info's output with
// gudevd info's (TestInfoUdevadm).
const infoUdevadmEnv = "GUDEVD_INFO_TEST_UDEVADM"

func runInfo(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	e := &env{stdin: &bytes.Buffer{}, stdout: &stdout, stderr: &stderr, log: slog.New(slog.DiscardHandler), getenv: func(string) string { return "" }}
	code := run(t.Context(), append([]string{"gudevd", "info"}, args...), e)
	return stdout.String(), stderr.String(), code
}

// TestInfoUdevadm runs the real udevadm 252 and gudevd info on the same
// /sys and /run/udev, in a private mount namespace.
func TestInfoUdevadm(t *testing.T) {
	privaterun.Run(t, "TestInfoUdevadmHelper", infoUdevadmEnv, privaterun.Udevadm(t))
}

// infoDevices are the devices of the comparison, as udevadm names them,
// with their entries: one link and one tag each, because udevadm prints
// links and tags in the order of a hash set, which changes with every run.
var infoDevices = []struct {
	syspath string
	id      string
	e       devdb.Entry
	raw     string // written as is instead of e
}{
	{syspath: "/sys/devices/virtual/mem/null", id: "c1:3", e: devdb.Entry{
		Devlinks: []string{"/dev/disk/by-id/x"}, LinkPriority: -5, Usec: 123,
		Props: []devdb.Property{{Key: "ID_X", Value: "1"}, {Key: "DEVMODE", Value: "0600"}, {Key: "ID_Y", Value: "a b"}},
		Tags:  []string{"seat"}, CurrentTags: []string{"seat"},
	}},
	// An entry from before V:1: G: only, no CURRENT_TAGS.
	{syspath: "/sys/devices/virtual/mem/zero", id: "c1:5", raw: "G:uaccess\n"},
	// A device without info still gets its (empty) file.
	{syspath: "/sys/devices/virtual/mem/full", id: "c1:7", e: devdb.Entry{Usec: 9}},
	{syspath: "/sys/devices/virtual/net/lo", id: "n1", e: devdb.Entry{
		Usec: 77, Props: []devdb.Property{{Key: "ID_NET_NAME", Value: "lo"}}, Tags: []string{"systemd"},
	}},
	{syspath: "/sys/devices/virtual/mem/random", id: "c1:8"}, // no entry
}

// infoQueries are the udevadm info command lines compared; each runs
// as given, the attribute walk only where no attribute changes by itself
// (power/runtime_active_time of a PCI device counts time).
var infoQueries = [][]string{
	{"--export-db"},
	{"-q", "all", "--path=/devices/virtual/mem/null"},
	{"/sys/devices/virtual/mem/zero", "/sys/devices/virtual/mem/full", "/sys/class/net/lo", "/sys/devices/virtual/mem/random"},
	{"--name=null"},
	{"-q", "property", "/sys/class/net/lo"},
	{"-q", "property", "-n", "/dev/null"},
	{"-q", "property", "--property=ID_X,TAGS", "-n", "null"},
	{"-x", "-q", "property", "-n", "null"},
	{"-P", "P_", "-q", "property", "-n", "null"},
	{"--value", "-q", "property", "-n", "null"},
	{"-q", "name", "-n", "null"},
	{"-q", "name", "-r", "/dev/null"},
	{"-q", "symlink", "--name", "null"},
	{"-q", "symlink", "-r", "--name", "null"},
	{"-q", "path", "-n", "null"},
	{"-a", "/sys/devices/virtual/mem/null"},
	{"-a", "--path=/class/mem/zero"}, // not net/lo: its counters move with other tests' traffic
}

func TestInfoUdevadmHelper(t *testing.T) {
	udevadm := privaterun.Enter(t, infoUdevadmEnv)
	store := &devdb.Store{Dir: "/run/udev"}
	for _, d := range infoDevices {
		if _, err := os.Stat(d.syspath); err != nil {
			t.Skipf("this machine has no %s", d.syspath)
		}
		writeInfoEntry(t, store, d.id, d.e, d.raw)
	}
	for _, args := range infoQueries {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			want, err := exec.Command(udevadm, append([]string{"info"}, args...)...).Output()
			if err != nil {
				t.Fatalf("udevadm: %v", err)
			}
			got, stderr, code := runInfo(t, args...)
			if code != 0 {
				t.Errorf("exit %d: %s", code, stderr)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("udevadm info %s (-udevadm +gudevd):\n%s", strings.Join(args, " "), diff)
			}
		})
	}
}

func writeInfoEntry(t *testing.T, store *devdb.Store, id string, e devdb.Entry, raw string) {
	t.Helper()
	switch {
	case raw != "":
		if err := os.MkdirAll(filepath.Join(store.Dir, "data"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(store.Dir, "data", id), []byte(raw), 0o644); err != nil {
			t.Fatal(err)
		}
	case devdb.HasInfo(e) || e.Usec != 0:
		if err := store.Write(id, e, false); err != nil {
			t.Fatal(err)
		}
	}
}

// TestInfoGuestExportDB prints the QEMU guest's database from its sysfs
// snapshot and the entries written back from its export-db: each device
// of udevadm info --export-db's output there must come out byte for byte,
// in the same order. The snapshot was taken later than the export and has
// devices more (virtual consoles opened since); those are left out.
func TestInfoGuestExportDB(t *testing.T) {
	sysfs, err := sysfstest.Load(filepath.Join(guestBuiltinDir, "sys.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	store := &devdb.Store{Dir: t.TempDir()}
	for _, x := range readExportDB(t) {
		if err := store.Write(x.id(), x.dbEntry(sysfs), false); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(filepath.Join(guestTestDir, "export-db.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want := splitRecords(string(b))
	var out bytes.Buffer
	in := &info{sysfs: sysfs, db: store, dest: &out}
	if err := in.exportDB(); err != nil {
		t.Fatal(err)
	}
	inCapture := map[string]bool{}
	for _, r := range want {
		inCapture[strings.SplitN(r, "\n", 2)[0]] = true
	}
	var got []string
	for _, r := range splitRecords(out.String()) {
		if inCapture[strings.SplitN(r, "\n", 2)[0]] {
			got = append(got, r)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("export-db (-udevadm +gudevd):\n%s", diff)
	}
}

// splitRecords cuts export-db's output at its blank lines.
func splitRecords(s string) []string {
	return strings.Split(strings.TrimSuffix(s, "\n\n"), "\n\n")
}

func TestInfoArgs(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    infoArgs
		wantErr error
	}{
		{name: "defaults", args: []string{"/sys/x"}, want: infoArgs{query: "all", devices: []string{"/sys/x"}, root: "/"}},
		{
			name: "names and paths get their prefix, in order, options after operands",
			args: []string{"--name=sda", "/dev/sdb", "-p", "/devices/x", "--path=/sys/y", "-q", "property", "--root", "/r"},
			want: infoArgs{query: "property", devices: []string{"/dev/sda", "/dev/sdb", "/sys/devices/x", "/sys/y"}, root: "/r"},
		},
		{
			name: "export prefix, properties",
			args: []string{"-P", "X_", "--property=A,B", "--property", "C", "-n", "null"},
			want: infoArgs{query: "all", devices: []string{"/dev/null"}, export: true, prefix: "X_", properties: []string{"A", "B", "C"}, root: "/"},
		},
		{name: "empty property list shows none", args: []string{"--property=", "/sys/x"}, want: infoArgs{query: "all", devices: []string{"/sys/x"}, properties: []string{}, root: "/"}},
		{name: "export-db needs no device", args: []string{"-e"}, want: infoArgs{query: "all", exportDB: true, root: "/"}},
		{name: "no device", args: []string{"-q", "path"}, wantErr: errUsage},
		{name: "unknown query", args: []string{"-q", "nope", "/sys/x"}, wantErr: errUsage},
		{name: "walk wants one device", args: []string{"-a", "/sys/x", "/sys/y"}, wantErr: errUsage},
		{name: "export and value", args: []string{"-x", "--value", "/sys/x"}, wantErr: errUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &env{stderr: &bytes.Buffer{}}
			got, err := parseInfoArgs(e, tt.args)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(infoArgs{})); diff != "" {
				t.Errorf("parseInfoArgs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestInfoUnknownDevice(t *testing.T) {
	root := t.TempDir()
	_, stderr, code := runInfo(t, "--root", root, "/sys/devices/nothing", "relative")
	if code != 1 || strings.Count(stderr, "unknown device") != 2 {
		t.Errorf("exit %d, stderr %q; want 1 and two unknown devices", code, stderr)
	}
}
