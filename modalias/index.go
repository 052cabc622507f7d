package modalias

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gudevd/gudevd/internal/fnmatch"
)

// Sources names what an Index is built from.
type Sources struct {
	// Modules holds the content of /lib/modules/VERSION: modules.alias
	// and modules.dep are required; modules.builtin,
	// modules.builtin.modinfo and modules.softdep are read when present.
	Modules fs.FS
	// Root, if not nil, is the file system root under which the
	// modprobe.d directories are read: etc/modprobe.d, run/modprobe.d,
	// usr/local/lib/modprobe.d, usr/lib/modprobe.d and lib/modprobe.d.
	// Files are read in name order across all of them; a name in an
	// earlier directory hides the same name in later ones.
	Root fs.FS
	// Config, if not nil, replaces the default modprobe.d directories
	// with these paths under Root (a leading '/' is ignored), as
	// modprobe -C does: a file is read whatever its name, a directory
	// as the default ones are.
	Config []string
	// Cmdline is the kernel command line (/proc/cmdline): it adds
	// "module.param=value" options and modprobe.blacklist=a,b.
	Cmdline string
}

// Index resolves MODALIAS strings and module names to module names the way
// libkmod (kmod 30) does, and is the one reader of depmod's files: it also
// answers what a load planner needs (Module, Options, Softdep,
// InstallCommand, Blacklisted). It is immutable once built and safe for
// concurrent use.
type Index struct {
	names    []string         // module names; those from modules.dep first, in its order
	ids      map[string]int32 // name -> position in names
	nDep     int32            // names[:nDep] have their own modules.dep line
	mods     []modEntry       // mods[id] for every module modules.dep names
	builtin  map[string]bool  // modules.builtin
	aliases  aliasTable       // modules.alias
	bialias  aliasTable       // builtin aliases from modules.builtin.modinfo
	conf     configState
	merged   mergedConfig
	problems []error

	// modules.symbols is read on the first "symbol:" lookup: only
	// symbol_request() in a few drivers asks for one, and the file is
	// as big as modules.alias.
	modules     fs.FS
	symOnce     sync.Once
	symRead     atomic.Bool // set once symbols and symProblems are final
	symbols     aliasTable
	symProblems []error

	bin *binTables // depmod's .bin indexes, for an Index that Open made
}

// modEntry is what modules.dep says about a module: its file as written
// there, and the modules it needs in modules.dep order. A module named
// only as another's dependency has no line of its own and no deps.
type modEntry struct {
	path string
	deps []int32
}

// Module is what the index knows about one module, for loading it.
type Module struct {
	Name string
	// Path is the module file as modules.dep writes it: relative to the
	// modules directory unless absolute; "" when modules.dep does not
	// name the module.
	Path string
	// Deps are the modules it needs, its whole closure as depmod writes
	// it, a module before the modules it needs.
	Deps []string
	// Builtin is set when modules.builtin lists the module.
	Builtin bool
}

// aliasTable maps index keys (normalised alias patterns) to module ids.
type aliasTable struct {
	set  patternSet
	keys []string // sorted, unique: every key of set
	off  []int32  // values of keys[i] are vals[off[i]:off[i+1]]
	vals []int32  // module ids, in the order the aliases were added
}

type aliasEntry struct {
	key string
	mod int32
}

// newAliasTable sorts the entries (stably, so one key's modules keep the
// order they were added in) and builds the table.
func newAliasTable(ents []aliasEntry) aliasTable {
	slices.SortStableFunc(ents, func(a, b aliasEntry) int { return strings.Compare(a.key, b.key) })
	t := aliasTable{
		vals: make([]int32, len(ents)),
		keys: make([]string, 0, len(ents)),
		off:  make([]int32, 0, len(ents)+1),
	}
	for i, e := range ents {
		if i == 0 || e.key != ents[i-1].key {
			t.keys = append(t.keys, e.key)
			t.off = append(t.off, int32(i))
		}
		t.vals[i] = e.mod
	}
	t.off = append(t.off, int32(len(ents)))
	t.set = newPatternSet(slices.Clone(t.keys))
	return t
}

// values returns the module ids of key.
func (t *aliasTable) values(key string) []int32 {
	i, ok := slices.BinarySearch(t.keys, key)
	if !ok {
		return nil
	}
	return t.vals[t.off[i]:t.off[i+1]]
}

// Load builds an Index. Only a missing modules.alias or modules.dep, or a
// file that cannot be read, is an error. A malformed line in any file,
// index or configuration, is skipped and reported by Problems, so that one
// damaged line does not cost every other module.
func Load(src Sources) (*Index, error) {
	if src.Modules == nil {
		return nil, errors.New("load module index: no modules directory")
	}
	ix := &Index{ids: make(map[string]int32, 8192), builtin: map[string]bool{}, modules: src.Modules}
	for _, step := range []func(fs.FS) error{ix.loadDep, ix.loadAliases, ix.loadBuiltin, ix.loadModinfo} {
		if err := step(src.Modules); err != nil {
			return nil, err
		}
	}
	if err := ix.loadConfig(src); err != nil {
		return nil, err
	}
	return ix, nil
}

// loadConfig reads modprobe.d, modules.softdep and the kernel command line.
func (ix *Index) loadConfig(src Sources) error {
	paths := configDirs
	if src.Config != nil {
		paths = src.Config
	}
	for _, f := range listConfigFiles(src.Modules, src.Root, paths) {
		data, err := fs.ReadFile(f.fsys, f.path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil && f.depmod:
			return &FileError{File: f.name, Err: err}
		case err != nil:
			// kmod logs a modprobe.d file it cannot read and goes on.
			ix.conf.problems = append(ix.conf.problems, &FileError{File: f.name, Err: err})
			continue
		}
		ix.conf.parseConfig(f.name, data)
	}
	ix.conf.parseCmdline(src.Cmdline)
	ix.merged = ix.conf.merge()
	ix.problems = append(ix.problems, ix.conf.problems...)
	return nil
}

// open opens a file of the modules directory; a missing one is reported
// as a FileError wrapping fs.ErrNotExist.
func open(fsys fs.FS, name string) (fs.File, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, &FileError{File: name, Err: err}
	}
	return f, nil
}

// id returns the module's id, adding it (as a copy, so that it keeps no
// file's text alive) if it is new.
func (ix *Index) id(name string) int32 {
	if id, ok := ix.ids[name]; ok {
		return id
	}
	name = strings.Clone(name)
	id := int32(len(ix.names))
	ix.names = append(ix.names, name)
	ix.ids[name] = id
	return id
}

// loadDep reads modules.dep: every module with a line gets its id in file
// order first (libkmod sorts modules.alias matches by that order), then
// the modules named only as dependencies. A module's second line is a bad
// line; the first counts.
func (ix *Index) loadDep(fsys fs.FS) error {
	data, err := readString(fsys, "modules.dep")
	if err != nil {
		return err
	}
	var deps []string // deps[id]: the dependency paths of line id
	var first []int   // first[id]: its line number
	ix.problems = append(ix.problems, parseDepFile(data, "modules.dep", func(name, path, d string, n int) error {
		if id, dup := ix.ids[name]; dup {
			return fmt.Errorf("module %s listed again (first on line %d)", name, first[id])
		}
		ix.id(name)
		ix.mods = append(ix.mods, modEntry{path: strings.Clone(path)})
		deps, first = append(deps, d), append(first, n)
		return nil
	})...)
	ix.nDep = int32(len(ix.names))
	// One backing array for every module's deps: a distribution kernel
	// has thousands of modules and each line's list is short.
	var flat []int32
	ends := make([]int, len(deps))
	for i, d := range deps {
		start := len(flat)
		for dp := range strings.FieldsSeq(d) {
			name, _ := moduleFile(dp) // checked by parseDepFile
			id := ix.id(ModuleName(name))
			if int(id) == len(ix.mods) {
				ix.mods = append(ix.mods, modEntry{path: strings.Clone(dp)})
			}
			if !slices.Contains(flat[start:], id) {
				flat = append(flat, id)
			}
		}
		ends[i] = len(flat)
	}
	start := 0
	for i, end := range ends {
		ix.mods[i].deps = flat[start:end:end]
		start = end
	}
	return nil
}

func (ix *Index) loadAliases(fsys fs.FS) error {
	data, err := readString(fsys, "modules.alias")
	if err != nil {
		return err
	}
	ents := make([]aliasEntry, 0, strings.Count(data, "\n"))
	ix.problems = append(ix.problems, parseAliasFile(data, "modules.alias", func(pattern, module string) {
		if key, ok := aliasNormalize(pattern); ok {
			ents = append(ents, aliasEntry{key, ix.id(module)})
		}
		// else depmod leaves the alias out of modules.alias.bin.
	})...)
	ix.aliases = newAliasTable(ents)
	return nil
}

// readString reads a whole file into one string with one allocation, so
// that substrings of it can be kept without copying.
func readString(fsys fs.FS, name string) (string, error) {
	f, err := open(fsys, name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var sb strings.Builder
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		sb.Grow(int(st.Size()) + 1)
	}
	if _, err := io.Copy(&sb, f); err != nil {
		return "", &FileError{File: name, Err: err}
	}
	return sb.String(), nil
}

// readOptional reads a file the modules directory may lack: a missing
// one reads as empty.
func readOptional(fsys fs.FS, name string) (string, error) {
	data, err := readString(fsys, name)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	return data, err
}

// symbolTable returns modules.symbols, reading it on first use. A
// missing file is no error (libkmod skips it too); a file that cannot be
// read, and its malformed lines, become Problems.
func (ix *Index) symbolTable() *aliasTable {
	ix.symOnce.Do(func() {
		defer ix.symRead.Store(true)
		data, err := readOptional(ix.modules, "modules.symbols")
		if err != nil {
			ix.symProblems = []error{err}
			return
		}
		var ents []aliasEntry
		ix.symProblems = parseAliasFile(data, "modules.symbols", func(pattern, module string) {
			if id, ok := ix.ids[module]; ok {
				ents = append(ents, aliasEntry{pattern, id})
			}
		})
		ix.symbols = newAliasTable(ents)
	})
	return &ix.symbols
}

func (ix *Index) loadBuiltin(fsys fs.FS) error {
	data, err := readOptional(fsys, "modules.builtin")
	if err != nil {
		return err
	}
	ix.problems = append(ix.problems, parseBuiltinFile(data, "modules.builtin", func(name string) {
		ix.builtin[strings.Clone(name)] = true
	})...)
	return nil
}

func (ix *Index) loadModinfo(fsys fs.FS) error {
	data, err := readOptional(fsys, "modules.builtin.modinfo")
	if err != nil {
		return err
	}
	var ents []aliasEntry
	ix.problems = append(ix.problems, parseBuiltinModinfo(data, "modules.builtin.modinfo", func(module, alias string) {
		if key, ok := aliasNormalize(alias); ok {
			ents = append(ents, aliasEntry{strings.Clone(key), ix.id(module)})
		}
	})...)
	ix.bialias = newAliasTable(ents)
	return nil
}

// Candidate is one module a lookup found, before any blacklist: what
// libkmod's kmod_module_new_from_lookup creates, a module keyed by its name
// and the alias it was found through.
type Candidate struct {
	Name string
	// Alias is the alias libkmod records for the module (mod->alias)
	// when it was found through one rather than by its own name: the
	// modprobe.d alias pattern that matched, or, for modules.alias,
	// modules.symbols and the builtin aliases, the normalised string
	// looked up. Plain modprobe applies the blacklist only to modules
	// with an alias, and the alias's own options lines apply to the
	// module (ModuleOptions).
	Alias string
	// Builtin is true when the module is built into the kernel.
	Builtin bool
	// Install is set when the module was found through an install line
	// (kmod_lookup_alias_from_commands): libkmod then fixes the module's
	// install command to the first install line naming it exactly,
	// where InstallCommand takes the first whose pattern matches. A
	// module found through a remove line only gets no install command
	// here.
	Install string
}

// Candidates returns what libkmod's kmod_module_new_from_lookup returns
// for s, in its order and with its repetitions (a module matched by two
// aliases is listed twice). The sources are tried in turn and the first
// that finds anything wins: modprobe.d aliases, a module of that name in
// modules.dep, install and remove commands, modules.alias, modules.builtin,
// builtin aliases, with modules.symbols between the name and the commands
// for "symbol:" lookups. '-' and '_' are the same outside brackets; an
// alias with unbalanced brackets finds nothing.
func (ix *Index) Candidates(s string) []Candidate {
	key, ok := aliasNormalize(s)
	if !ok {
		return nil
	}
	var out []Candidate
	for _, a := range ix.conf.aliases {
		if fnmatch.Match(a.pattern, key) {
			// libkmod records the pattern, not the string, as the
			// module's alias (kmod_lookup_alias_from_config).
			out = append(out, ix.candidate(a.module, a.pattern))
		}
	}
	if out != nil {
		return out
	}
	if !strings.Contains(key, ":") {
		if ix.hasDepLine(key) {
			return []Candidate{ix.candidate(key, "")}
		}
	}
	if strings.HasPrefix(key, "symbol:") {
		if out = ix.fromSymbols(key); out != nil {
			return out
		}
	}
	if c, ok := ix.fromCommands(key); ok {
		return []Candidate{c}
	}
	if out = ix.fromAliases(key); out != nil {
		return out
	}
	if ix.isBuiltin(key) {
		return []Candidate{{Name: key, Builtin: true}}
	}
	return ix.fromBuiltinAliases(key)
}

func (ix *Index) candidate(name, alias string) Candidate {
	return Candidate{Name: name, Alias: alias, Builtin: ix.isBuiltin(name)}
}

// fromCommands is kmod_lookup_alias_from_commands: the first install line
// whose module word is the name exactly makes a module with that command,
// else the first such remove line makes one without.
func (ix *Index) fromCommands(name string) (Candidate, bool) {
	for _, c := range ix.conf.installs {
		if c.module == name {
			cand := ix.candidate(name, "")
			cand.Install = c.cmd
			return cand, true
		}
	}
	for _, c := range ix.conf.removes {
		if c.module == name {
			return ix.candidate(name, ""), true
		}
	}
	return Candidate{}, false
}

// fromTable looks key up in modules.alias or modules.symbols. depmod
// gives every value of their .bin indexes its module's position in
// modules.dep as priority and libkmod returns the matches sorted by it, so
// the order is modules.dep order, whichever patterns matched.
func (ix *Index) fromTable(t *aliasTable, key string) []Candidate {
	var buf [16]visit
	visits := t.set.match(key, buf[:0])
	if len(visits) == 0 {
		return nil
	}
	var ids []int32
	for _, v := range visits {
		ids = append(ids, t.values(v.key)...)
	}
	slices.Sort(ids)
	out := make([]Candidate, len(ids))
	for i, id := range ids {
		out[i] = ix.candidate(ix.names[id], key)
	}
	return out
}

// fromBuiltinAliases looks key up in the builtin aliases. All of them
// have priority 0 in modules.builtin.alias.bin, and libkmod inserts each
// match in front of earlier ones, so the order is the reverse of the order
// its trie walk visits the keys (see walkOrder); one key's modules keep
// modules.builtin.modinfo order.
func (ix *Index) fromBuiltinAliases(key string) []Candidate {
	if ix.bin != nil {
		return ix.fromBin(binBuiltinAlias, key)
	}
	visits := ix.bialias.set.match(key, nil)
	slices.SortFunc(visits, func(a, b visit) int { return walkOrder(b, a) })
	var out []Candidate
	for _, v := range visits {
		for _, id := range ix.bialias.values(v.key) {
			out = append(out, Candidate{Name: ix.names[id], Alias: key, Builtin: true})
		}
	}
	return out
}

// walkOrder compares two visits by the order libkmod's index_searchwild
// makes them: it descends the trie byte by byte and, at each depth, first
// enumerates the '*', '?' and '[' subtrees (each in byte order, a key
// after the longer keys it is a prefix of) and only then goes deeper. So
// a visit whose glob starts earlier comes first; a key without wildcards
// (glob == len) comes after the wildcard keys of its depth.
func walkOrder(a, b visit) int {
	if a.glob != b.glob {
		return cmp.Compare(a.glob, b.glob)
	}
	ra, rb := a.key[a.glob:], b.key[b.glob:]
	n := min(len(ra), len(rb))
	if c := strings.Compare(ra[:n], rb[:n]); c != 0 {
		return c
	}
	return cmp.Compare(len(rb), len(ra))
}

// Resolve returns the modules udev would load for a device's MODALIAS
// (libkmod with KMOD_PROBE_APPLY_BLACKLIST, modprobe -b): every match in
// libkmod's order, each once, builtin modules included, blacklisted
// modules dropped.
func (ix *Index) Resolve(modalias string) []string {
	return uniqueNames(ix.Candidates(modalias), func(c Candidate) bool { return ix.Blacklists(c, true) })
}

// Lookup returns the modules plain "modprobe NAME" would load (the
// kernel's request_module path): like Resolve, except that a module named
// directly is loaded even if blacklisted; the blacklist applies only to
// modules found through an alias.
func (ix *Index) Lookup(name string) []string {
	return uniqueNames(ix.Candidates(name), func(c Candidate) bool { return ix.Blacklists(c, false) })
}

// Blacklists reports whether the blacklist keeps a module a lookup found
// from loading, as kmod_module_probe_insert_module decides it: with all
// (KMOD_PROBE_APPLY_BLACKLIST: modprobe -b, udev) whenever the module is
// blacklisted, else (KMOD_PROBE_APPLY_BLACKLIST_ALIAS_ONLY: plain
// modprobe) only when it was found through an alias. Dependencies and
// softdeps are never subject to it.
func (ix *Index) Blacklists(c Candidate, all bool) bool {
	return (all || c.Alias != "") && ix.Blacklisted(c.Name)
}

// uniqueNames returns the candidates' names, each once, without those drop
// rejects.
func uniqueNames(cs []Candidate, drop func(Candidate) bool) []string {
	var out []string
	for _, c := range cs {
		if !drop(c) && !slices.Contains(out, c.Name) {
			out = append(out, c.Name)
		}
	}
	return out
}

// Module returns what modules.dep and modules.builtin say about a module
// (name is normalised first); ok is false when neither knows it. A module
// that modules.dep names only as another module's dependency has its Path
// and no Deps: depmod writes a line for every module, so the file lost
// that line, but the file is still known.
func (ix *Index) Module(name string) (m Module, ok bool) {
	if ix.bin != nil {
		return ix.binModule(name)
	}
	m = Module{Name: ModuleName(name)}
	m.Builtin = ix.builtin[m.Name]
	if id, found := ix.ids[m.Name]; found && int(id) < len(ix.mods) {
		e := ix.mods[id]
		m.Path = e.path
		for _, d := range e.deps {
			m.Deps = append(m.Deps, ix.names[d])
		}
	}
	return m, m.Path != "" || m.Builtin
}

// Builtin reports whether the module is built into the kernel (listed in
// modules.builtin). name is normalised first.
func (ix *Index) Builtin(name string) bool { return ix.isBuiltin(ModuleName(name)) }

// Exists reports whether modules.dep has a line for the module (name is
// normalised first).
func (ix *Index) Exists(name string) bool {
	return ix.hasDepLine(ModuleName(name))
}

// Blacklisted reports whether the configuration blacklists the module.
// As in kmod, the name is compared as given: module names from the index
// are normalised already, and the kernel command line's
// modprobe.blacklist= names are not normalised at all.
func (ix *Index) Blacklisted(name string) bool { return ix.merged.blacklist[name] }

// Options returns the options kmod passes to a module found by its name
// (name is normalised first): every "options" line naming it, then the
// kernel command line's, joined by spaces.
func (ix *Index) Options(name string) string { return ix.conf.moduleOptions(ModuleName(name), "") }

// ModuleOptions returns the options kmod passes to the module name found
// through alias (Candidate.Alias; "" for a module found by its name):
// every "options" line naming the module or the alias exactly, in file
// order, then the kernel command line's, joined by spaces. name must be a
// module name as the index spells it (ModuleName).
func (ix *Index) ModuleOptions(name, alias string) string { return ix.conf.moduleOptions(name, alias) }

// Softdep returns the soft dependencies of a module: the first softdep
// line (modprobe.d or modules.softdep, in kmod's file order) whose module
// pattern matches the name, as libkmod's kmod_module_get_softdeps takes
// it. The names may be aliases ("crypto-crc32c") and are not normalised.
func (ix *Index) Softdep(name string) (Softdep, bool) {
	name = ModuleName(name)
	for _, s := range ix.conf.softdeps {
		if fnmatch.Match(s.module, name) {
			return Softdep{Pre: slices.Clone(s.dep.Pre), Post: slices.Clone(s.dep.Post)}, true
		}
	}
	return Softdep{}, false
}

// InstallCommand returns the shell command of the first install line
// whose module pattern matches the name.
func (ix *Index) InstallCommand(name string) (string, bool) {
	name = ModuleName(name)
	for _, c := range ix.conf.installs {
		if fnmatch.Match(c.module, name) {
			return c.cmd, true
		}
	}
	return "", false
}

// Problems returns every malformed line the index skipped, in the index
// files and the configuration alike, each a *FileError naming file and
// line that wraps ErrCorrupt, and the modprobe.d files that could not be
// read (Line 0). modules.symbols, read on the first "symbol:" lookup,
// adds its own from then on.
func (ix *Index) Problems() []error {
	out := slices.Clone(ix.problems)
	if ix.symRead.Load() {
		out = append(out, ix.symProblems...)
	}
	return append(out, ix.bin.problemList()...)
}

// Stats summarises what an Index holds, for logs.
type Stats struct {
	Modules, Aliases, BuiltinModules, BuiltinAliases, ConfigAliases int
	// Problems counts what Problems returns.
	Problems int
	// Mapped says the index answers from depmod's .bin files, mapped on
	// first use (Open): their entries are never counted, so Modules,
	// Aliases and the builtin counts are 0 and mean nothing.
	Mapped bool
}

// Stats returns the index's sizes.
func (ix *Index) Stats() Stats {
	return Stats{
		Modules:        int(ix.nDep),
		Aliases:        len(ix.aliases.vals),
		BuiltinModules: len(ix.builtin),
		BuiltinAliases: len(ix.bialias.vals),
		ConfigAliases:  len(ix.conf.aliases),
		Problems:       len(ix.Problems()),
		Mapped:         ix.bin != nil,
	}
}

// String describes the index briefly.
func (s Stats) String() string {
	if s.Mapped {
		return fmt.Sprintf("depmod's .bin indexes, mapped on first use; %d config aliases, %d problems", s.ConfigAliases, s.Problems)
	}
	return fmt.Sprintf("%d modules, %d aliases, %d builtin modules, %d builtin aliases, %d config aliases, %d problems",
		s.Modules, s.Aliases, s.BuiltinModules, s.BuiltinAliases, s.ConfigAliases, s.Problems)
}
