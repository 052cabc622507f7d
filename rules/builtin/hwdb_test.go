package builtin

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
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

func readSmallBin(t testing.TB) []byte {
	t.Helper()
	data, err := os.ReadFile(smallBin)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestParseHWDBCorrupt damages small.bin in each way the checks look
// for; every one must be refused with ErrCorrupt.
func TestParseHWDBCorrupt(t *testing.T) {
	good := readSmallBin(t)
	le := binary.LittleEndian
	root := le.Uint64(good[hwdbRootOffField:])
	child := func(i int) int { return int(root) + hwdbNodeMin + i*hwdbChildMin }
	tests := []struct {
		name   string
		damage func(b []byte) []byte
	}{
		{"empty", func(b []byte) []byte { return nil }},
		{"shorter than a header", func(b []byte) []byte { return b[:hwdbHeaderMin-1] }},
		{"signature", func(b []byte) []byte { b[0] = 'X'; return b }},
		{"truncated", func(b []byte) []byte { return b[:len(b)-1] }},
		{"file size", func(b []byte) []byte { le.PutUint64(b[16:], uint64(len(b))+1); return b }},
		{"header size", func(b []byte) []byte { le.PutUint64(b[24:], 8); return b }},
		{"node size", func(b []byte) []byte { le.PutUint64(b[32:], 8); return b }},
		{"child entry size 0", func(b []byte) []byte { le.PutUint64(b[40:], 0); return b }},
		{"value entry size", func(b []byte) []byte { le.PutUint64(b[48:], 15); return b }},
		{"value entry size huge", func(b []byte) []byte { le.PutUint64(b[48:], 1<<63); return b }},
		{"root outside", func(b []byte) []byte { le.PutUint64(b[hwdbRootOffField:], uint64(len(b))); return b }},
		{"root at the end", func(b []byte) []byte { le.PutUint64(b[hwdbRootOffField:], uint64(len(b)-8)); return b }},
		{"root offset overflows", func(b []byte) []byte { le.PutUint64(b[hwdbRootOffField:], ^uint64(0)); return b }},
		{"prefix outside", func(b []byte) []byte { le.PutUint64(b[root:], uint64(len(b))); return b }},
		{"values overrun", func(b []byte) []byte { le.PutUint64(b[root+16:], 1<<62); return b }},
		{"children overrun", func(b []byte) []byte {
			le.PutUint64(b[hwdbRootOffField:], uint64(len(b))-hwdbNodeMin-1)
			b[len(b)-hwdbNodeMin-1+8] = 255
			return b
		}},
		{"child after its parent", func(b []byte) []byte { le.PutUint64(b[child(0)+8:], root); return b }},
		{"children unsorted", func(b []byte) []byte { b[child(0)], b[child(1)] = b[child(1)], b[child(0)]; return b }},
		{"node reached twice", func(b []byte) []byte { copy(b[child(1)+8:child(1)+16], b[child(0)+8:]); return b }},
		{"key outside", func(b []byte) []byte { return damageFirstValue(t, b, 0) }},
		{"value outside", func(b []byte) []byte { return damageFirstValue(t, b, 8) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.damage(bytes.Clone(good))
			db, err := ParseHWDB(b)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("ParseHWDB = %v, %v; want an error wrapping ErrCorrupt", db, err)
			}
		})
	}
}

// damageFirstValue points a string offset (field 0 key, 8 value) of the
// first value entry met below the root past the file's last NUL.
func damageFirstValue(t *testing.T, b []byte, field uint64) []byte {
	t.Helper()
	db, err := ParseHWDB(bytes.Clone(b))
	if err != nil {
		t.Fatal(err)
	}
	stack := []uint64{db.hdr.rootOff}
	for len(stack) > 0 {
		n := db.node(stack[len(stack)-1])
		stack = stack[:len(stack)-1]
		if n.values > 0 {
			off := n.off + db.hdr.nodeSize + uint64(n.children)*db.hdr.childSize + field
			binary.LittleEndian.PutUint64(b[off:], uint64(len(b)-1))
			b[len(b)-1] = 'x' // no NUL from there on
			return b
		}
		for i := range n.children {
			_, c := db.child(n, i)
			stack = append(stack, c)
		}
	}
	t.Fatal("small.bin has no values")
	return nil
}

func TestOpenHWDB(t *testing.T) {
	good := readSmallBin(t)
	write := func(t *testing.T, root, name string, data []byte) {
		t.Helper()
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		files   map[string][]byte
		want    []Prop // for lit:exact
		wantErr error
	}{
		{"none", nil, nil, fs.ErrNotExist},
		{"udev's", map[string][]byte{"lib/udev/hwdb.bin": good}, []Prop{{"LIT", "exact"}}, nil},
		{"etc first", map[string][]byte{
			"etc/udev/hwdb.bin": good,
			"lib/udev/hwdb.bin": []byte("not a database"),
		}, []Prop{{"LIT", "exact"}}, nil},
		{"a corrupt first file is an error", map[string][]byte{
			"etc/systemd/hwdb/hwdb.bin": good[:100],
			"lib/udev/hwdb.bin":         good,
		}, nil, ErrCorrupt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for name, data := range tc.files {
				write(t, root, name, data)
			}
			db, err := OpenDefaultHWDB(root)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("OpenDefaultHWDB = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			defer db.Close()
			if diff := cmp.Diff(tc.want, db.Lookup("lit:exact")); diff != "" {
				t.Errorf("Lookup(lit:exact) (-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzParseHWDB feeds damaged databases to the reader: it must refuse
// them with ErrCorrupt or look up in them without panicking, and
// small.bin itself must give systemd-hwdb's answers.
func FuzzParseHWDB(f *testing.F) {
	good := readSmallBin(f)
	cases := readExpectedFile(f, smallExpected)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(good[:hwdbHeaderMin])
	f.Fuzz(func(t *testing.T, data []byte) {
		db, err := ParseHWDB(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("ParseHWDB error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		valid := bytes.Equal(data, good)
		for _, tc := range cases {
			got := db.Lookup(tc.lookup)
			if valid {
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("Lookup(%q) (-systemd-hwdb +got):\n%s", tc.lookup, diff)
				}
			}
		}
	})
}

func TestHWDBLookupAfterClose(t *testing.T) {
	db, err := OpenHWDB(smallBin)
	if err != nil {
		t.Fatal(err)
	}
	if got := db.Lookup("lit:exact"); len(got) != 1 {
		t.Fatalf("Lookup before Close = %v", got)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if got := db.Lookup("lit:exact"); got != nil {
		t.Errorf("Lookup after Close = %v, want nil", got)
	}
	if err := db.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
