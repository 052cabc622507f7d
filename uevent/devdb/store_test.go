package devdb

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// listTree is every file below dir with its permission bits (sticky
// included), directories too.
func listTree(t *testing.T, dir string) map[string]fs.FileMode {
	t.Helper()
	got := map[string]fs.FileMode{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		got[rel] = fi.Mode() & (fs.ModePerm | fs.ModeSticky | fs.ModeDir)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestStoreWrite(t *testing.T) {
	tests := []struct {
		name    string
		id      string
		e       Entry
		persist bool
		want    map[string]fs.FileMode
		data    string
	}{
		{
			name: "entry", id: "b254:0", e: vdaEntry(),
			want: map[string]fs.FileMode{"data": fs.ModeDir | 0o755, "data/b254:0": 0o644}, data: vdaDB,
		},
		{
			name: "db_persist sets the sticky bit", id: "c1:3", e: Entry{Props: []Property{{"K", "v"}}}, persist: true,
			want: map[string]fs.FileMode{"data": fs.ModeDir | 0o755, "data/c1:3": fs.ModeSticky | 0o644}, data: "E:K=v\nV:1\n",
		},
		{
			name: "no info but an ifindex: empty file", id: "n1", e: Entry{Usec: 5},
			want: map[string]fs.FileMode{"data": fs.ModeDir | 0o755, "data/n1": 0o644}, data: "",
		},
		{name: "no info, no number: nothing", id: "+mem:x", e: Entry{Usec: 5}, want: map[string]fs.FileMode{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := &Store{Dir: dir}
			if err := s.Write(tt.id, tt.e, tt.persist); err != nil {
				t.Fatal(err)
			}
			// listTree also proves the temporary file is gone.
			if diff := cmp.Diff(tt.want, listTree(t, dir)); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
			if len(tt.want) == 0 {
				return
			}
			b, err := os.ReadFile(filepath.Join(dir, "data", tt.id))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.data, string(b)); diff != "" {
				t.Errorf("content (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStoreRewriteAndDelete(t *testing.T) {
	dir := t.TempDir()
	s := &Store{Dir: dir}
	if err := s.Write("c1:3", Entry{Props: []Property{{"A", "1"}}}, true); err != nil {
		t.Fatal(err)
	}
	// A second write replaces the file, mode included.
	if err := s.Write("c1:3", Entry{Props: []Property{{"B", "2"}}}, false); err != nil {
		t.Fatal(err)
	}
	got, err := s.Read("c1:3")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Entry{Props: []Property{{"B", "2"}}, Version: 1}, got); diff != "" {
		t.Errorf("Read (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]fs.FileMode{"data": fs.ModeDir | 0o755, "data/c1:3": 0o644}, listTree(t, dir)); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	// A device without info and number loses its entry.
	if err := s.Write("+mem:x", Entry{Tags: []string{"a"}}, false); err != nil {
		t.Fatal(err)
	}
	if err := s.Write("+mem:x", Entry{}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read("+mem:x"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Read after an empty write: %v, want fs.ErrNotExist", err)
	}
	for range 2 { // the second time there is nothing to delete
		if err := s.Delete("c1:3"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Read("c1:3"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Read after Delete: %v, want fs.ErrNotExist", err)
	}
}

func TestStoreBadID(t *testing.T) {
	s := &Store{Dir: t.TempDir()}
	for _, id := range []string{"", "..", "a/b"} {
		if err := s.Write(id, vdaEntry(), false); !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("Write(%q) = %v, want fs.ErrInvalid", id, err)
		}
		if _, err := s.Read(id); !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("Read(%q) = %v, want fs.ErrInvalid", id, err)
		}
	}
}

func TestStoreUpdateTags(t *testing.T) {
	dir := t.TempDir()
	s := &Store{Dir: dir}
	if err := s.UpdateTags("c13:64", nil, []string{"systemd", "seat"}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateTags("n1", nil, []string{"systemd"}); err != nil {
		t.Fatal(err)
	}
	// The next event: seat is gone from the device's tags, uaccess is new,
	// systemd stays (its file exists, mode 0444, and is touched again).
	if err := s.UpdateTags("c13:64", []string{"systemd", "seat"}, []string{"systemd", "uaccess"}); err != nil {
		t.Fatal(err)
	}
	want := map[string]fs.FileMode{
		"tags": fs.ModeDir | 0o755, "tags/systemd": fs.ModeDir | 0o755, "tags/seat": fs.ModeDir | 0o755,
		"tags/uaccess": fs.ModeDir | 0o755, "tags/systemd/c13:64": 0o444, "tags/systemd/n1": 0o444,
		"tags/uaccess/c13:64": 0o444,
	}
	if diff := cmp.Diff(want, listTree(t, dir)); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	// Removal: every old tag goes, other devices' stay.
	if err := s.UpdateTags("c13:64", []string{"systemd", "uaccess"}, nil); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"tags/systemd/c13:64", "tags/uaccess/c13:64"} {
		delete(want, p)
	}
	if diff := cmp.Diff(want, listTree(t, dir)); diff != "" {
		t.Errorf("tags after removal (-want +got):\n%s", diff)
	}
	if err := s.UpdateTags("n1", nil, []string{"a:b"}); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("UpdateTags with tag a:b = %v, want fs.ErrInvalid", err)
	}
}

func TestStoreIDs(t *testing.T) {
	dir := t.TempDir()
	s := &Store{Dir: dir}
	ids, err := s.IDs()
	if err != nil || ids != nil {
		t.Fatalf("IDs without data/ = %v, %v", ids, err)
	}
	for _, id := range []string{"n1", "b8:0", "+pci:0000:00:01.0", "c1:3"} {
		if err := s.Write(id, Entry{Tags: []string{"t"}}, false); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "data", ".#c1:3abcdef"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ids, err = s.IDs()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"+pci:0000:00:01.0", "b8:0", "c1:3", "n1"}, ids); diff != "" {
		t.Errorf("IDs (-want +got):\n%s", diff)
	}
}

// TestNow: USEC_INITIALIZED's clock is monotonic and in microseconds, so
// two readings a millisecond apart differ by about a thousand.
func TestNow(t *testing.T) {
	a := Now()
	time.Sleep(2 * time.Millisecond)
	b := Now()
	if a == 0 || b < a+2000 || b > a+2_000_000 {
		t.Errorf("Now: %d then %d, 2 ms apart", a, b)
	}
}
