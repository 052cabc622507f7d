package modload

import (
	"container/heap"
	"fmt"
	"slices"
	"strings"

	"github.com/gudevd/gudevd/modalias"
)

// Step is one module of a Plan: what the loader needs to load it alone,
// and how it is ordered against the other steps.
type Step struct {
	Name string `json:"name"`
	// Path is the module file as modules.dep writes it: relative to the
	// modules directory unless absolute. Empty for built-in modules and
	// modules known only by an install command.
	Path string `json:"path,omitempty"`
	// Options are the module parameters passed to the kernel.
	Options string `json:"options,omitempty"`
	// Install is the shell command that replaces loading the module.
	Install string `json:"install,omitempty"`
	// Builtin modules are part of the kernel image: nothing to load.
	Builtin bool `json:"builtin,omitempty"`
	// Deps are the modules that modules.dep says this one needs (its
	// whole closure, as depmod writes it): they load first and must
	// succeed.
	Deps []string `json:"deps,omitempty"`
	// Pre and Post are softdeps: Pre load before this module and Post
	// after it, and a softdep's failure does not fail this module, as in
	// modprobe. Only softdeps the plan could order are kept: a softdep
	// cycle is broken where modprobe breaks it, at the first revisit.
	Pre  []string `json:"pre,omitempty"`
	Post []string `json:"post,omitempty"`
}

// Plan is the load order for a set of requested modules.
type Plan struct {
	// Steps is the load order: every module after its Deps and Pre and
	// before its Post. For each requested module alone it is the order in
	// which modprobe loads it; several requests share the modules they
	// have in common, each at its first place.
	Steps []Step
	// Errors holds the modules that cannot load and why: unknown
	// modules (ErrUnknownModule), modules.dep cycles (ErrDependencyCycle)
	// and their dependants (*DependencyError). Each is a *ModuleError or
	// *DependencyError; no step depends on a module in Errors.
	Errors map[string]error
	// UnknownSoftdeps lists, each once, the softdeps that name no module
	// that can load: the words of softdep lines whose lookup found
	// nothing, as written, and the modules found that have no file, no
	// install command and are not built in. Like modprobe, the plan drops
	// them and the modules naming them still load: they are not failures.
	UnknownSoftdeps []string
	// Blacklisted lists, each once, the modules lookups found that the
	// blacklist keeps from loading (see Blacklist). The blacklist never
	// applies to dependencies or softdeps.
	Blacklisted []string
	// NotFound lists the lookups that found no module, as given.
	NotFound []string
}

// Planner turns module names and lookups into Plans from a module index:
// modules.dep (each module's file and dependencies), modules.builtin, and
// the modprobe configuration's options, softdeps, install commands and
// blacklist, exactly as libkmod reads them (see Lookup). It is pure: it
// reads nothing but the index, and is safe for concurrent use.
type Planner struct {
	ix *modalias.Index
}

// NewPlanner returns a Planner over the module index ix, which must not be
// nil.
func NewPlanner(ix *modalias.Index) *Planner {
	return &Planner{ix: ix}
}

// Plan plans module names as modprobe plans a module it was handed by name
// (kmod_module_new_from_name): no lookup, so a name is always the module
// and never a modprobe.d alias, and no blacklist. A module that cannot
// load puts itself and its dependants into Plan.Errors; everything else
// still plans.
func (p *Planner) Plan(names []string) *Plan {
	pr := newProber(p.ix)
	ls := make([]Lookup, 0, len(names))
	for _, n := range names {
		m := pr.get(modalias.ModuleName(n), "")
		ls = append(ls, Lookup{Name: n, Found: []Probe{pr.probeModule(m, LookupOptions{})}})
	}
	return pr.plan(ls)
}

// Lookup answers each name as modprobe does (kmod_module_new_from_lookup,
// then kmod_module_probe_insert_module for each module found), without
// loading anything: the modules found, in libkmod's order, each with its
// probe list. This is what `modprobe --show-depends` prints (ShowDepends).
func (p *Planner) Lookup(names []string, o LookupOptions) []Lookup {
	pr := newProber(p.ix)
	out := make([]Lookup, 0, len(names))
	for _, n := range names {
		out = append(out, pr.probe(n, o))
	}
	return out
}

// PlanLookup plans what modprobe loads for names (module names, aliases,
// MODALIAS strings), as Lookup finds it: each module once, at its first
// place in the lookups' probe lists, with the options of that place.
// Names that find nothing are listed in Plan.NotFound, blacklisted
// modules in Plan.Blacklisted.
func (p *Planner) PlanLookup(names []string, o LookupOptions) *Plan {
	pr := newProber(p.ix)
	ls := make([]Lookup, 0, len(names))
	for _, n := range names {
		ls = append(ls, pr.probe(n, o))
	}
	return pr.plan(ls)
}

// planning is the state of one plan.
type planning struct {
	pr    *prober
	steps map[string]*Step
	errs  map[string]error
	order []string // first appearance, modprobe's order
	// hard holds the modules something needs: the modules lookups
	// found and every step's modules.dep dependencies. One of them that
	// cannot load is an error; any other is a softdep naming nothing.
	hard map[string]bool
	// unloadable holds, in order, the modules of the probe lists that
	// have no file, no install command and are not built in.
	unloadable []Action
}

// plan merges the probe lists of lookups into one Plan: a module shared by
// several lists (or repeated in one) is planned once, at its first place.
func (pr *prober) plan(ls []Lookup) *Plan {
	pl := &planning{pr: pr, steps: map[string]*Step{}, errs: map[string]error{}, hard: map[string]bool{}}
	plan := &Plan{Errors: pl.errs}
	for _, l := range ls {
		if len(l.Found) == 0 && !slices.Contains(plan.NotFound, l.Name) {
			plan.NotFound = append(plan.NotFound, l.Name)
		}
		for _, f := range l.Found {
			if f.Blacklisted {
				if !slices.Contains(plan.Blacklisted, f.Module) {
					plan.Blacklisted = append(plan.Blacklisted, f.Module)
				}
				continue
			}
			for _, a := range f.Actions {
				pl.add(a)
			}
		}
	}
	plan.UnknownSoftdeps = pl.classify()
	pl.softdepSteps()
	pl.markCycles()
	checked := make(map[string]bool)
	for _, n := range pl.order {
		pl.failDependants(n, checked)
	}
	plan.Steps = pl.sorted()
	return plan
}

// add plans one entry of a probe list, unless its module has a step
// already.
func (pl *planning) add(a Action) {
	if a.Top {
		pl.hard[a.Module] = true
	}
	if _, ok := pl.steps[a.Module]; ok {
		return
	}
	if !a.loadable() {
		pl.unloadable = append(pl.unloadable, a)
		return
	}
	mod := pl.pr.module(a.Module)
	s := &Step{Name: a.Module, Path: a.Path, Options: a.options(), Install: a.Install, Deps: mod.Deps}
	s.Builtin = a.Builtin && a.Path == ""
	pl.steps[a.Module] = s
	// depmod writes each module's whole closure on its line, so the
	// dependencies are in the probe list already; in a damaged file they
	// may not be, and are planned here, before the module.
	for _, d := range slices.Backward(mod.Deps) {
		pl.hard[d] = true
		if _, ok := pl.steps[d]; !ok {
			pl.addByName(d)
		}
	}
	pl.order = append(pl.order, a.Module)
}

// addByName plans a dependency that the probe lists lack.
func (pl *planning) addByName(name string) {
	m := pl.pr.get(name, "")
	sd := pl.pr.softdeps(m)
	w := walk{pr: pl.pr}
	pl.add(w.action(m, len(sd.pre)+len(sd.post) > 0))
}

// classify fails the modules that cannot load and something needs, and
// returns the softdeps that name no module that can: the names whose
// lookup found nothing, then the modules found that cannot load, each
// once. Like modprobe, the plan drops those; they fail nobody.
func (pl *planning) classify() []string {
	unknown := slices.Clone(pl.pr.unknown)
	for _, a := range pl.unloadable {
		switch _, planned := pl.steps[a.Module]; {
		case planned:
		case pl.hard[a.Module] && a.installIgnored:
			pl.errs[a.Module] = &ModuleError{Module: a.Module, Op: "plan", Err: fmt.Errorf("%w: install command ignored because of softdeps, and no module file", ErrUnknownModule)}
		case pl.hard[a.Module]:
			pl.errs[a.Module] = &ModuleError{Module: a.Module, Op: "plan", Err: ErrUnknownModule}
		case !slices.Contains(unknown, a.Module):
			unknown = append(unknown, a.Module)
		}
	}
	return unknown
}

// softdepSteps gives every step the softdeps the plan has steps for.
func (pl *planning) softdepSteps() {
	for _, n := range pl.order {
		s := pl.steps[n]
		sd := pl.pr.softdeps(pl.pr.get(n, ""))
		s.Pre, s.Post = pl.planned(sd.pre), pl.planned(sd.post)
	}
}

func (pl *planning) planned(mods []*module) []string {
	var out []string
	for _, m := range mods {
		if _, ok := pl.steps[m.name]; ok && !slices.Contains(out, m.name) {
			out = append(out, m.name)
		}
	}
	return out
}

// markCycles fails every module on a modules.dep cycle. depmod refuses to
// write cycles, so one means a damaged or hand-made file; modprobe would
// load such modules in an arbitrary order and the kernel would fail them
// with unresolved symbols.
func (pl *planning) markCycles() {
	t := tarjan{graph: pl.hardDeps, index: map[string]int{}, low: map[string]int{}, on: map[string]bool{}}
	for _, n := range pl.order {
		if _, seen := t.index[n]; !seen {
			t.connect(n)
		}
	}
	for _, scc := range t.sccs {
		if len(scc) == 1 && !slices.Contains(pl.hardDeps(scc[0]), scc[0]) {
			continue
		}
		slices.Sort(scc)
		for _, n := range scc {
			pl.errs[n] = &ModuleError{Module: n, Op: "plan", Err: fmt.Errorf("%w: %s", ErrDependencyCycle, strings.Join(scc, ", "))}
		}
	}
}

func (pl *planning) hardDeps(name string) []string {
	if s, ok := pl.steps[name]; ok {
		return s.Deps
	}
	return nil
}

// tarjan finds strongly connected components.
type tarjan struct {
	graph func(string) []string
	index map[string]int
	low   map[string]int
	on    map[string]bool
	stack []string
	sccs  [][]string
}

func (t *tarjan) connect(v string) {
	t.index[v] = len(t.index)
	t.low[v] = t.index[v]
	t.stack = append(t.stack, v)
	t.on[v] = true
	for _, w := range t.graph(v) {
		if _, seen := t.index[w]; !seen {
			t.connect(w)
			t.low[v] = min(t.low[v], t.low[w])
		} else if t.on[w] {
			t.low[v] = min(t.low[v], t.index[w])
		}
	}
	if t.low[v] != t.index[v] {
		return
	}
	var scc []string
	for {
		w := t.stack[len(t.stack)-1]
		t.stack = t.stack[:len(t.stack)-1]
		t.on[w] = false
		scc = append(scc, w)
		if w == v {
			break
		}
	}
	t.sccs = append(t.sccs, scc)
}

// failDependants fails name if a module it needs failed, and returns
// name's error. Cycles are already failed, so the recursion ends; checked
// remembers the modules already found sound.
func (pl *planning) failDependants(name string, checked map[string]bool) error {
	if err, ok := pl.errs[name]; ok {
		return err
	}
	s, ok := pl.steps[name]
	if !ok || checked[name] {
		return nil
	}
	checked[name] = true
	for _, d := range slices.Backward(s.Deps) {
		if err := pl.failDependants(d, checked); err != nil {
			pl.errs[name] = &DependencyError{Module: name, Dep: d, Err: err}
			return pl.errs[name]
		}
	}
	return nil
}

// sorted returns the steps that can load in modprobe's order, moved only
// where a damaged modules.dep would otherwise load a module before a
// dependency, and keeps the softdeps that agree with that order, so that
// every step's prerequisites come before it.
func (pl *planning) sorted() []Step {
	pos := make(map[string]int)
	var live []string
	for _, n := range pl.order {
		if _, failed := pl.errs[n]; !failed {
			pos[n] = len(live)
			live = append(live, n)
		}
	}
	waiting := make([]int, len(live))
	users := make(map[string][]string)
	for i, n := range live {
		for _, d := range pl.steps[n].Deps {
			waiting[i]++
			users[d] = append(users[d], n)
		}
	}
	ready := &intHeap{}
	for i := range live {
		if waiting[i] == 0 {
			heap.Push(ready, i)
		}
	}
	final := make(map[string]int)
	var out []Step
	for ready.Len() > 0 {
		n := live[heap.Pop(ready).(int)]
		final[n] = len(out)
		out = append(out, *pl.steps[n])
		for _, u := range users[n] {
			if waiting[pos[u]]--; waiting[pos[u]] == 0 {
				heap.Push(ready, pos[u])
			}
		}
	}
	for _, n := range live {
		if _, ok := final[n]; !ok {
			// Unreachable: every dependency of a live step is live
			// and cycles are failed. Fail rather than drop it.
			pl.errs[n] = &ModuleError{Module: n, Op: "plan", Err: fmt.Errorf("%w: cannot order dependencies", ErrDependencyCycle)}
		}
	}
	for i := range out {
		s := &out[i]
		s.Pre = keep(s.Pre, func(m string) bool { j, ok := final[m]; return ok && j < i })
		s.Post = keep(s.Post, func(m string) bool { j, ok := final[m]; return ok && j > i })
	}
	return out
}

func keep(names []string, ok func(string) bool) []string {
	var out []string
	for _, n := range names {
		if ok(n) {
			out = append(out, n)
		}
	}
	return out
}

type intHeap []int

func (h intHeap) Len() int           { return len(h) }
func (h intHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h intHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *intHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *intHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
