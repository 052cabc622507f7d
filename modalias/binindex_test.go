package modalias

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// TestBinMatchesText checks that the two paths answer alike, the text
// Index (patterns.go's walk over sorted keys) and the opened one (libkmod's
// walk over the .bin trie): every golden lookup, every module and builtin
// name, and every modules.alias and builtin alias key looked up as a
// string (so wildcards meet wildcards), through Candidates, Module, Exists
// and Builtin.
func TestBinMatchesText(t *testing.T) {
	for _, version := range append(kernels, synthetic) {
		t.Run(version, func(t *testing.T) {
			text, bin := bothPaths(t, kernelSources(t, version))
			lookups := textLookups(t, text, version)
			diffs := 0
			for _, l := range lookups {
				if d := cmp.Diff(text.Candidates(l), bin.Candidates(l)); d != "" {
					diffs++
					t.Errorf("Candidates(%q) (-text +bin):\n%s", l, d)
				}
			}
			for _, n := range text.names {
				tm, tok := text.Module(n)
				bm, bok := bin.Module(n)
				if d := cmp.Diff(tm, bm); d != "" || tok != bok {
					diffs++
					t.Errorf("Module(%q) = %v (-text +bin):\n%s", n, bok, d)
				}
				if text.Exists(n) != bin.Exists(n) || text.Builtin(n) != bin.Builtin(n) {
					diffs++
					t.Errorf("%q: Exists, Builtin = %v, %v by text, %v, %v by bin", n, text.Exists(n), text.Builtin(n), bin.Exists(n), bin.Builtin(n))
				}
			}
			if p := bin.bin.problemList(); len(p) > 0 {
				t.Errorf("problems reading the .bin indexes: %v", p)
			}
			t.Logf("%d lookups and %d names, %d differences", len(lookups), len(text.names), diffs)
		})
	}
}

// bothPaths returns the text Index of src and the opened Index of src
// with .bin indexes written from its text files; the test closes it.
func bothPaths(t *testing.T, src Sources) (text, bin *Index) {
	t.Helper()
	text, err := Load(src)
	if err != nil {
		t.Fatal(err)
	}
	bin, err = Open(withBinIndexes(t, src))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bin.Close() })
	return text, bin
}

// textLookups returns the golden lookups, every module name and every
// alias key of the text index.
func textLookups(t *testing.T, ix *Index, version string) []string {
	var out []string
	for _, e := range readExpectations(t, version) {
		out = append(out, e.lookup)
	}
	out = append(out, ix.names...)
	for n := range ix.builtin {
		out = append(out, n)
	}
	out = append(out, ix.aliases.keys...)
	return append(out, ix.bialias.keys...)
}

// TestBinWriterMatchesDepmod checks the test writer against depmod's own
// output: the committed .bin files of the synthetic tree (testdata/regen.sh
// synthetic writes them), and, with GUDEVD_DEPMOD_DIR set to a modules
// directory depmod ran over (/lib/modules/VERSION), that tree's.
func TestBinWriterMatchesDepmod(t *testing.T) {
	type tree struct {
		name string
		src  Sources
		bins func(name string) ([]byte, error)
	}
	trees := []tree{{synthetic, kernelSources(t, synthetic), func(name string) ([]byte, error) {
		path := filepath.Join("testdata", synthetic, name+".gz")
		if _, err := os.Stat(path); err != nil {
			return nil, err
		}
		return gunzip(t, path), nil
	}}}
	if dir := os.Getenv("GUDEVD_DEPMOD_DIR"); dir != "" {
		trees = append(trees, tree{dir, Sources{Modules: readTextTree(t, dir)}, func(name string) ([]byte, error) {
			return os.ReadFile(filepath.Join(dir, name))
		}})
	}
	for _, tr := range trees {
		ents := binEntriesFromText(t, tr.src)
		for i := range nBin {
			name := binFileName(i)
			t.Run(filepath.Base(tr.name)+"/"+name, func(t *testing.T) {
				want, err := tr.bins(name)
				if errors.Is(err, fs.ErrNotExist) {
					t.Skipf("no %s from depmod", name)
				}
				if err != nil {
					t.Fatal(err)
				}
				if got := writeBinIndex(ents[name]); !slices.Equal(got, want) {
					t.Errorf("writer's %s (%d bytes) differs from depmod's (%d bytes)", name, len(got), len(want))
				}
			})
		}
	}
}

// readTextTree reads the text index files of a modules directory.
func readTextTree(t *testing.T, dir string) fstest.MapFS {
	mods := fstest.MapFS{}
	for _, f := range []string{"modules.alias", "modules.dep", "modules.builtin", "modules.builtin.modinfo", "modules.softdep", "modules.symbols"} {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err == nil {
			mods[f] = &fstest.MapFile{Data: data}
		}
	}
	return mods
}

// tinyIndex is a well-formed index of three keys, for damaging.
func tinyIndex() []byte {
	return writeBinIndex([]binEntry{{"ab", "m1", 1}, {"a*", "m2", 2}, {"b", "m3", 3}})
}

// damage returns tinyIndex with f applied to a copy.
func damage(f func(b []byte) []byte) []byte { return f(tinyIndex()) }

func TestBinIndexCorrupt(t *testing.T) {
	rootPos := func(b []byte) int { return int(binary.BigEndian.Uint32(b[8:]) & nodeMask) }
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"short header", tinyIndex()[:11]},
		{"bad magic", damage(func(b []byte) []byte { b[0] = 0; return b })},
		{"bad major version", damage(func(b []byte) []byte { b[5] = 3; return b })},
		{"root past the end", damage(func(b []byte) []byte { binary.BigEndian.PutUint32(b[8:], nodeChilds|uint32(len(b)+8)); return b })},
		{"root in the header", damage(func(b []byte) []byte { binary.BigEndian.PutUint32(b[8:], nodeChilds|4); return b })},
		{"truncated", damage(func(b []byte) []byte { return b[:len(b)-3] })},
		{"child range reversed", damage(func(b []byte) []byte { p := rootPos(b); b[p], b[p+1] = b[p+1], b[p]; return b })},
		{"child range not ASCII", damage(func(b []byte) []byte { b[rootPos(b)+1] = 0xff; return b })},
		{"child after its parent", damage(func(b []byte) []byte {
			p := rootPos(b)
			binary.BigEndian.PutUint32(b[p+2:], nodeChilds|uint32(p))
			return b
		})},
		{"unterminated prefix", damage(func(b []byte) []byte {
			for i := binHeaderLen; i < len(b); i++ {
				if b[i] == 0 {
					b[i] = 'x'
				}
			}
			return b
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := exerciseBinIndex(tt.data, []string{"ab", "a", "b", "axyz", "*"})
			var fe *FileError
			if !errors.As(err, &fe) || fe.File != "test.bin" || !errors.Is(err, ErrCorrupt) {
				t.Errorf("got %v, want a *FileError for test.bin wrapping ErrCorrupt", err)
			}
		})
	}
}

// exerciseBinIndex parses data and runs every reader over it: exact and
// wildcard searches for keys and a dump. It returns the first error.
func exerciseBinIndex(data []byte, keys []string) error {
	bi, err := parseBinIndex("test.bin", data)
	if err != nil {
		return err
	}
	var errs []error
	for _, k := range keys {
		_, _, err := bi.search(k)
		errs = append(errs, err)
		_, err = bi.searchWild(k)
		errs = append(errs, err)
	}
	errs = append(errs, bi.dump(func(string, []binValue) {}))
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// FuzzBinIndexCorrupt feeds damaged indexes to every reader: none may
// panic or loop, and every error is a *FileError wrapping ErrCorrupt.
func FuzzBinIndexCorrupt(f *testing.F) {
	f.Add(tinyIndex(), "ab")
	f.Add(writeBinIndex(nil), "")
	f.Add(writeBinIndex([]binEntry{{"pci:v*d*sv*", "x", 0}, {"pci:v0000*", "y", 1}, {"pci:[a-c]", "z", 2}}), "pci:v0000abcd")
	f.Fuzz(func(t *testing.T, data []byte, key string) {
		err := exerciseBinIndex(data, []string{key, "", "*"})
		var fe *FileError
		if err != nil && (!errors.As(err, &fe) || !errors.Is(err, ErrCorrupt)) {
			t.Fatalf("error %v is not a *FileError wrapping ErrCorrupt", err)
		}
	})
}

// FuzzBinMatchesText builds a module tree from the fuzzer's aliases (one
// "pattern module" a line, module m0..m9, those with a '!' in front
// builtin), writes its .bin indexes with the test writer, and checks that
// the opened Index answers every lookup (the fuzzer's, each pattern and
// each module name) as the text Index does, in the same order.
func FuzzBinMatchesText(f *testing.F) {
	f.Add("gx:a* m1\ngx:a?c m2\n!gx:[a-z]bc m3\n!gx:abc m4\n!gx:abc m3\ngx:ab* m5", "gx:abc")
	f.Add("a*b m1\na\\*b m2\n!*c m3\n!a*c m4\n!ab[!x] m1", "a*b")
	f.Add("pci:v00008086d*sv*sd*bc03sc*i* m1\npci:v*d*sv*sd*bc03sc00i00* m2", "pci:v00008086d00001234sv00000000sd00000000bc03sc00i00")
	f.Fuzz(func(t *testing.T, aliases, lookup string) {
		src, keys, ok := fuzzTree(aliases)
		if !ok {
			return
		}
		text, bin := bothPaths(t, src)
		if strings.IndexByte(lookup, 0) >= 0 || len(lookup) > 256 {
			return // no C caller can pass a NUL: the .bin path ends the key there
		}
		for _, l := range append(keys, lookup, "m0", "m1", "m5") {
			if d := cmp.Diff(text.Candidates(l), bin.Candidates(l)); d != "" {
				t.Errorf("Candidates(%q) (-text +bin):\n%s", l, d)
			}
		}
		if p := bin.bin.problemList(); len(p) > 0 {
			t.Errorf("problems reading the .bin indexes: %v", p)
		}
	})
}

// fuzzTree turns the fuzzer's alias lines into modules.dep, modules.alias,
// modules.builtin and modules.builtin.modinfo. Patterns are 7-bit,
// without blanks or NULs, as depmod writes them, and at most 64 bytes; ok
// is false when no line is usable.
func fuzzTree(aliases string) (src Sources, patterns []string, ok bool) {
	var dep, alias, builtin, modinfo strings.Builder
	for i := range 10 {
		if i%2 == 0 {
			dep.WriteString("kernel/m" + string(rune('0'+i)) + ".ko:\n")
		} else {
			builtin.WriteString("kernel/b" + string(rune('0'+i)) + ".ko\n")
		}
	}
	for line := range strings.Lines(aliases) {
		f := strings.Fields(line)
		if len(f) != 2 || len(f[1]) != 2 || f[1][0] != 'm' || f[1][1] < '0' || f[1][1] > '9' {
			continue
		}
		p, mod := f[0], f[1]
		isBuiltin := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(p, "!")
		// Long runs of '*' make patterns.go's walk slow (cubic in
		// the run); depmod's keys are a few dozen bytes.
		if p == "" || len(p) > 64 || strings.ContainsFunc(p, func(r rune) bool { return r >= 0x80 || r == 0 }) {
			continue
		}
		if isBuiltin {
			modinfo.WriteString("b" + mod[1:] + ".alias=" + p + "\x00")
		} else {
			alias.WriteString("alias " + p + " " + mod + "\n")
		}
		patterns = append(patterns, p)
	}
	mods := fstest.MapFS{
		"modules.dep":             {Data: []byte(dep.String())},
		"modules.alias":           {Data: []byte(alias.String())},
		"modules.builtin":         {Data: []byte(builtin.String())},
		"modules.builtin.modinfo": {Data: []byte(modinfo.String())},
	}
	return Sources{Modules: mods}, patterns, len(patterns) > 0
}

// dump calls f for every key and its values in the order of the trie
// (libkmod's index_mm_dump), for tests of a damaged index.
func (bi *binIndex) dump(f func(key string, values []binValue)) error {
	n, ok, err := bi.rootNode()
	if !ok {
		return err
	}
	budget := len(bi.data) + 1
	var buf []byte
	var rec func(n binNode) error
	rec = func(n binNode) error {
		if budget--; budget < 0 {
			return corrupt(bi.file, "more nodes than the file can hold")
		}
		mark := len(buf)
		buf = append(buf, n.prefix...)
		if n.nvalues > 0 {
			var vals []binValue
			if err := bi.eachValue(&n, func(p uint32, v []byte) { vals = append(vals, binValue{p, string(v)}) }); err != nil {
				return err
			}
			f(string(buf), vals)
		}
		for ch := int(n.first); ch <= int(n.last); ch++ {
			child, ok, err := bi.child(&n, byte(ch))
			if err != nil {
				return err
			}
			if ok {
				buf = append(buf, byte(ch))
				if err := rec(child); err != nil {
					return err
				}
				buf = buf[:len(buf)-1]
			}
		}
		buf = buf[:mark]
		return nil
	}
	return rec(n)
}

// TestOpen opens trees on disk: the .bin files are mapped, answer, and are
// released by Close; without them, or with a damaged header, Open falls
// back to the text files and says why.
func TestOpen(t *testing.T) {
	src := withBinIndexes(t, kernelSources(t, synthetic))
	tests := []struct {
		name     string
		edit     func(dir string) error
		wantBin  bool
		wantProb string // a problem naming this file, wrapping ErrCorrupt
	}{
		{"bin files", func(string) error { return nil }, true, ""},
		{"no bin files", func(dir string) error {
			for i := range nBin {
				if err := os.Remove(filepath.Join(dir, binFileName(i))); err != nil {
					return err
				}
			}
			return nil
		}, false, ""},
		{"damaged header", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "modules.alias.bin"), []byte("not an index, long enough"), 0o644)
		}, false, "modules.alias.bin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, f := range src.Modules.(fstest.MapFS) {
				if err := os.WriteFile(filepath.Join(dir, name), f.Data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := tt.edit(dir); err != nil {
				t.Fatal(err)
			}
			ix, err := Open(Sources{Modules: os.DirFS(dir)})
			if err != nil {
				t.Fatal(err)
			}
			if got := ix.bin != nil; got != tt.wantBin {
				t.Fatalf("reads .bin files = %v, want %v", got, tt.wantBin)
			}
			if tt.wantBin && !ix.bin.get(binDep).unmap {
				t.Error("modules.dep.bin of an os.DirFS is not mapped")
			}
			if d := cmp.Diff([]string{"rho", "alpha", "omicron", "zeta", "xi"}, ix.Resolve("gx:a[b]c")); d != "" {
				t.Errorf("Resolve (-want +got):\n%s", d)
			}
			checkOpenProblems(t, ix.Problems(), tt.wantProb)
			if err := ix.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if tt.wantBin && ix.Resolve("gx:a[b]c") != nil {
				t.Error("a closed index still answers")
			}
			if err := ix.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
		})
	}
}

// checkOpenProblems wants one problem naming file and wrapping ErrCorrupt,
// or none when file is "".
func checkOpenProblems(t *testing.T, problems []error, file string) {
	t.Helper()
	var named []error
	for _, p := range problems {
		var fe *FileError
		if errors.As(p, &fe) && fe.File == file && errors.Is(p, ErrCorrupt) {
			named = append(named, p)
		}
	}
	if file == "" && len(problems) > 0 || file != "" && len(named) != 1 {
		t.Errorf("problems %v, want one about %q", problems, file)
	}
}

// FuzzBinRoundTrip writes the fuzzer's keys (one a line, each with the
// value "v<line>" and priority line%3) and reads them back: the trie holds
// exactly the key set, each key's values in depmod's order, search finds
// each key's first value and nothing for a string that is no key.
func FuzzBinRoundTrip(f *testing.F) {
	f.Add("ab\na\nabc\nb*\nab\n", "abd")
	f.Add("pci:v*d*\npci:v0000\n\npci:v0000\n", "pci:")
	f.Fuzz(func(t *testing.T, lines, other string) {
		var ents []binEntry
		want := map[string][]binValue{}
		for i, k := range strings.Split(lines, "\n") {
			if strings.ContainsFunc(k, func(r rune) bool { return r >= childMax || r == 0 }) {
				return // depmod's keys are 7-bit C strings
			}
			e := binEntry{k, "v" + string(rune('a'+i%26)), uint32(i % 3)}
			ents = append(ents, e)
			want[k] = append(want[k], binValue{e.priority, e.value})
		}
		for k, vs := range want {
			slices.Reverse(vs)
			slices.SortStableFunc(vs, func(a, b binValue) int { return int(a.priority) - int(b.priority) })
			want[k] = vs
		}
		bi, err := parseBinIndex("fuzz.bin", writeBinIndex(ents))
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][]binValue{}
		if err := bi.dump(func(k string, vs []binValue) { got[k] = vs }); err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got, cmp.AllowUnexported(binValue{})); d != "" {
			t.Errorf("dump (-want +got):\n%s", d)
		}
		for _, k := range append(slices.Collect(maps.Keys(want)), other) {
			v, ok, err := bi.search(k)
			vs, isKey := want[cKey(k)]
			if err != nil || ok != isKey || ok && v != vs[0].value {
				t.Errorf("search(%q) = %q, %v, %v; want %v, %v", k, v, ok, err, vs, isKey)
			}
		}
	})
}
