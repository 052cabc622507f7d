package modalias

// A writer of depmod's binary index format, for tests: it builds the .bin
// indexes from the text files exactly as depmod builds them from the
// modules (tools/depmod.c: index_insert, index_write), byte for byte, so
// the .bin path can be tested on the committed text testdata without
// committing megabytes of binary indexes.

import (
	"cmp"
	"encoding/binary"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// binEntry is one index_insert call: key, value and priority, in call
// order.
type binEntry struct {
	key, value string
	priority   uint32
}

// binKey is one key of the trie with its values in depmod's order.
type binKey struct {
	key    string
	values []binValue
}

// writeBinIndex returns the .bin file depmod writes for these insertions.
// depmod's radix trie is canonical for a key set: the root has no prefix,
// every other node's prefix runs to where its keys part or one ends. A
// key's values are sorted by priority, a later insertion before earlier
// ones of the same priority (depmod's index_add_value). Nodes are written
// in post-order, children in byte order.
func writeBinIndex(ents []binEntry) []byte {
	byKey := map[string][]binValue{}
	for _, e := range ents {
		byKey[e.key] = append(byKey[e.key], binValue{e.priority, e.value})
	}
	keys := make([]binKey, 0, len(byKey))
	for k, vs := range byKey {
		slices.Reverse(vs)
		slices.SortStableFunc(vs, func(a, b binValue) int { return cmp.Compare(a.priority, b.priority) })
		keys = append(keys, binKey{k, vs})
	}
	slices.SortFunc(keys, func(a, b binKey) int { return strings.Compare(a.key, b.key) })
	out := binary.BigEndian.AppendUint32(nil, binMagic)
	out = binary.BigEndian.AppendUint32(out, binVersionMaj<<16|0x0001)
	out = append(out, 0, 0, 0, 0)
	w := binWriter{out: out}
	root := w.node(keys, 0, true)
	binary.BigEndian.PutUint32(w.out[8:], root)
	return w.out
}

type binWriter struct{ out []byte }

// node writes the node for keys (sorted, sharing their first d bytes, d
// being the node's depth after the edge into it) and returns its offset
// with flags.
func (w *binWriter) node(keys []binKey, d int, root bool) uint32 {
	e := d
	if !root {
		e = d + commonPrefix(keys[0].key[d:], keys[len(keys)-1].key[d:])
	}
	var prefix string
	if len(keys) > 0 {
		prefix = keys[0].key[d:e]
	}
	var vals []binValue
	if len(keys) > 0 && len(keys[0].key) == e {
		vals, keys = keys[0].values, keys[1:]
	}
	type child struct {
		c   byte
		off uint32
	}
	var children []child
	for len(keys) > 0 {
		c := keys[0].key[e]
		n := 1
		for n < len(keys) && keys[n].key[e] == c {
			n++
		}
		children = append(children, child{c, w.node(keys[:n], e+1, false)})
		keys = keys[n:]
	}
	off := uint32(len(w.out))
	if e > d {
		off |= nodePrefix
		w.out = append(append(w.out, prefix...), 0)
	}
	if len(children) > 0 {
		off |= nodeChilds
		first, last := children[0].c, children[len(children)-1].c
		w.out = append(w.out, first, last)
		table := make([]uint32, int(last-first)+1)
		for _, ch := range children {
			table[ch.c-first] = ch.off
		}
		for _, o := range table {
			w.out = binary.BigEndian.AppendUint32(w.out, o)
		}
	}
	if vals != nil {
		off |= nodeValues
		w.out = binary.BigEndian.AppendUint32(w.out, uint32(len(vals)))
		for _, v := range vals {
			w.out = binary.BigEndian.AppendUint32(w.out, v.priority)
			w.out = append(append(w.out, v.value...), 0)
		}
	}
	return off
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// binEntriesFromText returns the index_insert calls depmod makes for each
// .bin index, from the text files of src as the text Index read them:
// priorities are modules.dep positions (the text Index's module ids).
func binEntriesFromText(t testing.TB, src Sources) map[string][]binEntry {
	t.Helper()
	ix, err := Load(src)
	if err != nil {
		t.Fatal(err)
	}
	read := func(name string) string {
		data, err := readOptional(src.Modules, name)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	out := map[string][]binEntry{}
	parseDepFile(read("modules.dep"), "modules.dep", func(name, path, deps string, _ int) error {
		line := path + ":"
		for d := range strings.FieldsSeq(deps) {
			line += " " + d
		}
		out["modules.dep.bin"] = append(out["modules.dep.bin"], binEntry{name, line, uint32(ix.ids[name])})
		return nil
	})
	parseAliasFile(read("modules.alias"), "modules.alias", func(pattern, module string) {
		if key, ok := aliasNormalize(pattern); ok {
			out["modules.alias.bin"] = append(out["modules.alias.bin"], binEntry{key, module, uint32(ix.ids[module])})
		}
	})
	parseAliasFile(read("modules.symbols"), "modules.symbols", func(pattern, module string) {
		if id, ok := ix.ids[module]; ok {
			out["modules.symbols.bin"] = append(out["modules.symbols.bin"], binEntry{pattern, module, uint32(id)})
		}
	})
	parseBuiltinFile(read("modules.builtin"), "modules.builtin", func(name string) {
		out["modules.builtin.bin"] = append(out["modules.builtin.bin"], binEntry{name, "", 0})
	})
	parseBuiltinModinfo(read("modules.builtin.modinfo"), "modules.builtin.modinfo", func(module, alias string) {
		if key, ok := aliasNormalize(alias); ok {
			out["modules.builtin.alias.bin"] = append(out["modules.builtin.alias.bin"], binEntry{key, module, 0})
		}
	})
	return out
}

// withBinIndexes returns src with the five .bin indexes written from its
// text files added to (a copy of) its modules directory.
func withBinIndexes(t testing.TB, src Sources) Sources {
	t.Helper()
	mods := fstest.MapFS{}
	for name, f := range src.Modules.(fstest.MapFS) {
		mods[name] = f
	}
	for name, ents := range binEntriesFromText(t, src) {
		mods[name] = &fstest.MapFile{Data: writeBinIndex(ents)}
	}
	for i := range nBin {
		if name := binFileName(i); mods[name] == nil {
			mods[name] = &fstest.MapFile{Data: writeBinIndex(nil)}
		}
	}
	src.Modules = mods
	return src
}
