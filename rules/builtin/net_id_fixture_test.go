package builtin

import (
	"bufio"
	"context"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gudevd/gudevd/uevent/sysfstest"
)

// readGolden reads a golden file of sections "[syspath]" and their
// KEY=value lines.
func readGolden(t *testing.T, file string) (order []string, want map[string][]Prop) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want = map[string][]Prop{}
	cur := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			cur = line[1 : len(line)-1]
			order = append(order, cur)
			want[cur] = nil
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || cur == "" {
				t.Fatalf("%s: bad line %q", file, line)
			}
			want[cur] = append(want[cur], Prop{Key: k, Value: v})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return order, want
}

// TestNetIDFixture runs net_id on every interface of the captured tree
// (class/net lists them) against the golden file.
func TestNetIDFixture(t *testing.T) {
	sys, err := sysfstest.Load("testdata/sys.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	order, want := readGolden(t, "testdata/net_id/sys.golden")
	links, err := fs.ReadDir(sys, "class/net")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, l := range links {
		d, err := NewSysDevice(sys, path.Join("class/net", l.Name()))
		if err != nil {
			t.Fatal(err)
		}
		found = append(found, d.Path)
	}
	sorted := append([]string(nil), order...)
	sort.Strings(sorted)
	sort.Strings(found)
	if diff := cmp.Diff(found, sorted); diff != "" {
		t.Errorf("interfaces of the tree against the golden file (-tree +golden):\n%s", diff)
	}
	for _, p := range order {
		t.Run(p, func(t *testing.T) {
			d := SysDevice{FS: sys, Path: p}
			got, err := NetID(context.Background(), &Device{Sysfs: sys, Syspath: p, Props: d.Uevent()}, nil, DefaultNamingScheme(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want[p], got); diff != "" {
				t.Errorf("NetID (-golden +got):\n%s", diff)
			}
		})
	}
}
