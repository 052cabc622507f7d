package modalias

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
)

// The .bin indexes an opened Index reads, as libkmod's index_files.
const (
	binDep = iota
	binAlias
	binSymbols
	binBuiltin
	binBuiltinAlias
	nBin
)

// binFileName is the file of index i in the modules directory.
func binFileName(i int) string {
	return [nBin]string{"modules.dep.bin", "modules.alias.bin", "modules.symbols.bin", "modules.builtin.bin", "modules.builtin.alias.bin"}[i]
}

// binTables holds the .bin indexes of an opened Index. Each is opened on
// first use; a missing one finds nothing, as for libkmod. A damaged file
// or node is reported once per lookup that meets it and finds nothing.
type binTables struct {
	fsys  fs.FS
	slots [nBin]binSlot

	mu       sync.Mutex // guards problems
	problems []error
}

type binSlot struct {
	once sync.Once
	ix   *binIndex // nil when missing or damaged
}

// Open returns an Index that answers from depmod's binary indexes, as
// libkmod does: each is mapped on first use and a lookup reads only the
// nodes along its walk, so a process that makes one lookup (the kernel's
// modprobe helper) pays for that lookup, not for parsing the whole tree.
// modprobe.d and modules.softdep are read as Load reads them.
//
// When modules.dep.bin or modules.alias.bin is missing or its header is
// damaged, Open returns Load(src) instead, with the damage among its
// Problems. Stats counts only the configuration of an opened Index.
// Close releases the mappings; call it after the last lookup.
func Open(src Sources) (*Index, error) {
	if src.Modules == nil {
		return nil, errors.New("open module index: no modules directory")
	}
	bt := &binTables{fsys: src.Modules}
	for _, i := range []int{binDep, binAlias} {
		if bt.get(i) == nil {
			bt.close()
			ix, err := Load(src)
			if ix != nil {
				ix.problems = append(ix.problems, bt.problems...)
			}
			return ix, err
		}
	}
	ix := &Index{ids: map[string]int32{}, builtin: map[string]bool{}, modules: src.Modules, bin: bt}
	if err := ix.loadConfig(src); err != nil {
		bt.close()
		return nil, err
	}
	return ix, nil
}

// Close releases what Open mapped. The Index must not be used afterwards.
// It does nothing for an Index that Load built.
func (ix *Index) Close() error {
	if ix.bin == nil {
		return nil
	}
	return ix.bin.close()
}

// get returns index i, opening it on first use.
func (bt *binTables) get(i int) *binIndex {
	s := &bt.slots[i]
	s.once.Do(func() {
		bi, err := openBinIndex(bt.fsys, binFileName(i))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			bt.report(err)
		}
		s.ix = bi
	})
	return s.ix
}

func (bt *binTables) report(err error) {
	bt.mu.Lock()
	defer bt.mu.Unlock()
	bt.problems = append(bt.problems, err)
}

// problemList returns what the indexes reported so far.
func (bt *binTables) problemList() []error {
	if bt == nil {
		return nil
	}
	bt.mu.Lock()
	defer bt.mu.Unlock()
	return slices.Clone(bt.problems)
}

func (bt *binTables) close() error {
	var errs []error
	for i := range bt.slots {
		s := &bt.slots[i]
		s.once.Do(func() {}) // never open it now
		errs = append(errs, s.ix.close())
		s.ix = nil
	}
	return errors.Join(errs...)
}

// search is index_mm_search on index i: the first value of key.
func (bt *binTables) search(i int, key string) (string, bool) {
	bi := bt.get(i)
	if bi == nil {
		return "", false
	}
	v, ok, err := bi.search(key)
	if err != nil {
		bt.report(err)
	}
	return v, ok
}

// searchWild is index_mm_searchwild on index i.
func (bt *binTables) searchWild(i int, key string) []binValue {
	bi := bt.get(i)
	if bi == nil {
		return nil
	}
	vs, err := bi.searchWild(key)
	if err != nil {
		bt.report(err)
	}
	return vs
}

// hasDepLine reports whether modules.dep has a line for the module name,
// as libkmod's kmod_lookup_alias_from_moddep_file asks modules.dep.bin.
func (ix *Index) hasDepLine(name string) bool {
	if ix.bin == nil {
		id, ok := ix.ids[name]
		return ok && id < ix.nDep
	}
	_, ok := ix.bin.search(binDep, name)
	return ok
}

// isBuiltin reports whether modules.builtin lists the module, as
// libkmod's kmod_lookup_alias_is_builtin asks modules.builtin.bin.
func (ix *Index) isBuiltin(name string) bool {
	if ix.bin == nil {
		return ix.builtin[name]
	}
	_, ok := ix.bin.search(binBuiltin, name)
	return ok
}

// fromSymbols looks a "symbol:" key up in modules.symbols.
func (ix *Index) fromSymbols(key string) []Candidate {
	if ix.bin == nil {
		return ix.fromTable(ix.symbolTable(), key)
	}
	return ix.fromBin(binSymbols, key)
}

// fromAliases looks key up in modules.alias.
func (ix *Index) fromAliases(key string) []Candidate {
	if ix.bin == nil {
		return ix.fromTable(&ix.aliases, key)
	}
	return ix.fromBin(binAlias, key)
}

// fromBin looks key up in modules.alias.bin, modules.symbols.bin or
// modules.builtin.alias.bin: searchWild's values are module names in
// libkmod's order already.
func (ix *Index) fromBin(i int, key string) []Candidate {
	vs := ix.bin.searchWild(i, key)
	if len(vs) == 0 {
		return nil
	}
	out := make([]Candidate, len(vs))
	for j, v := range vs {
		out[j] = ix.candidate(v.value, key)
		if i == binBuiltinAlias {
			out[j].Builtin = true
		}
	}
	return out
}

// binModule is Module for an opened Index: modules.dep.bin's value for
// the module is its modules.dep line, "path: dep-path ...".
func (ix *Index) binModule(name string) (Module, bool) {
	m := Module{Name: ModuleName(name)}
	m.Builtin = ix.isBuiltin(m.Name)
	line, ok := ix.bin.search(binDep, m.Name)
	if !ok {
		return m, m.Builtin
	}
	path, deps, _ := strings.Cut(line, ":")
	m.Path = strings.TrimSpace(path)
	for dp := range strings.FieldsSeq(deps) {
		dn, err := moduleFile(dp)
		if err != nil {
			ix.bin.report(&FileError{File: binFileName(binDep), Err: fmt.Errorf("%w: %w", err, ErrCorrupt)})
			continue
		}
		if d := ModuleName(dn); !slices.Contains(m.Deps, d) {
			m.Deps = append(m.Deps, d)
		}
	}
	return m, true
}
