package modload

import (
	"slices"
	"strings"

	"github.com/gudevd/gudevd/modalias"
)

// Blacklist says which of the modules a lookup finds the configuration's
// blacklist keeps from loading, as libkmod's probe flags do. Either way it
// applies only to the module a lookup found, never to its dependencies or
// softdeps: modprobe never passes KMOD_PROBE_APPLY_BLACKLIST_ALL.
type Blacklist int

const (
	// BlacklistAliases is plain modprobe, the kernel's request_module()
	// and `gudevd load` (KMOD_PROBE_APPLY_BLACKLIST_ALIAS_ONLY): a
	// blacklisted module named directly loads; one found through an
	// alias does not.
	BlacklistAliases Blacklist = iota
	// BlacklistAll is modprobe -b and udev's MODALIAS loads
	// (KMOD_PROBE_APPLY_BLACKLIST): no blacklisted module a lookup finds
	// loads, however it was found.
	BlacklistAll
)

// LookupOptions says how Planner.Lookup and Planner.PlanLookup treat what
// they find.
type LookupOptions struct {
	Blacklist Blacklist
	// Params are module parameters for the modules each lookup finds
	// (`modprobe NAME PARAM...`), after their modprobe.d and command-line
	// options; their dependencies and softdeps do not get them.
	Params string
}

// Lookup is what modprobe finds for one name, alias or MODALIAS, and what
// it would load for each module found.
type Lookup struct {
	Name string // as given
	// Found holds what libkmod's kmod_module_new_from_lookup returns, in
	// its order and with its repetitions; nothing when nothing matched
	// (modprobe's "Module NAME not found").
	Found []Probe
}

// Probe is one module a lookup found and libkmod's probe list for it
// (kmod_module_probe_insert_module).
type Probe struct {
	Module string
	// Alias is the alias the module was found through (see
	// modalias.Candidate.Alias), "" when found by its name.
	Alias string
	// Builtin is set when the module is built into the kernel.
	Builtin bool
	// Blacklisted is set when the blacklist keeps the module from
	// loading: nothing of it loads and nothing is shown.
	Blacklisted bool
	// Actions is the probe list in modprobe's order, with its
	// repetitions: libkmod adds a module's dependencies each time it
	// adds the module, so a module that is both a dependency and a
	// softdep (or a softdep of two modules) appears more than once,
	// and --show-depends prints it each time.
	Actions []Action
}

// Action is one entry of a probe list: a module as modprobe loads it, or
// prints it with --show-depends.
type Action struct {
	Module string
	// Path is the module file as modules.dep writes it, "" for a module
	// it does not know.
	Path string
	// Options are the module's options from modprobe.d and the kernel
	// command line, for its name and for the alias it was found through.
	Options string
	// Params are LookupOptions.Params, on the module the lookup found.
	Params string
	// Install is the install command that replaces loading the module:
	// modprobe ignores it for a module with softdeps.
	Install string
	Builtin bool
	// Top is set for the module the lookup found itself.
	Top bool
	// installIgnored is set when softdeps made modprobe ignore an
	// install command.
	installIgnored bool
}

// loadable reports whether the action loads anything: a file, an install
// command, or a module the kernel has built in.
func (a Action) loadable() bool { return a.Path != "" || a.Install != "" || a.Builtin }

// module is one of libkmod's struct kmod_module: its pool keys a module by
// name and by the alias it was found through ("name\alias"), so one module
// found by name and through an alias is two objects, each visited once per
// probe and each with its own options.
type module struct {
	name, alias string
	builtin     bool
	// install is the install command once known: libkmod looks it up
	// on first use (the first install line whose pattern matches the
	// name) unless a lookup through an install line fixed it first.
	install      string
	installKnown bool
}

type moduleKey struct{ name, alias string }

// softdeps are a module's resolved softdep lines.
type softdeps struct {
	pre, post []*module
}

// prober is one libkmod context for the length of one modprobe run: the
// module pool and what the index says about each name, looked up once.
type prober struct {
	ix      *modalias.Index
	pool    map[moduleKey]*module
	mods    map[string]modalias.Module // what the index says of each name
	deps    map[string][]*module       // a module's modules.dep dependencies, in probe order
	soft    map[string]*softdeps
	unknown []string // softdeps whose lookup found nothing, each once
}

func newProber(ix *modalias.Index) *prober {
	return &prober{ix: ix, pool: map[moduleKey]*module{}, mods: map[string]modalias.Module{},
		deps: map[string][]*module{}, soft: map[string]*softdeps{}}
}

// module is Index.Module, once per name.
func (pr *prober) module(name string) modalias.Module {
	m, ok := pr.mods[name]
	if !ok {
		m, _ = pr.ix.Module(name)
		pr.mods[name] = m
	}
	return m
}

// get returns the module of the pool keyed by name and alias, making it
// the way libkmod makes a module it was not handed by a lookup.
func (pr *prober) get(name, alias string) *module {
	k := moduleKey{name, alias}
	if m, ok := pr.pool[k]; ok {
		return m
	}
	m := &module{name: name, alias: alias, builtin: pr.ix.Builtin(name)}
	pr.pool[k] = m
	return m
}

// lookup is kmod_module_new_from_lookup: the modules s finds, from the
// pool. A module found through an install line gets that line's command,
// as kmod_lookup_alias_from_commands sets it.
func (pr *prober) lookup(s string) []*module {
	var out []*module
	for _, c := range pr.ix.Candidates(s) {
		m := pr.get(c.Name, c.Alias)
		m.builtin = m.builtin || c.Builtin
		if c.Install != "" {
			m.install, m.installKnown = c.Install, true
		}
		out = append(out, m)
	}
	return out
}

// installCommand is kmod_module_get_install_commands.
func (pr *prober) installCommand(m *module) string {
	if !m.installKnown {
		m.install, _ = pr.ix.InstallCommand(m.name)
		m.installKnown = true
	}
	return m.install
}

// dependencies is kmod_module_get_dependencies: the modules.dep line's
// modules, which libkmod prepends one by one, so the deepest (last on
// the line) comes first.
func (pr *prober) dependencies(m *module) []*module {
	if d, ok := pr.deps[m.name]; ok {
		return d
	}
	mod := pr.module(m.name)
	var d []*module
	for _, n := range slices.Backward(mod.Deps) {
		d = append(d, pr.get(n, ""))
	}
	pr.deps[m.name] = d
	return d
}

// softdeps is kmod_module_get_softdeps: the first softdep line whose
// pattern matches the name, each word looked up as modprobe looks up a
// name (modprobe.d aliases first), with no blacklist.
func (pr *prober) softdeps(m *module) *softdeps {
	if sd, ok := pr.soft[m.name]; ok {
		return sd
	}
	sd := &softdeps{}
	pr.soft[m.name] = sd
	line, ok := pr.ix.Softdep(m.name)
	if !ok {
		return sd
	}
	sd.pre = pr.lookupAll(line.Pre)
	sd.post = pr.lookupAll(line.Post)
	return sd
}

func (pr *prober) lookupAll(names []string) []*module {
	var out []*module
	for _, n := range names {
		found := pr.lookup(n)
		if len(found) == 0 && !slices.Contains(pr.unknown, n) {
			pr.unknown = append(pr.unknown, n)
		}
		out = append(out, found...)
	}
	return out
}

// probe answers one lookup.
func (pr *prober) probe(name string, o LookupOptions) Lookup {
	l := Lookup{Name: name}
	for _, m := range pr.lookup(name) {
		l.Found = append(l.Found, pr.probeModule(m, o))
	}
	return l
}

// probeModule is kmod_module_probe_insert_module for a module a lookup
// found, without loading: the blacklist check, then the probe list.
func (pr *prober) probeModule(m *module, o LookupOptions) Probe {
	p := Probe{Module: m.name, Alias: m.alias, Builtin: m.builtin}
	if pr.ix.Blacklists(modalias.Candidate{Name: m.name, Alias: m.alias}, o.Blacklist == BlacklistAll) {
		p.Blacklisted = true
		return p
	}
	w := walk{pr: pr, top: m, params: o.Params, visited: map[*module]bool{}}
	w.probeList(m)
	p.Actions = w.list
	return p
}

// walk is one __kmod_module_get_probe_list: the visited marks are reset
// for every module a lookup found.
type walk struct {
	pr      *prober
	top     *module
	params  string
	visited map[*module]bool
	list    []Action
}

// probeList adds a module with its dependencies, each between its own
// softdeps, unless this walk visited it already. Only modules reached
// here are marked visited; a dependency added by fillSoftdep is not, so it
// is added again when a softdep reaches it (libkmod does the same).
func (w *walk) probeList(m *module) {
	if w.visited[m] {
		return
	}
	w.visited[m] = true
	for _, d := range w.pr.dependencies(m) {
		w.fillSoftdep(d)
	}
	w.fillSoftdep(m)
}

// fillSoftdep adds a module between its softdeps: the pre ones with their
// own probe lists before it, the post ones after.
func (w *walk) fillSoftdep(m *module) {
	sd := w.pr.softdeps(m)
	for _, s := range sd.pre {
		w.probeList(s)
	}
	w.list = append(w.list, w.action(m, len(sd.pre)+len(sd.post) > 0))
	for _, s := range sd.post {
		w.probeList(s)
	}
}

// action is what modprobe does with m. A module with softdeps ignores its
// install command (mod->ignorecmd): softdeps replaced the old "install foo
// modprobe bar; modprobe --ignore-install foo" idiom.
func (w *walk) action(m *module, ignoreInstall bool) Action {
	mod := w.pr.module(m.name)
	a := Action{
		Module:  m.name,
		Path:    mod.Path,
		Options: w.pr.ix.ModuleOptions(m.name, m.alias),
		Builtin: m.builtin,
		Top:     m == w.top,
	}
	if a.Top {
		a.Params = w.params
	}
	if cmd := w.pr.installCommand(m); !ignoreInstall {
		a.Install = cmd
	} else {
		a.installIgnored = cmd != ""
	}
	return a
}

// options joins a module's options and parameters as the kernel gets them.
func (a Action) options() string {
	return strings.TrimSpace(a.Options + " " + a.Params)
}
