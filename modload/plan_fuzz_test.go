package modload

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/gudevd/gudevd/modalias"
)

// FuzzPlan builds planners from arbitrary modules.dep text and softdep
// lines ("mod pre1 pre2 : post1") and checks the invariants Run relies on:
// every requested module is planned, failed or blacklisted; every
// prerequisite comes earlier and every Post later; an unknown softdep is
// no module; and Run over the plan finishes, calling each step once, after
// its prerequisites. It also checks Lookup against PlanLookup and what
// ShowDepends prints (checkLookup).
func FuzzPlan(f *testing.F) {
	f.Add("a.ko: b.ko c.ko\nb.ko: c.ko\nc.ko:\n", "a c : b\nc a", "a b x")
	f.Add("x.ko: y.ko\ny.ko: x.ko\nz.ko: x.ko\n", "z y", "z y x")
	f.Add("p.ko: q.ko\nq.ko:\nr.ko: p.ko q.ko\n", "q r : p\np : q", "r q")
	f.Fuzz(func(t *testing.T, depText, softText, request string) {
		conf := "install inst true\nblacklist black\n"
		for line := range strings.Lines(softText) {
			pre, post, _ := strings.Cut(line, ":")
			f := strings.Fields(pre)
			if len(f) == 0 {
				continue
			}
			conf += fmt.Sprintf("softdep %s pre: %s post: %s\n", f[0], strings.Join(f[1:], " "), strings.Join(strings.Fields(post), " "))
		}
		// Bad lines in either file are skipped (modalias reports
		// them): the planner sees whatever the index kept.
		ix, err := modalias.Load(modalias.Sources{
			Modules: fstest.MapFS{
				"modules.dep":     {Data: []byte(depText)},
				"modules.alias":   {},
				"modules.builtin": {Data: []byte("kernel/bi.ko\n")},
			},
			Root: fstest.MapFS{"etc/modprobe.d/fuzz.conf": {Data: []byte(conf)}},
		})
		if err != nil {
			t.Fatal(err)
		}
		names := strings.Fields(request)
		plan := NewPlanner(ix).Plan(names)
		checkPlanOrder(t, plan)
		for _, n := range names {
			n = modalias.ModuleName(n)
			_, failed := plan.Errors[n]
			planned := slices.ContainsFunc(plan.Steps, func(s Step) bool { return s.Name == n })
			if !failed && !planned && !slices.Contains(plan.Blacklisted, n) {
				t.Errorf("requested %s is nowhere in the plan", n)
			}
		}
		for _, n := range plan.UnknownSoftdeps {
			// Either a word whose lookup finds nothing, or a module
			// found that has nothing to load.
			m, _ := ix.Module(n)
			planned := slices.ContainsFunc(plan.Steps, func(s Step) bool { return s.Name == n })
			if len(ix.Candidates(n)) > 0 && (planned || m.Path != "" || m.Builtin) {
				t.Errorf("unknown softdep %s is a known module", n)
			}
		}
		checkLookup(t, NewPlanner(ix), names)

		var mu sync.Mutex
		done := make(map[string]bool)
		errs := Run(t.Context(), plan, 3, func(ctx context.Context, s Step) error {
			mu.Lock()
			defer mu.Unlock()
			if done[s.Name] {
				t.Errorf("%s run twice", s.Name)
			}
			for _, d := range slices.Concat(s.Deps, s.Pre) {
				if !done[d] {
					t.Errorf("%s run before its prerequisite %s", s.Name, d)
				}
			}
			done[s.Name] = true
			return nil
		})
		for _, s := range plan.Steps {
			if errs[s.Name] != nil || !done[s.Name] {
				t.Errorf("%s: run %v, error %v", s.Name, done[s.Name], errs[s.Name])
			}
		}
	})
}

// checkLookup checks what modprobe --show-depends would print for names
// against the plan of the same lookups: every module a probe list names is
// planned, failed, or an unknown softdep, and every printed line is one of
// print_action's three.
func checkLookup(t *testing.T, p *Planner, names []string) {
	t.Helper()
	for _, b := range []Blacklist{BlacklistAliases, BlacklistAll} {
		ls := p.Lookup(names, LookupOptions{Blacklist: b})
		plan := p.PlanLookup(names, LookupOptions{Blacklist: b})
		for _, l := range ls {
			if len(l.Found) == 0 && !slices.Contains(plan.NotFound, l.Name) {
				t.Errorf("lookup %q found nothing, not in NotFound %q", l.Name, plan.NotFound)
			}
			for _, f := range l.Found {
				if f.Blacklisted != slices.Contains(plan.Blacklisted, f.Module) && f.Blacklisted {
					t.Errorf("blacklisted %s not in Blacklisted %q", f.Module, plan.Blacklisted)
				}
				for _, a := range f.Actions {
					_, failed := plan.Errors[a.Module]
					planned := slices.ContainsFunc(plan.Steps, func(s Step) bool { return s.Name == a.Module })
					if !failed && !planned && !slices.Contains(plan.UnknownSoftdeps, a.Module) {
						t.Errorf("%s of lookup %q is nowhere in the plan", a.Module, l.Name)
					}
				}
			}
		}
		var buf strings.Builder
		if err := ShowDepends(&buf, "/d", ls); err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(buf.String()) {
			if !strings.HasPrefix(line, "insmod /d/") && !strings.HasPrefix(line, "insmod /") &&
				!strings.HasPrefix(line, "install ") && !strings.HasPrefix(line, "builtin ") {
				t.Errorf("ShowDepends printed %q", line)
			}
		}
	}
}
