package main

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/sys/unix"
)

// oracleTree is a small module directory: c needs b needs a (modules.dep
// lists every hard dependency, closest first), c has a softdep pre: on an
// alias of e and a post: on d-x, and a's softdep pre: on b would close a
// cycle.
func oracleTree() fstest.MapFS {
	return fstest.MapFS{
		"modules.dep": {Data: []byte("kernel/a.ko:\nkernel/b.ko: kernel/a.ko\nkernel/c.ko: kernel/b.ko kernel/a.ko\n" +
			"kernel/d-x.ko.xz:\nkernel/e.ko:\nkernel/live.ko: kernel/e.ko\n")},
		"modules.alias":   {Data: []byte("alias crypto-foo e\nalias pci:v*d0001* c\n")},
		"modules.softdep": {Data: []byte("# Soft dependencies extracted from modules themselves.\nsoftdep c pre: crypto-foo post: d-x\nsoftdep a pre: b\n")},
		"modules.builtin": {Data: []byte("kernel/bi.ko\n")},
	}
}

func TestLoadPlan(t *testing.T) {
	live := func(m string) bool { return m == "live" }
	tests := []struct {
		name  string
		names []string
		order []string
		nodes map[string]planNode
	}{
		{
			name:  "hard and soft pre dependencies; post and the cycle are not edges",
			names: []string{"c"},
			order: []string{"a", "b", "e", "c"},
			nodes: map[string]planNode{
				"a": {path: "kernel/a.ko"},
				"b": {path: "kernel/b.ko", deps: []string{"a"}},
				"c": {path: "kernel/c.ko", deps: []string{"a", "b", "e"}},
				"e": {path: "kernel/e.ko"},
			},
		},
		{
			name:  "built-in, missing and live modules are kept, marked",
			names: []string{"bi", "nope", "live", "d-x"},
			order: []string{"bi", "d_x", "e", "live", "nope"},
			nodes: map[string]planNode{
				"bi":   {skip: "builtin"},
				"d_x":  {path: "kernel/d-x.ko.xz"},
				"e":    {path: "kernel/e.ko"},
				"live": {path: "kernel/live.ko", skip: "live", deps: []string{"e"}},
				"nope": {skip: "missing"},
			},
		},
		{
			name:  "a's pre: on b would be a cycle: b joins the plan, the edge does not",
			names: []string{"a"},
			order: []string{"a", "b"},
			nodes: map[string]planNode{
				"a": {path: "kernel/a.ko"},
				"b": {path: "kernel/b.ko", deps: []string{"a"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := loadPlan(oracleTree(), tt.names, live)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.order, p.order); diff != "" {
				t.Errorf("order (-want +got):\n%s", diff)
			}
			got := map[string]planNode{}
			for m, n := range p.nodes {
				got[m] = *n
			}
			if diff := cmp.Diff(tt.nodes, got, cmp.AllowUnexported(planNode{}), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("nodes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPlanCycle(t *testing.T) {
	p := &plan{nodes: map[string]*planNode{"x": {deps: []string{"y"}}, "y": {deps: []string{"x"}}}}
	if err := p.sort(); !errors.Is(err, errCycle) {
		t.Errorf("sort of a cycle: %v, want errCycle", err)
	}
}

// TestPlanRun loads with a fake loader on a logical clock: every module
// starts after its dependencies ended, a failed dependency is recorded and
// its dependants still tried, EEXIST is success, skipped modules are not
// loaded.
func TestPlanRun(t *testing.T) {
	p, err := loadPlan(oracleTree(), []string{"c", "live", "bi", "nope"}, func(m string) bool { return m == "live" })
	if err != nil {
		t.Fatal(err)
	}
	var clock atomic.Int64
	now := func() float64 { return float64(clock.Add(1)) }
	errs := map[string]error{"kernel/a.ko": unix.EEXIST, "kernel/e.ko": unix.ENODEV}
	var mu sync.Mutex
	var loaded []string
	load := func(path string) error {
		mu.Lock()
		loaded = append(loaded, path)
		mu.Unlock()
		return errs[path]
	}
	res := p.run(context.Background(), 0, load, now)
	got := map[string]OracleLoad{}
	for _, r := range res {
		got[r.Module] = r
	}
	for _, r := range res {
		for _, d := range p.nodes[r.Module].deps {
			if got[d].Skip == "" && r.Skip == "" && got[d].End >= r.Start {
				t.Errorf("%s started at %v, before its dependency %s ended at %v", r.Module, r.Start, d, got[d].End)
			}
		}
	}
	clear := func(r OracleLoad) OracleLoad { r.Start, r.End = 0, 0; return r }
	want := map[string]OracleLoad{
		"a":    {Module: "a", Ret: -17, Errno: "EEXIST"},
		"b":    {Module: "b"},
		"bi":   {Module: "bi", Skip: "builtin"},
		"c":    {Module: "c", FailedDeps: []string{"e"}},
		"e":    {Module: "e", Ret: -19, Errno: "ENODEV"},
		"live": {Module: "live", Skip: "live", FailedDeps: []string{"e"}},
		"nope": {Module: "nope", Skip: "missing"},
	}
	for m, r := range got {
		got[m] = clear(r)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("loads (-want +got):\n%s", diff)
	}
	if len(loaded) != 4 {
		t.Errorf("loaded %v, want a, b, c and e once each", loaded)
	}
}

// TestPlanRunJobs: independent modules load at once without a limit (each
// fake load waits until both are in flight, so a serial run would time
// out), and never more than -jobs at a time with one.
func TestPlanRunJobs(t *testing.T) {
	tree := fstest.MapFS{
		"modules.dep":     {Data: []byte("x.ko:\ny.ko:\nz.ko:\n")},
		"modules.alias":   {Data: nil},
		"modules.softdep": {Data: nil},
		"modules.builtin": {Data: nil},
	}
	p, err := loadPlan(tree, []string{"x", "y", "z"}, func(string) bool { return false })
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		jobs     int
		wantBusy int32
	}{
		{name: "no limit: all three in flight", jobs: 0, wantBusy: 3},
		{name: "two at a time", jobs: 2, wantBusy: 2},
		{name: "one at a time", jobs: 1, wantBusy: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var busy, most atomic.Int32
			load := func(string) error {
				n := busy.Add(1)
				defer busy.Add(-1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				deadline := time.Now().Add(200 * time.Millisecond)
				for most.Load() < tt.wantBusy && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
				return nil
			}
			res := p.run(context.Background(), tt.jobs, load, func() float64 { return 0 })
			if got := most.Load(); got != tt.wantBusy {
				t.Errorf("at most %d loads in flight, want %d", got, tt.wantBusy)
			}
			for _, r := range res {
				if r.Ret != 0 {
					t.Errorf("load %+v failed", r)
				}
			}
		})
	}
}

// TestPlanColdplugSet plans the 6.1 guest's coldplug set over Debian's
// full depmod output: the plan holds exactly the listed modules (the list
// is already closed under dependencies), none missing, and the softdep
// pre: of crc_t10dif on crct10dif orders crct10dif_pclmul first.
func TestPlanColdplugSet(t *testing.T) {
	fsys := untarFS(t, "../kmodset/testdata/6.1.0-47-amd64.tar.gz")
	b, err := os.ReadFile("../../testdata/modules-6.1.txt")
	if err != nil {
		t.Fatal(err)
	}
	names := strings.Fields(string(b))
	p, err := loadPlan(fsys, names, func(string) bool { return false })
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for m, n := range p.nodes {
		if n.skip != "" {
			t.Errorf("%s skipped: %s", m, n.skip)
		}
		got = append(got, m)
	}
	if diff := cmp.Diff(names, got, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("planned modules (-list +plan):\n%s", diff)
	}
	if n := p.nodes["crc_t10dif"]; n == nil || !slices.Contains(n.deps, "crct10dif_pclmul") {
		t.Errorf("crc_t10dif %+v lacks its softdep pre: crct10dif_pclmul", n)
	}
}

func untarFS(t *testing.T, name string) fstest.MapFS {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return fsys
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		fsys[h.Name] = &fstest.MapFile{Data: b}
	}
}
