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
	// (neither as a module nor as an alias). Like modprobe, the plan drops
	// them and the modules naming them still load: they are not failures.
	UnknownSoftdeps []string
	// Blacklisted lists requested modules left out because the
	// configuration blacklists them. As with udev's module loading, the
	// blacklist applies to requested modules only, not to dependencies.
	Blacklisted []string
}

// Planner turns module names into Plans from a module index: modules.dep
// (each module's file and dependencies), modules.builtin, and the modprobe
// configuration's options, softdeps, install commands and blacklist, with
// softdep names that are aliases looked up as modprobe looks them up. It
// is pure: it reads nothing but the index, and is safe for concurrent use.
type Planner struct {
	ix     *modalias.Index
	params map[string]string // module -> command-line parameters
}

// PlanOption configures a Planner.
type PlanOption func(*Planner)

// WithParams appends params to module's options, as `modprobe MODULE
// param=value` does: command-line parameters come after the configuration's
// options, for that module only.
func WithParams(module, params string) PlanOption {
	return func(p *Planner) {
		if p.params == nil {
			p.params = make(map[string]string)
		}
		m := modalias.ModuleName(module)
		p.params[m] = strings.TrimSpace(p.params[m] + " " + params)
	}
}

// NewPlanner returns a Planner over the module index ix, which must not be
// nil.
func NewPlanner(ix *modalias.Index, opts ...PlanOption) *Planner {
	p := &Planner{ix: ix}
	for _, o := range opts {
		o(p)
	}
	return p
}

// options returns the parameters the kernel gets for name.
func (p *Planner) options(name string) string {
	opts := p.ix.Options(name)
	if extra, ok := p.params[name]; ok {
		opts = strings.TrimSpace(opts + " " + extra)
	}
	return opts
}

// planning is the state of one Plan call.
type planning struct {
	p        *Planner
	steps    map[string]*Step
	errs     map[string]error
	visited  map[string]bool // modprobe's "visited": probe list built
	order    []string        // first appearance, modprobe's order
	appended map[string]bool
	unknown  []string // softdeps naming no module
}

// Plan returns the plan for loading names. A module that cannot load puts
// itself and its dependants into Plan.Errors; everything else still plans.
func (p *Planner) Plan(names []string) *Plan {
	pl := &planning{
		p:        p,
		steps:    make(map[string]*Step),
		errs:     make(map[string]error),
		visited:  make(map[string]bool),
		appended: make(map[string]bool),
	}
	plan := &Plan{Errors: pl.errs}
	for _, n := range names {
		n = modalias.ModuleName(n)
		if p.ix.Blacklisted(n) {
			if !slices.Contains(plan.Blacklisted, n) {
				plan.Blacklisted = append(plan.Blacklisted, n)
			}
			continue
		}
		pl.probe(n)
	}
	pl.markCycles()
	checked := make(map[string]bool)
	for _, n := range pl.order {
		pl.failDependants(n, checked)
	}
	plan.Steps = pl.sorted()
	plan.UnknownSoftdeps = pl.unknown
	return plan
}

// probe mirrors kmod's probe list: a module's modules.dep dependencies in
// reverse line order (depmod lists the deepest last), each with its
// softdeps around it, then the module with its own softdeps.
func (pl *planning) probe(name string) {
	if pl.visited[name] {
		return
	}
	pl.visited[name] = true
	s := pl.step(name)
	if s == nil {
		return
	}
	for _, d := range slices.Backward(s.Deps) {
		pl.fill(d)
	}
	pl.fill(name)
}

// fill appends a module between its softdeps. modprobe ignores the install
// command of a module that has softdeps: softdeps replaced the old
// "install foo modprobe bar; modprobe --ignore-install foo" idiom.
func (pl *planning) fill(name string) {
	s := pl.step(name)
	if s == nil || pl.appended[name] {
		return
	}
	// depmod writes each module's whole closure on its line, so the
	// dependencies of a dependency are already appended; in a damaged
	// file they may not be, and are probed here.
	for _, d := range slices.Backward(s.Deps) {
		if !pl.appended[d] {
			pl.probe(d)
		}
	}
	pre, post := pl.softdeps(name)
	for _, m := range pre {
		pl.probe(m)
	}
	if !pl.appended[name] {
		pl.appended[name] = true
		pl.order = append(pl.order, name)
	}
	for _, m := range post {
		pl.probe(m)
	}
	s.Pre, s.Post = pre, post
	if len(pre)+len(post) > 0 && s.Install != "" {
		s.Install = ""
		if s.Path == "" && !s.Builtin {
			pl.errs[name] = &ModuleError{Module: name, Op: "plan", Err: fmt.Errorf("%w: install command ignored because of softdeps, and no module file", ErrUnknownModule)}
		}
	}
}

// step returns the step for name, creating it, or nil if name cannot load.
func (pl *planning) step(name string) *Step {
	if s, ok := pl.steps[name]; ok {
		return s
	}
	if _, failed := pl.errs[name]; failed {
		return nil
	}
	s := &Step{Name: name, Options: pl.p.options(name), Install: pl.install(name)}
	if m, _ := pl.p.ix.Module(name); m.Path != "" {
		s.Path, s.Deps = m.Path, m.Deps
	} else if m.Builtin {
		s.Builtin = true
	} else if s.Install == "" {
		pl.errs[name] = &ModuleError{Module: name, Op: "plan", Err: ErrUnknownModule}
		return nil
	}
	pl.steps[name] = s
	return s
}

func (pl *planning) known(name string) bool {
	if _, ok := pl.steps[name]; ok {
		return true
	}
	if _, ok := pl.p.ix.Module(name); ok {
		return true
	}
	return pl.install(name) != ""
}

// softdeps returns the modules of name's softdep line. Like modprobe, the
// names are looked up as modules, then as aliases; a name that finds
// nothing is dropped and listed in Plan.UnknownSoftdeps, without failing
// name.
func (pl *planning) softdeps(name string) (pre, post []string) {
	sd, ok := pl.p.ix.Softdep(name)
	if !ok {
		return nil, nil
	}
	return pl.lookupAll(sd.Pre), pl.lookupAll(sd.Post)
}

func (pl *planning) lookupAll(names []string) []string {
	var out []string
	for _, raw := range names {
		n := modalias.ModuleName(raw)
		var found []string
		if pl.known(n) {
			found = []string{n}
		} else {
			for _, m := range pl.p.ix.Lookup(raw) {
				if pl.known(m) {
					found = append(found, m)
				}
			}
		}
		if len(found) == 0 && !slices.Contains(pl.unknown, n) {
			pl.unknown = append(pl.unknown, n)
		}
		for _, m := range found {
			if !slices.Contains(out, m) {
				out = append(out, m)
			}
		}
	}
	return out
}

// install returns name's install command: modprobe takes the first
// install line whose pattern matches (modalias.Index.InstallCommand).
func (pl *planning) install(name string) string {
	cmd, _ := pl.p.ix.InstallCommand(name)
	return cmd
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
