package modules

import (
	"compress/gzip"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gudevd/gudevd/modload"
)

// binTree writes a modules directory holding only depmod's .bin indexes
// of modalias's synthetic tree (builtin modules and their aliases, made by
// depmod; see modalias/testdata/regen.sh): no text file at all, so only
// the .bin path can answer.
func binTree(t *testing.T) Tree {
	t.Helper()
	src := filepath.Join("..", "..", "..", "..", "modalias", "testdata", "0.0.0-synthetic")
	dir := t.TempDir()
	for _, name := range []string{"modules.dep.bin", "modules.alias.bin", "modules.symbols.bin", "modules.builtin.bin", "modules.builtin.alias.bin"} {
		f, err := os.Open(filepath.Join(src, name+".gz"))
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(zr)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return Tree{Root: t.TempDir(), Dir: dir}
}

// TestLoadDirectReadsBinIndexes: the daemon-less helper answers from the
// .bin indexes, as kmod's modprobe does. A builtin alias needs no load, so
// nothing reaches the kernel.
func TestLoadDirectReadsBinIndexes(t *testing.T) {
	tests := []struct {
		name    string
		lookup  string
		want    []string // modules found, in modprobe -R's order
		wantErr string   // in the one result of a lookup that finds nothing
	}{
		{"builtin alias", "plain-name", []string{"sigma"}, ""},
		{"builtin module", "alpha", []string{"alpha"}, ""},
		{"wildcard builtin aliases", "gx:a[b]c", []string{"rho", "alpha", "omicron", "zeta", "xi"}, ""},
		{"nothing", "no-such-module", []string{"no-such-module"}, "unknown module"},
	}
	tree := binTree(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Direct{Log: slog.New(slog.DiscardHandler), Tree: tree, Sysfs: t.TempDir()}
			res, _ := LoadDirect(context.Background(), d, []string{tt.lookup})
			var got []string
			for _, r := range res {
				if (tt.wantErr == "") != (r.Error == "") || !strings.Contains(r.Error, tt.wantErr) {
					t.Errorf("%s: error %q, want %q", r.Module, r.Error, tt.wantErr)
				}
				got = append(got, r.Module)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("LoadDirect(%q) modules (-want +got):\n%s", tt.lookup, diff)
			}
		})
	}
}

// TestReplaceClosesIndexAfterLastLookup: a reload's Replace must not unmap
// the old .bin indexes under a lookup still walking them, and must close
// them once that lookup is done (else every reload leaks the mappings).
// A closed index answers nothing, which is what the test looks at.
func TestReplaceClosesIndexAfterLastLookup(t *testing.T) {
	tree := binTree(t)
	open := func() *Catalog {
		c, err := LoadCatalog(slog.New(slog.DiscardHandler), tree, "")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	resolves := func(c *Catalog) bool {
		l := c.Lookup([]string{"plain-name"}, modload.LookupOptions{})
		return len(l) == 1 && len(l[0].Found) > 0
	}
	old := open()
	m := New(Config{Catalog: old, Runner: &stepRecorder{}})
	pinned, release := m.pin()
	if pinned != old {
		t.Fatal("pin returned another catalog than the one in use")
	}
	m.Replace(open())
	if !resolves(old) {
		t.Fatal("Replace closed the old index while a lookup held it")
	}
	release()
	if resolves(old) {
		t.Fatal("the old index still answers after its last lookup: Replace never closed it")
	}
	cur, release := m.pin()
	release()
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if resolves(cur) {
		t.Fatal("Close left the index in use open")
	}
}
