package modload

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/sys/unix"
)

// probeFiles is a small tree for the probe list cases: a needs b and c, b
// needs c, and alias x finds e.
var probeFiles = map[string]string{
	"modules.dep":     "a.ko: b.ko c.ko\nb.ko: c.ko\nc.ko:\ne.ko:\nf.ko:\n/abs/g.ko:\n",
	"modules.builtin": "kernel/bi.ko\n",
	"modules.alias":   "alias x-* e\nalias x-* f\n",
}

// TestLookup pins down libkmod's probe lists (the order modprobe loads and
// --show-depends prints) where they are more than a dependency order: the
// repetitions, the two modules a name and an alias make, where parameters
// go, and what the blacklist drops. The conformance test checks the same
// against kmod on real trees.
func TestLookup(t *testing.T) {
	tests := []struct {
		name   string
		conf   string
		lookup []string
		opts   LookupOptions
		want   []Lookup
	}{
		{
			name:   "dependencies deepest first, then the module",
			lookup: []string{"a"},
			want: []Lookup{{Name: "a", Found: []Probe{{Module: "a", Actions: []Action{
				{Module: "c", Path: "c.ko"}, {Module: "b", Path: "b.ko"}, {Module: "a", Path: "a.ko", Top: true},
			}}}}},
		},
		{
			// A dependency is added each time the module needing it is,
			// and a softdep's own probe list adds them again.
			name:   "a softdep that is also a dependency comes twice",
			conf:   "softdep a pre: b\n",
			lookup: []string{"a"},
			want: []Lookup{{Name: "a", Found: []Probe{{Module: "a", Actions: []Action{
				{Module: "c", Path: "c.ko"}, {Module: "b", Path: "b.ko"},
				{Module: "c", Path: "c.ko"}, {Module: "b", Path: "b.ko"},
				{Module: "a", Path: "a.ko", Top: true},
			}}}}},
		},
		{
			// The module found through an alias and the same module by
			// name are two of libkmod's modules: each is visited, each
			// with its own options.
			name:   "a module by name and through an alias",
			conf:   "alias y* e\nsoftdep e pre: yes\noptions y* via=y\noptions e own=1\n",
			lookup: []string{"e"},
			want: []Lookup{{Name: "e", Found: []Probe{{Module: "e", Actions: []Action{
				{Module: "e", Path: "e.ko", Options: "via=y own=1"},
				{Module: "e", Path: "e.ko", Options: "own=1", Top: true},
			}}}}},
		},
		{
			name:   "every module an alias finds, with repetitions, each its own probe",
			lookup: []string{"x-1"},
			opts:   LookupOptions{Params: "p=1"},
			want: []Lookup{{Name: "x-1", Found: []Probe{
				{Module: "e", Alias: "x_1", Actions: []Action{{Module: "e", Path: "e.ko", Params: "p=1", Top: true}}},
				{Module: "f", Alias: "x_1", Actions: []Action{{Module: "f", Path: "f.ko", Params: "p=1", Top: true}}},
			}}},
		},
		{
			name:   "parameters go to the module found only",
			conf:   "options c x=1\n",
			lookup: []string{"b"},
			opts:   LookupOptions{Params: "p=1"},
			want: []Lookup{{Name: "b", Found: []Probe{{Module: "b", Actions: []Action{
				{Module: "c", Path: "c.ko", Options: "x=1"}, {Module: "b", Path: "b.ko", Params: "p=1", Top: true},
			}}}}},
		},
		{
			name:   "the blacklist: a name loads, an alias does not",
			conf:   "blacklist e\nblacklist a\n",
			lookup: []string{"a", "x-1"},
			want: []Lookup{
				{Name: "a", Found: []Probe{{Module: "a", Actions: []Action{
					{Module: "c", Path: "c.ko"}, {Module: "b", Path: "b.ko"}, {Module: "a", Path: "a.ko", Top: true},
				}}}},
				{Name: "x-1", Found: []Probe{
					{Module: "e", Alias: "x_1", Blacklisted: true},
					{Module: "f", Alias: "x_1", Actions: []Action{{Module: "f", Path: "f.ko", Top: true}}},
				}},
			},
		},
		{
			name:   "with -b, a name too",
			conf:   "blacklist a\nblacklist c\n",
			lookup: []string{"a", "b"},
			opts:   LookupOptions{Blacklist: BlacklistAll},
			want: []Lookup{
				{Name: "a", Found: []Probe{{Module: "a", Blacklisted: true}}},
				{Name: "b", Found: []Probe{{Module: "b", Actions: []Action{
					{Module: "c", Path: "c.ko"}, {Module: "b", Path: "b.ko", Top: true},
				}}}},
			},
		},
		{
			name:   "an install line named exactly, a glob, and softdeps over both",
			conf:   "install g* /bin/glob\ninstall gx /bin/exact\ninstall e /bin/e\nsoftdep e pre: f\n",
			lookup: []string{"gx", "g", "e"},
			want: []Lookup{
				{Name: "gx", Found: []Probe{{Module: "gx", Actions: []Action{{Module: "gx", Install: "/bin/exact", Top: true}}}}},
				{Name: "g", Found: []Probe{{Module: "g", Actions: []Action{{Module: "g", Path: "/abs/g.ko", Install: "/bin/glob", Top: true}}}}},
				{Name: "e", Found: []Probe{{Module: "e", Actions: []Action{
					{Module: "f", Path: "f.ko"}, {Module: "e", Path: "e.ko", Top: true, installIgnored: true},
				}}}},
			},
		},
		{
			name:   "an alias to an alias names a module that does not exist",
			conf:   "alias a1 a2\nalias a2 e\n",
			lookup: []string{"a1", "nosuch", "bi"},
			want: []Lookup{
				{Name: "a1", Found: []Probe{{Module: "a2", Alias: "a1", Actions: []Action{{Module: "a2", Top: true}}}}},
				{Name: "nosuch"},
				{Name: "bi", Found: []Probe{{Module: "bi", Builtin: true, Actions: []Action{{Module: "bi", Builtin: true, Top: true}}}}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := NewPlanner(testIndex(t, probeFiles, tt.conf)).Lookup(tt.lookup, tt.opts)
			if d := cmp.Diff(tt.want, got, cmp.AllowUnexported(Action{}), cmpopts.EquateEmpty()); d != "" {
				t.Errorf("Lookup(%q) (-want +got):\n%s", tt.lookup, d)
			}
		})
	}
}

// TestShowProbe checks print_action's lines byte for byte and the dry run's
// handling of what the kernel has.
func TestShowProbe(t *testing.T) {
	p := Probe{Module: "m", Actions: []Action{
		{Module: "d", Path: "kernel/d.ko"},
		{Module: "o", Path: "kernel/o.ko", Options: "x=1"},
		{Module: "abs", Path: "/abs/abs.ko", Options: "y=2"},
		{Module: "i", Install: "/bin/i $CMDLINE_OPTS", Options: "z=3"},
		{Module: "bi", Builtin: true, Options: "ignored=1"},
		{Module: "none"},
		{Module: "m", Path: "kernel/m.ko", Options: "a=1", Params: "p=1", Top: true},
	}}
	all := "insmod /lib/modules/v/kernel/d.ko \n" +
		"insmod /lib/modules/v/kernel/o.ko x=1 \n" +
		"insmod /abs/abs.ko y=2 \n" +
		"install /bin/i $CMDLINE_OPTS z=3 \n" +
		"builtin bi\n" +
		"insmod /lib/modules/v/kernel/m.ko a=1 p=1\n"
	live := func(n string) bool { return n == "o" || n == "live" }
	tests := []struct {
		name    string
		probe   Probe
		opts    ShowOptions
		want    string
		wantErr error
	}{
		{name: "show-depends", probe: p, want: all},
		{name: "blacklisted", probe: Probe{Module: "m", Blacklisted: true}},
		{
			name:  "dry run skips live and builtin modules",
			probe: p,
			opts:  ShowOptions{Live: live},
			want: "insmod /lib/modules/v/kernel/d.ko \ninsmod /abs/abs.ko y=2 \ninstall /bin/i $CMDLINE_OPTS z=3 \n" +
				"insmod /lib/modules/v/kernel/m.ko a=1 p=1\n",
		},
		{name: "dry run without -v", probe: p, opts: ShowOptions{Live: live, Quiet: true}},
		{name: "dry run of a live module", probe: Probe{Module: "live", Actions: p.Actions}, opts: ShowOptions{Live: live}},
		{
			name:    "first time, live",
			probe:   Probe{Module: "live", Blacklisted: true},
			opts:    ShowOptions{Live: live, FirstTime: true},
			wantErr: ErrInKernel,
		},
		{
			name:    "first time, built in",
			probe:   Probe{Module: "bi", Builtin: true},
			opts:    ShowOptions{Live: live, FirstTime: true},
			wantErr: unix.EEXIST,
		},
		{name: "first time with --show-depends", probe: Probe{Module: "live"}, opts: ShowOptions{FirstTime: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Dir = "/lib/modules/v"
			var buf bytes.Buffer
			err := ShowProbe(&buf, tt.probe, tt.opts)
			if (tt.wantErr == nil) != (err == nil) || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Fatalf("ShowProbe error %v, want %v", err, tt.wantErr)
			}
			if d := cmp.Diff(tt.want, buf.String()); d != "" {
				t.Errorf("output (-want +got):\n%s", d)
			}
		})
	}
}
