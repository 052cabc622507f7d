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
	// Cmdline is the kernel command line (/proc/cmdline): it adds
	// "module.param=value" options and modprobe.blacklist=a,b.
	Cmdline string
}

// Index resolves MODALIAS strings and module names to module names the way
// libkmod (kmod 30) does. It is immutable once built and safe for
// concurrent use.
type Index struct {
	names    []string         // module names; those from modules.dep first, in its order
	ids      map[string]int32 // name -> position in names
	nDep     int32            // names[:nDep] are in modules.dep
	builtin  map[string]bool  // modules.builtin
	aliases  aliasTable       // modules.alias
	bialias  aliasTable       // builtin aliases from modules.builtin.modinfo
	cfg      Config
	conf     configState
	problems []error

	// modules.symbols is read on the first "symbol:" lookup: only
	// symbol_request() in a few drivers asks for one, and the file is
	// as big as modules.alias.
	modules    fs.FS
	symOnce    sync.Once
	symbols    aliasTable
	symbolsErr error
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

// Load builds an Index. A missing or malformed modules.alias or
// modules.dep, or a malformed optional index, is an error naming the file
// and line; problems in modprobe.d files are not errors (kmod ignores such
// lines) and are reported by Problems.
func Load(src Sources) (*Index, error) {
	if src.Modules == nil {
		return nil, errors.New("load module index: no modules directory")
	}
	ix := &Index{ids: make(map[string]int32, 8192), builtin: map[string]bool{}, modules: src.Modules}
	if err := ix.loadDep(src.Modules); err != nil {
		return nil, err
	}
	if err := ix.loadAliases(src.Modules); err != nil {
		return nil, err
	}
	if err := ix.loadBuiltin(src.Modules); err != nil {
		return nil, err
	}
	for _, f := range listConfigFiles(src.Modules, src.Root) {
		data, err := fs.ReadFile(f.fsys, f.path)
		if err != nil {
			continue // kmod skips files it cannot open
		}
		ix.conf.parseConfig(f.name, data)
	}
	ix.conf.parseCmdline(src.Cmdline)
	ix.cfg = ix.conf.config()
	ix.problems = ix.conf.problems
	return ix, nil
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

func (ix *Index) id(name string) int32 {
	if id, ok := ix.ids[name]; ok {
		return id
	}
	id := int32(len(ix.names))
	ix.names = append(ix.names, name)
	ix.ids[name] = id
	return id
}

func (ix *Index) loadDep(fsys fs.FS) error {
	f, err := open(fsys, "modules.dep")
	if err != nil {
		return err
	}
	defer f.Close()
	ix.names = make([]string, 0, 8192)
	err = parseDepFile(f, "modules.dep", func(name string) { ix.id(name) })
	ix.nDep = int32(len(ix.names))
	return err
}

func (ix *Index) loadAliases(fsys fs.FS) error {
	data, err := readString(fsys, "modules.alias")
	if err != nil {
		return err
	}
	ents := make([]aliasEntry, 0, strings.Count(data, "\n"))
	err = parseAliasFile(data, "modules.alias", func(pattern, module string) {
		key, ok := aliasNormalize(pattern)
		if !ok {
			return // depmod leaves such aliases out of modules.alias.bin
		}
		id, found := ix.ids[module]
		if !found {
			id = ix.id(strings.Clone(module))
		}
		ents = append(ents, aliasEntry{key, id})
	})
	if err != nil {
		return err
	}
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

// symbolTable returns modules.symbols, reading it on first use. A
// missing file is no error (libkmod skips it too); a corrupt one is
// reported by SymbolsError and finds nothing.
func (ix *Index) symbolTable() *aliasTable {
	ix.symOnce.Do(func() {
		data, err := readString(ix.modules, "modules.symbols")
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				ix.symbolsErr = err
			}
			return
		}
		var ents []aliasEntry
		err = parseAliasFile(data, "modules.symbols", func(pattern, module string) {
			if id, ok := ix.ids[module]; ok {
				ents = append(ents, aliasEntry{pattern, id})
			}
		})
		if err != nil {
			ix.symbolsErr = err
			return
		}
		ix.symbols = newAliasTable(ents)
	})
	return &ix.symbols
}

// SymbolsError returns why modules.symbols could not be used, once a
// "symbol:" lookup tried to read it.
func (ix *Index) SymbolsError() error {
	ix.symbolTable()
	return ix.symbolsErr
}

func (ix *Index) loadBuiltin(fsys fs.FS) error {
	if f, err := fsys.Open("modules.builtin"); err == nil {
		err = parseBuiltinFile(f, "modules.builtin", func(name string) { ix.builtin[name] = true })
		f.Close()
		if err != nil {
			return err
		}
	}
	data, err := fs.ReadFile(fsys, "modules.builtin.modinfo")
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return &FileError{File: "modules.builtin.modinfo", Err: err}
	}
	var ents []aliasEntry
	err = parseBuiltinModinfo(data, "modules.builtin.modinfo", func(module, alias string) {
		if key, ok := aliasNormalize(alias); ok {
			ents = append(ents, aliasEntry{key, ix.id(module)})
		}
	})
	if err != nil {
		return err
	}
	ix.bialias = newAliasTable(ents)
	return nil
}

// Candidate is one module a lookup found, before any blacklist.
type Candidate struct {
	Name string
	// Alias is true when the module was found through an alias (a
	// modprobe.d alias, modules.alias or a builtin alias) rather than by
	// its own name. Plain modprobe applies the blacklist only to these.
	Alias bool
	// Builtin is true when the module is built into the kernel.
	Builtin bool
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
			out = append(out, ix.candidate(a.module, true))
		}
	}
	if out != nil {
		return out
	}
	if !strings.Contains(key, ":") {
		if id, ok := ix.ids[key]; ok && id < ix.nDep {
			return []Candidate{ix.candidate(key, false)}
		}
	}
	if strings.HasPrefix(key, "symbol:") {
		if out = ix.fromTable(ix.symbolTable(), key); out != nil {
			return out
		}
	}
	if ix.hasCommand(key) {
		return []Candidate{ix.candidate(key, false)}
	}
	if out = ix.fromTable(&ix.aliases, key); out != nil {
		return out
	}
	if ix.builtin[key] {
		return []Candidate{{Name: key, Builtin: true}}
	}
	return ix.fromBuiltinAliases(key)
}

func (ix *Index) candidate(name string, alias bool) Candidate {
	return Candidate{Name: name, Alias: alias, Builtin: ix.builtin[name]}
}

func (ix *Index) hasCommand(name string) bool {
	for _, c := range ix.conf.installs {
		if c.module == name {
			return true
		}
	}
	for _, c := range ix.conf.removes {
		if c.module == name {
			return true
		}
	}
	return false
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
		out[i] = ix.candidate(ix.names[id], true)
	}
	return out
}

// fromBuiltinAliases looks key up in the builtin aliases. All of them
// have priority 0 in modules.builtin.alias.bin, and libkmod inserts each
// match in front of earlier ones, so the order is the reverse of the order
// its trie walk visits the keys (see walkOrder); one key's modules keep
// modules.builtin.modinfo order.
func (ix *Index) fromBuiltinAliases(key string) []Candidate {
	visits := ix.bialias.set.match(key, nil)
	slices.SortFunc(visits, func(a, b visit) int { return walkOrder(b, a) })
	var out []Candidate
	for _, v := range visits {
		for _, id := range ix.bialias.values(v.key) {
			out = append(out, Candidate{Name: ix.names[id], Alias: true, Builtin: true})
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
	return uniqueNames(ix.Candidates(modalias), func(c Candidate) bool { return ix.cfg.Blacklist[c.Name] })
}

// Lookup returns the modules plain "modprobe NAME" would load (the
// kernel's request_module path): like Resolve, except that a module named
// directly is loaded even if blacklisted; the blacklist applies only to
// modules found through an alias.
func (ix *Index) Lookup(name string) []string {
	return uniqueNames(ix.Candidates(name), func(c Candidate) bool { return c.Alias && ix.cfg.Blacklist[c.Name] })
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

// Config returns the merged modprobe configuration. The caller must not
// modify it.
func (ix *Index) Config() *Config { return &ix.cfg }

// Builtin reports whether the module is built into the kernel (listed in
// modules.builtin). name is normalised first.
func (ix *Index) Builtin(name string) bool { return ix.builtin[modnameNormalize(name)] }

// Exists reports whether modules.dep lists the module (name is
// normalised first).
func (ix *Index) Exists(name string) bool {
	id, ok := ix.ids[modnameNormalize(name)]
	return ok && id < ix.nDep
}

// Blacklisted reports whether the configuration blacklists the module.
func (ix *Index) Blacklisted(name string) bool { return ix.cfg.Blacklist[name] }

// Options returns the options kmod passes to the module: every "options"
// line naming it, then the kernel command line's, joined by spaces.
func (ix *Index) Options(name string) string { return ix.cfg.Options[modnameNormalize(name)] }

// Softdep returns the soft dependencies of a module: the first softdep
// line (modprobe.d or modules.softdep, in kmod's file order) whose module
// pattern matches the name.
func (ix *Index) Softdep(name string) (Softdep, bool) {
	name = modnameNormalize(name)
	for _, s := range ix.conf.softdeps {
		if fnmatch.Match(s.module, name) {
			return s.dep, true
		}
	}
	return Softdep{}, false
}

// InstallCommand returns the shell command of the first install line
// whose module pattern matches the name.
func (ix *Index) InstallCommand(name string) (string, bool) {
	name = modnameNormalize(name)
	for _, c := range ix.conf.installs {
		if fnmatch.Match(c.module, name) {
			return c.cmd, true
		}
	}
	return "", false
}

// Problems returns the modprobe.d lines kmod would ignore, as FileErrors
// naming file and line.
func (ix *Index) Problems() []error { return slices.Clone(ix.problems) }

// Stats summarises what an Index holds, for logs.
type Stats struct {
	Modules, Aliases, BuiltinModules, BuiltinAliases, ConfigAliases int
}

// Stats returns the index's sizes.
func (ix *Index) Stats() Stats {
	return Stats{
		Modules:        int(ix.nDep),
		Aliases:        len(ix.aliases.vals),
		BuiltinModules: len(ix.builtin),
		BuiltinAliases: len(ix.bialias.vals),
		ConfigAliases:  len(ix.conf.aliases),
	}
}

// String describes the index briefly.
func (s Stats) String() string {
	return fmt.Sprintf("%d modules, %d aliases, %d builtin modules, %d builtin aliases, %d config aliases",
		s.Modules, s.Aliases, s.BuiltinModules, s.BuiltinAliases, s.ConfigAliases)
}
