package builtin

import (
	"bufio"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The expected files are systemd-hwdb 252's answers, captured by
// testdata/hwdb/regen.sh.
const (
	smallBin      = "testdata/hwdb/small.bin"
	smallExpected = "testdata/hwdb/small.expected"
	fullExpected  = "testdata/hwdb/full.expected.gz"
)

type hwdbCase struct {
	lookup string
	want   []Prop
}

// readExpected parses an expected file: "@ LOOKUP" and the KEY=VALUE
// lines systemd-hwdb query printed for it.
func readExpected(t testing.TB, r io.Reader) []hwdbCase {
	t.Helper()
	var cases []hwdbCase
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if s, ok := strings.CutPrefix(line, "@ "); ok {
			cases = append(cases, hwdbCase{lookup: s})
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || len(cases) == 0 {
			t.Fatalf("expected file: bad line %q", line)
		}
		c := &cases[len(cases)-1]
		c.want = append(c.want, Prop{Key: k, Value: v})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("expected file has no lookups")
	}
	return cases
}

func readExpectedFile(t testing.TB, path string) []hwdbCase {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	}
	return readExpected(t, r)
}

func openTestHWDB(t testing.TB, path string) *HWDB {
	t.Helper()
	db, err := OpenHWDB(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return db
}

// TestHWDBLookupSmall compares every lookup of the handcrafted database
// with systemd-hwdb's answer: each glob form, the walk's order, and the
// priority and line rules between two values of a key.
func TestHWDBLookupSmall(t *testing.T) {
	db := openTestHWDB(t, smallBin)
	for _, tc := range readExpectedFile(t, smallExpected) {
		t.Run(tc.lookup, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, db.Lookup(tc.lookup)); diff != "" {
				t.Errorf("Lookup(%q) (-systemd-hwdb +got):\n%s", tc.lookup, diff)
			}
		})
	}
}

// TestHWDBLookupFull compares thousands of lookups of Debian bookworm's
// whole hwdb with systemd-hwdb's answers. The 13 MB database lives in
// regen.sh's cache, not in the repository.
func TestHWDBLookupFull(t *testing.T) {
	if testing.Short() {
		t.Skip("full hwdb in -short")
	}
	path := filepath.Join(hwdbCacheDir(t), "full/lib/udev/hwdb.bin")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("no full hwdb.bin (%v): run sh rules/builtin/testdata/hwdb/regen.sh", err)
	}
	db := openTestHWDB(t, path)
	cases := readExpectedFile(t, fullExpected)
	diffs := 0
	for _, tc := range cases {
		if diff := cmp.Diff(tc.want, db.Lookup(tc.lookup)); diff != "" {
			diffs++
			t.Errorf("Lookup(%q) (-systemd-hwdb +got):\n%s", tc.lookup, diff)
		}
	}
	t.Logf("%d lookups, %d differences", len(cases), diffs)
}

// hwdbCacheDir is where regen.sh keeps the packages and the full
// database.
func hwdbCacheDir(t testing.TB) string {
	if d := os.Getenv("GUDEVD_HWDB_CACHE"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		t.Skip(err)
	}
	return filepath.Join(home, ".cache/gudevd/hwdb")
}
