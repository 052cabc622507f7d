package modload

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gudevd/gudevd/modalias"
	"golang.org/x/sys/unix"
)

// goldenConfig mirrors testdata/modprobe.d/test.conf, which regen.sh hands
// to modprobe.
var goldenConfig = &modalias.Config{
	Options: map[string]string{
		"e1000": "debug=2 copybreak=128",
		"ahci":  "mobile_lpm_policy=1",
	},
	Softdeps: map[string]modalias.Softdep{
		"virtio_net": {Pre: []string{"e1000"}, Post: []string{"usbhid"}},
	},
	Install: map[string]string{
		"ahci": "/bin/echo ahci-install $CMDLINE_OPTS",
	},
}

// readGolden splits modprobe --show-depends output recorded by regen.sh
// into its "== module" sections.
func readGolden(t *testing.T, text string) (names []string, lines map[string][]string) {
	t.Helper()
	lines = make(map[string][]string)
	cur := ""
	s := bufio.NewScanner(strings.NewReader(text))
	for s.Scan() {
		l := strings.TrimSpace(s.Text())
		if name, ok := strings.CutPrefix(l, "== "); ok {
			cur = name
			names = append(names, name)
			continue
		}
		if cur == "" {
			t.Fatalf("golden line %q before any section", l)
		}
		lines[cur] = append(lines[cur], l)
	}
	if len(names) == 0 {
		t.Fatal("empty golden file")
	}
	return names, lines
}

// showDepends prints a plan the way modprobe --show-depends does.
func showDepends(p *Plan) []string {
	var out []string
	for _, s := range p.Steps {
		var l string
		switch {
		case s.Builtin:
			l = "builtin " + s.Name
		case s.Install != "":
			l = "install " + s.Install + " " + s.Options
		default:
			l = "insmod " + s.Path + " " + s.Options
		}
		out = append(out, strings.TrimSpace(l))
	}
	return out
}

func goldenPlanner(t *testing.T) *Planner {
	t.Helper()
	deps, err := LoadDeps(os.DirFS("testdata"))
	if err != nil {
		t.Fatal(err)
	}
	builtin, err := LoadBuiltin(os.DirFS("testdata"))
	if err != nil {
		t.Fatal(err)
	}
	return NewPlanner(deps, goldenConfig, builtin.Has)
}

// TestPlanMatchesModprobe compares plans for real modules, with options,
// a softdep, an install command and a built-in module, to what modprobe
// printed for the same modules.dep and configuration.
func TestPlanMatchesModprobe(t *testing.T) {
	b, err := os.ReadFile("testdata/show-depends.golden")
	if err != nil {
		t.Fatal(err)
	}
	names, golden := readGolden(t, string(b))
	p := goldenPlanner(t)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			plan := p.Plan([]string{name})
			if len(plan.Errors) != 0 {
				t.Errorf("Errors: %v", plan.Errors)
			}
			if diff := cmp.Diff(golden[name], showDepends(plan)); diff != "" {
				t.Errorf("plan differs from modprobe (-modprobe +plan):\n%s", diff)
			}
		})
	}
	t.Run("all at once", func(t *testing.T) {
		// Several requests share their common modules, each at its
		// first place in the requests' modprobe orders.
		var want []string
		for _, name := range names {
			for _, l := range golden[name] {
				if !slices.Contains(want, l) {
					want = append(want, l)
				}
			}
		}
		if diff := cmp.Diff(want, showDepends(p.Plan(names))); diff != "" {
			t.Errorf("plan differs (-want +got):\n%s", diff)
		}
	})
}

// TestPlanMatchesModprobeEveryModule plans each module of two Debian
// kernels alone (4022 modules of 6.1, and 6.12 whose modules.dep names
// .ko.xz files) and compares with modprobe.
func TestPlanMatchesModprobeEveryModule(t *testing.T) {
	for _, kernel := range []struct{ name, dir string }{
		{"6.1", "testdata"},
		{"6.12", "testdata/6.12"},
	} {
		t.Run(kernel.name, func(t *testing.T) {
			deps, err := ParseDeps(strings.NewReader(readGzip(t, kernel.dir+"/modules.dep.gz")), "modules.dep")
			if err != nil {
				t.Fatal(err)
			}
			names, golden := readGolden(t, readGzip(t, kernel.dir+"/show-depends-all.golden.gz"))
			if len(names) != deps.Len() {
				t.Errorf("golden has %d modules, modules.dep %d", len(names), deps.Len())
			}
			p := NewPlanner(deps, nil, nil)
			bad := 0
			for _, name := range names {
				plan := p.Plan([]string{name})
				if diff := cmp.Diff(golden[name], showDepends(plan)); diff != "" || len(plan.Errors) != 0 {
					if bad++; bad <= 5 {
						t.Errorf("%s: errors %v, plan differs from modprobe (-modprobe +plan):\n%s", name, plan.Errors, diff)
					}
				}
			}
			if bad > 0 {
				t.Errorf("%d of %d modules differ", bad, len(names))
			}
		})
	}
}

func TestPlan(t *testing.T) {
	// A small synthetic modules.dep: depmod writes each module's whole
	// closure, deepest last.
	const dep = `a.ko: b.ko c.ko
b.ko: c.ko
c.ko:
d.ko: a.ko b.ko c.ko
cyc1.ko: cyc2.ko
cyc2.ko: cyc1.ko
self.ko: self.ko
usescyc.ko: cyc1.ko cyc2.ko
e.ko:
f.ko:
g.ko:
inst.ko:
lonely.ko: nowhere/orphan.ko
wrongorder.ko: c.ko b.ko
nt.ko: ntdep.ko
ntdep.ko: ntdeep.ko
ntdeep.ko:
`
	deps, err := ParseDeps(strings.NewReader(dep), "modules.dep")
	if err != nil {
		t.Fatal(err)
	}
	builtin := Builtin{"bi": true}.Has
	aliases := func(alias string) []string {
		if alias == "crypto-x" {
			return []string{"f", "g"}
		}
		return nil
	}
	tests := []struct {
		name    string
		cfg     *modalias.Config
		request []string
		want    []Step
		errs    map[string]string
		black   []string
	}{
		{
			name:    "deps load deepest first",
			request: []string{"d"},
			want: []Step{
				{Name: "c", Path: "c.ko"},
				{Name: "b", Path: "b.ko", Deps: []string{"c"}},
				{Name: "a", Path: "a.ko", Deps: []string{"b", "c"}},
				{Name: "d", Path: "d.ko", Deps: []string{"a", "b", "c"}},
			},
		},
		{
			name:    "requests share modules, each once",
			request: []string{"b", "a", "b", "c"},
			want: []Step{
				{Name: "c", Path: "c.ko"},
				{Name: "b", Path: "b.ko", Deps: []string{"c"}},
				{Name: "a", Path: "a.ko", Deps: []string{"b", "c"}},
			},
		},
		{
			name:    "unknown module fails alone",
			request: []string{"nosuch", "c"},
			want:    []Step{{Name: "c", Path: "c.ko"}},
			errs:    map[string]string{"nosuch": "load module nosuch: plan: unknown module"},
		},
		{
			name:    "cycle fails its members and dependants only",
			request: []string{"usescyc", "self", "c"},
			want:    []Step{{Name: "c", Path: "c.ko"}},
			errs: map[string]string{
				"cyc1":    "load module cyc1: plan: dependency cycle: cyc1, cyc2",
				"cyc2":    "load module cyc2: plan: dependency cycle: cyc1, cyc2",
				"self":    "load module self: plan: dependency cycle: self",
				"usescyc": "load module usescyc: dependency cyc2 failed: load module cyc2: plan: dependency cycle: cyc1, cyc2",
			},
		},
		{
			name:    "module known only as a dependency",
			request: []string{"lonely"},
			want: []Step{
				{Name: "orphan", Path: "nowhere/orphan.ko"},
				{Name: "lonely", Path: "lonely.ko", Deps: []string{"orphan"}},
			},
		},
		{
			name:    "damaged dependency order is repaired",
			request: []string{"wrongorder"},
			want: []Step{
				{Name: "c", Path: "c.ko"},
				{Name: "b", Path: "b.ko", Deps: []string{"c"}},
				{Name: "wrongorder", Path: "wrongorder.ko", Deps: []string{"c", "b"}},
			},
		},
		{
			name:    "closure missing from a line is followed",
			request: []string{"nt"},
			want: []Step{
				{Name: "ntdeep", Path: "ntdeep.ko"},
				{Name: "ntdep", Path: "ntdep.ko", Deps: []string{"ntdeep"}},
				{Name: "nt", Path: "nt.ko", Deps: []string{"ntdep"}},
			},
		},
		{
			name: "options, install, builtin",
			cfg: &modalias.Config{
				Options: map[string]string{"c": "x=1 y=2", "inst": "z=3", "bi": "w=4"},
				Install: map[string]string{"in*": "echo $CMDLINE_OPTS", "cmdonly": "true"},
			},
			request: []string{"c", "inst", "bi", "cmdonly"},
			want: []Step{
				{Name: "c", Path: "c.ko", Options: "x=1 y=2"},
				{Name: "inst", Path: "inst.ko", Options: "z=3", Install: "echo $CMDLINE_OPTS"},
				{Name: "bi", Builtin: true, Options: "w=4"},
				{Name: "cmdonly", Install: "true"},
			},
		},
		{
			name: "softdeps around the module, their deps first",
			cfg: &modalias.Config{Softdeps: map[string]modalias.Softdep{
				"e": {Pre: []string{"a"}, Post: []string{"f"}},
			}},
			request: []string{"e"},
			want: []Step{
				{Name: "c", Path: "c.ko"},
				{Name: "b", Path: "b.ko", Deps: []string{"c"}},
				{Name: "a", Path: "a.ko", Deps: []string{"b", "c"}},
				{Name: "e", Path: "e.ko", Pre: []string{"a"}, Post: []string{"f"}},
				{Name: "f", Path: "f.ko"},
			},
		},
		{
			name: "softdeps of a dependency",
			cfg: &modalias.Config{Softdeps: map[string]modalias.Softdep{
				"c": {Pre: []string{"e"}},
			}},
			request: []string{"b"},
			want: []Step{
				{Name: "e", Path: "e.ko"},
				{Name: "c", Path: "c.ko", Pre: []string{"e"}},
				{Name: "b", Path: "b.ko", Deps: []string{"c"}},
			},
		},
		{
			name: "softdep cycle broken at the first revisit",
			cfg: &modalias.Config{Softdeps: map[string]modalias.Softdep{
				"e": {Pre: []string{"f"}},
				"f": {Pre: []string{"e"}},
			}},
			request: []string{"e"},
			want: []Step{
				{Name: "f", Path: "f.ko"},
				{Name: "e", Path: "e.ko", Pre: []string{"f"}},
			},
		},
		{
			name: "softdep on a dependant keeps hard order",
			cfg: &modalias.Config{Softdeps: map[string]modalias.Softdep{
				"c": {Pre: []string{"a"}},
			}},
			request: []string{"a"},
			want: []Step{
				{Name: "c", Path: "c.ko"},
				{Name: "b", Path: "b.ko", Deps: []string{"c"}},
				{Name: "a", Path: "a.ko", Deps: []string{"b", "c"}},
			},
		},
		{
			name: "unknown softdep is dropped, module still plans",
			cfg: &modalias.Config{Softdeps: map[string]modalias.Softdep{
				"e": {Pre: []string{"nosuch"}, Post: []string{"crypto-y"}},
			}},
			request: []string{"e"},
			want: []Step{
				{Name: "e", Path: "e.ko"},
			},
			errs: map[string]string{
				"nosuch":   "load module nosuch: plan softdep: unknown module",
				"crypto_y": "load module crypto_y: plan softdep: unknown module",
			},
		},
		{
			name: "softdep aliases resolve",
			cfg: &modalias.Config{Softdeps: map[string]modalias.Softdep{
				"e": {Pre: []string{"crypto-x"}},
			}},
			request: []string{"e"},
			want: []Step{
				{Name: "f", Path: "f.ko"},
				{Name: "g", Path: "g.ko"},
				{Name: "e", Path: "e.ko", Pre: []string{"f", "g"}},
			},
		},
		{
			name: "softdeps override the install command",
			cfg: &modalias.Config{
				Install:  map[string]string{"inst": "echo hi", "cmdonly": "true"},
				Softdeps: map[string]modalias.Softdep{"inst": {Pre: []string{"e"}}, "cmdonly": {Pre: []string{"e"}}},
			},
			request: []string{"inst", "cmdonly"},
			want: []Step{
				{Name: "e", Path: "e.ko"},
				{Name: "inst", Path: "inst.ko", Pre: []string{"e"}},
			},
			errs: map[string]string{
				"cmdonly": "load module cmdonly: plan: unknown module: install command ignored because of softdeps, and no module file",
			},
		},
		{
			name:    "blacklist applies to requests, not dependencies",
			cfg:     &modalias.Config{Blacklist: map[string]bool{"b": true, "c": true}},
			request: []string{"c", "a"},
			want: []Step{
				{Name: "c", Path: "c.ko"},
				{Name: "b", Path: "b.ko", Deps: []string{"c"}},
				{Name: "a", Path: "a.ko", Deps: []string{"b", "c"}},
			},
			black: []string{"c"},
		},
		{
			name:    "names are normalised",
			request: []string{"usb-thing", "c"},
			want:    []Step{{Name: "c", Path: "c.ko"}},
			errs:    map[string]string{"usb_thing": "load module usb_thing: plan: unknown module"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := NewPlanner(deps, tt.cfg, builtin, WithAliases(aliases)).Plan(tt.request)
			if diff := cmp.Diff(tt.want, plan.Steps); diff != "" {
				t.Errorf("Steps mismatch (-want +got):\n%s", diff)
			}
			got := make(map[string]string)
			for n, err := range plan.Errors {
				got[n] = err.Error()
			}
			if tt.errs == nil {
				tt.errs = map[string]string{}
			}
			if diff := cmp.Diff(tt.errs, got); diff != "" {
				t.Errorf("Errors mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.black, plan.Blacklisted); diff != "" {
				t.Errorf("Blacklisted mismatch (-want +got):\n%s", diff)
			}
			checkPlanOrder(t, plan)
		})
	}
}

// checkPlanOrder checks the invariant Run relies on: every prerequisite
// comes earlier, every Post later, and no step depends on a failed module.
func checkPlanOrder(t *testing.T, plan *Plan) {
	t.Helper()
	pos := make(map[string]int)
	for i, s := range plan.Steps {
		if _, dup := pos[s.Name]; dup {
			t.Errorf("step %s twice", s.Name)
		}
		pos[s.Name] = i
		if _, failed := plan.Errors[s.Name]; failed {
			t.Errorf("step %s is also in Errors", s.Name)
		}
	}
	for i, s := range plan.Steps {
		for _, d := range slices.Concat(s.Deps, s.Pre) {
			if j, ok := pos[d]; !ok || j >= i {
				t.Errorf("step %s: prerequisite %s at %d, ok %v", s.Name, d, j, ok)
			}
		}
		for _, d := range s.Post {
			if j, ok := pos[d]; !ok || j <= i {
				t.Errorf("step %s: post %s at %d, ok %v", s.Name, d, j, ok)
			}
		}
	}
}

func TestPlanErrorsMatchErrno(t *testing.T) {
	deps, err := ParseDeps(strings.NewReader("x.ko: y.ko\ny.ko: x.ko\nz.ko: x.ko y.ko\n"), "modules.dep")
	if err != nil {
		t.Fatal(err)
	}
	plan := NewPlanner(deps, nil, nil).Plan([]string{"z", "nosuch"})
	tests := []struct {
		module string
		target error
		want   bool
	}{
		{"nosuch", ErrUnknownModule, true},
		{"nosuch", unix.ENOENT, true},
		{"x", ErrDependencyCycle, true},
		{"x", unix.ELOOP, true},
		{"x", unix.ENOENT, false},
		{"z", ErrDependencyFailed, true},
		{"z", ErrDependencyCycle, true},
		{"z", unix.ELOOP, true},
		{"z", unix.ENOENT, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%v", tt.module, tt.target), func(t *testing.T) {
			if got := errors.Is(plan.Errors[tt.module], tt.target); got != tt.want {
				t.Errorf("errors.Is(%v, %v) = %v, want %v", plan.Errors[tt.module], tt.target, got, tt.want)
			}
		})
	}
}

func BenchmarkPlanEveryModule(b *testing.B) {
	deps, err := ParseDeps(strings.NewReader(readGzip(b, "testdata/modules.dep.gz")), "modules.dep")
	if err != nil {
		b.Fatal(err)
	}
	names := make([]string, 0, deps.Len())
	for n := range deps.mods {
		names = append(names, n)
	}
	p := NewPlanner(deps, nil, nil)
	for b.Loop() {
		if plan := p.Plan(names); len(plan.Steps) != len(names) {
			b.Fatalf("%d steps for %d modules", len(plan.Steps), len(names))
		}
	}
}
