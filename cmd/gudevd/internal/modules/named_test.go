package modules

import (
	"context"
	"slices"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/gudevd/gudevd/modalias"
	"github.com/gudevd/gudevd/modload"
	"github.com/gudevd/gudevd/workers"
)

// stepRecorder is a Runner that loads nothing: it keeps every step it is
// handed and answers it as loaded.
type stepRecorder struct {
	mu    sync.Mutex // guards steps
	steps []modload.Step
}

func (r *stepRecorder) Run(_ context.Context, job []byte) ([]byte, error) {
	s, err := modload.UnmarshalStep(job)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.steps = append(r.steps, s)
	r.mu.Unlock()
	return modload.MarshalResult(modload.Result{Module: s.Name}, nil)
}

func (*stepRecorder) Stats() workers.PoolStats { return workers.PoolStats{} }

// namedTree is a small module tree with the modprobe.d lines the cases
// below are about.
func namedTree(t *testing.T, conf string) *modalias.Index {
	t.Helper()
	ix, err := modalias.Load(modalias.Sources{
		Modules: fstest.MapFS{
			"modules.dep": {Data: []byte("kernel/e1000.ko:\nkernel/e1000e.ko:\nkernel/pcspkr.ko:\n" +
				"kernel/failover.ko:\nkernel/virtio_net.ko: kernel/failover.ko\nkernel/snd-hda-intel.ko:\n" +
				"kernel/foo.ko:\nkernel/bar.ko:\n")},
			"modules.alias": {Data: []byte("alias pci:v00001234d* e1000e\nalias pci:v00005678d* e1000\n")},
		},
		Root: fstest.MapFS{"etc/modprobe.d/test.conf": {Data: []byte(conf)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if p := ix.Problems(); len(p) > 0 {
		t.Fatalf("test tree: %v", p)
	}
	return ix
}

// TestLoadMatchesKmod loads names (gudevd load, gudevd modprobe, the
// kernel's request_module) and MODALIAS strings (uevents) and checks what
// reaches the workers against what kmod 30's modprobe loads for the same
// configuration (modprobe -C, -D): the blacklist applies to what an alias
// finds, or with udev's -b to everything a lookup finds, never to a module
// named directly; options of the alias a module was found through apply;
// install lines and softdeps match as libkmod matches them.
func TestLoadMatchesKmod(t *testing.T) {
	tests := []struct {
		name     string
		conf     string
		names    []string // LoadNamed
		modalias string   // LoadModalias
		want     []modload.Step
		results  []Result
	}{
		{
			name:    "blacklisted module named directly loads",
			conf:    "blacklist e1000e\n",
			names:   []string{"e1000e"},
			want:    []modload.Step{{Name: "e1000e", Path: "kernel/e1000e.ko"}},
			results: []Result{{Module: "e1000e", Result: "loaded"}},
		},
		{
			name:    "blacklisted module through a modprobe.d alias does not",
			conf:    "blacklist e1000e\nalias mynic e1000e\n",
			names:   []string{"mynic"},
			results: []Result{{Module: "e1000e", Result: "blacklisted"}},
		},
		{
			name:     "the udev path blacklists what a MODALIAS finds",
			conf:     "blacklist e1000e\n",
			modalias: "pci:v00001234d00000001",
			results:  []Result{{Module: "e1000e", Result: "blacklisted"}},
		},
		{
			name:    "options of the modprobe.d alias pattern",
			conf:    "alias my* e1000\noptions my* star=1\noptions e1000 name=1\noptions mynic other=1\n",
			names:   []string{"mynic"},
			want:    []modload.Step{{Name: "e1000", Path: "kernel/e1000.ko", Options: "star=1 name=1"}},
			results: []Result{{Module: "e1000", Result: "loaded"}},
		},
		{
			name:     "options of the MODALIAS looked up",
			conf:     "options pci:v00005678d00000001 exact=1\noptions pci:v00005678d* pattern=1\n",
			modalias: "pci:v00005678d00000001",
			want:     []modload.Step{{Name: "e1000", Path: "kernel/e1000.ko", Options: "exact=1"}},
			results:  []Result{{Module: "e1000", Result: "loaded"}},
		},
		{
			name:    "options never glob",
			conf:    "options snd[!x]* index=-2\noptions snd-hda-intel enable=1\n",
			names:   []string{"snd-hda-intel"},
			want:    []modload.Step{{Name: "snd_hda_intel", Path: "kernel/snd-hda-intel.ko", Options: "enable=1"}},
			results: []Result{{Module: "snd_hda_intel", Result: "loaded"}},
		},
		{
			name:  "softdep patterns glob with fnmatch",
			conf:  "softdep virtio_n[!x]t pre: e1000\n",
			names: []string{"virtio_net"},
			want: []modload.Step{
				{Name: "failover", Path: "kernel/failover.ko"},
				{Name: "e1000", Path: "kernel/e1000.ko"},
				{Name: "virtio_net", Path: "kernel/virtio_net.ko", Deps: []string{"failover"}, Pre: []string{"e1000"}},
			},
			results: []Result{{Module: "failover", Result: "loaded"}, {Module: "e1000", Result: "loaded"}, {Module: "virtio_net", Result: "loaded"}},
		},
		{
			// A name known only from install lines takes the first
			// line naming it exactly (kmod_lookup_alias_from_commands),
			// not the first glob that matches.
			name:    "install line named exactly",
			conf:    "install gudevd* /bin/echo glob\ninstall gudevd_x /bin/echo exact\n",
			names:   []string{"gudevd-x"},
			want:    []modload.Step{{Name: "gudevd_x", Install: "/bin/echo exact"}},
			results: []Result{{Module: "gudevd_x", Result: "loaded"}},
		},
		{
			// libkmod looks a softdep up as modprobe looks a name up:
			// modprobe.d aliases first, and no blacklist.
			name:  "softdeps through aliases, blacklist ignored",
			conf:  "softdep e1000 pre: spk foo\nalias spk pcspkr\nblacklist pcspkr\nalias foo bar\n",
			names: []string{"e1000"},
			want: []modload.Step{
				{Name: "pcspkr", Path: "kernel/pcspkr.ko"},
				{Name: "bar", Path: "kernel/bar.ko"},
				{Name: "e1000", Path: "kernel/e1000.ko", Pre: []string{"pcspkr", "bar"}},
			},
			results: []Result{{Module: "pcspkr", Result: "loaded"}, {Module: "bar", Result: "loaded"}, {Module: "e1000", Result: "loaded"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &stepRecorder{}
			m := New(Config{Catalog: NewCatalog(namedTree(t, tt.conf)), Runner: rec})
			defer m.Close(context.Background())
			var res []Result
			if tt.modalias != "" {
				res = m.LoadModalias(t.Context(), tt.modalias)
			} else {
				var err error
				if res, err = m.LoadNamed(t.Context(), tt.names, false); err != nil {
					t.Errorf("LoadNamed(%q): %v", tt.names, err)
				}
			}
			// Steps that do not wait for each other run in any order.
			slices.SortStableFunc(rec.steps, func(a, b modload.Step) int {
				return slices.Index(stepNames(tt.want), a.Name) - slices.Index(stepNames(tt.want), b.Name)
			})
			if d := cmp.Diff(tt.want, rec.steps, cmpopts.EquateEmpty()); d != "" {
				t.Errorf("steps run (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tt.results, res, cmpopts.EquateEmpty()); d != "" {
				t.Errorf("results (-want +got):\n%s", d)
			}
		})
	}
}

func stepNames(steps []modload.Step) []string {
	var out []string
	for _, s := range steps {
		out = append(out, s.Name)
	}
	return out
}
