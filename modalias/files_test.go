package modalias

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestAliasNormalize(t *testing.T) {
	tests := []struct {
		name, in, want string
		ok             bool
	}{
		{"plain", "pci:v00008086d*", "pci:v00008086d*", true},
		{"dashes", "snd-hda-intel", "snd_hda_intel", true},
		{"dash in brackets kept", "usb:v0421p0492d04[6-9]*a-b", "usb:v0421p0492d04[6-9]*a_b", true},
		{"stray close bracket", "a]b", "", false},
		{"unterminated bracket", "a[bc", "", false},
		{"close bracket after bracket", "a[b]]", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := aliasNormalize(tt.in)
			if got != tt.want || ok != tt.ok {
				t.Errorf("aliasNormalize(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestModuleName(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"normalised already", "snd_hda_intel", "snd_hda_intel"},
		{"dashes", "snd-hda-intel", "snd_hda_intel"},
		{"file name", "snd-hda-intel.ko.xz", "snd_hda_intel"},
		{"dots end the name, brackets mean nothing", "a[-]b.c-d", "a[_]b"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d := cmp.Diff(tt.want, ModuleName(tt.in)); d != "" {
				t.Errorf("ModuleName(%q) (-want +got):\n%s", tt.in, d)
			}
		})
	}
}

// problemLines returns "FILE:LINE: message" for each problem, failing the
// test for any that is not a corrupt-line *FileError.
func problemLines(t testing.TB, problems []error) []string {
	t.Helper()
	var out []string
	for _, p := range problems {
		var fe *FileError
		if !errors.As(p, &fe) || fe.Line < 1 || !errors.Is(p, ErrCorrupt) || !errors.Is(p, syscall.EINVAL) {
			t.Errorf("problem %v is not a corrupt-line FileError matching ErrCorrupt and EINVAL", p)
			continue
		}
		out = append(out, p.Error())
	}
	return out
}

// prefixes cuts each problem line after "FILE:LINE:".
func prefixes(lines []string) []string {
	var out []string
	for _, l := range lines {
		f := strings.SplitN(l, ":", 3)
		out = append(out, f[0]+":"+f[1]+":")
	}
	return out
}

type aliasLine struct{ Pattern, Module string }

func parseAliases(t testing.TB, data string) ([]aliasLine, []string) {
	var out []aliasLine
	bad := parseAliasFile(data, "modules.alias", func(p, m string) { out = append(out, aliasLine{p, m}) })
	return out, problemLines(t, bad)
}

func TestParseAliasFile(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []aliasLine
		wantBad []string
	}{
		{
			name: "depmod output",
			in:   "# Aliases extracted from modules themselves.\nalias pci:v00008086d000010D3sv*sd*bc*sc*i* e1000e\nalias fs-ext4 ext4\n",
			want: []aliasLine{{"pci:v00008086d000010D3sv*sd*bc*sc*i*", "e1000e"}, {"fs-ext4", "ext4"}},
		},
		{
			name: "pattern with spaces, no final newline",
			in:   "alias dmi:*:svnDell Inc.:* dell_laptop",
			want: []aliasLine{{"dmi:*:svnDell Inc.:*", "dell_laptop"}},
		},
		{
			name:    "not an alias line, the rest still counts",
			in:      "# c\nalias a b\nsoftdep x pre: y\nalias c d\n",
			want:    []aliasLine{{"a", "b"}, {"c", "d"}},
			wantBad: []string{"modules.alias:3:"},
		},
		{name: "missing module", in: "alias lonely\n", wantBad: []string{"modules.alias:1:"}},
		{name: "alias glued to pattern", in: "aliasx y z\n", wantBad: []string{"modules.alias:1:"}},
		{
			name:    "over-long line",
			in:      "alias a:" + strings.Repeat("x", maxLine) + " m\nalias b n\n",
			want:    []aliasLine{{"b", "n"}},
			wantBad: []string{"modules.alias:1:"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, bad := parseAliases(t, tt.in)
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("aliases (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tt.wantBad, prefixes(bad)); d != "" {
				t.Errorf("bad lines (-want +got):\n%s", d)
			}
		})
	}
}

func TestParseBuiltinModinfo(t *testing.T) {
	in := "zbud.alias=zpool-zbud\x00zbud.license=GPL\x00broken\x008250.alias=char-major-4-*\x00\x00cxl_core.alias=cxl:t6*\x00"
	var got []aliasLine
	bad := parseBuiltinModinfo(in, "modules.builtin.modinfo", func(m, a string) { got = append(got, aliasLine{a, m}) })
	want := []aliasLine{{"zpool-zbud", "zbud"}, {"char-major-4-*", "8250"}, {"cxl:t6*", "cxl_core"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("aliases (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"modules.builtin.modinfo:3:"}, prefixes(problemLines(t, bad))); d != "" {
		t.Errorf("bad records (-want +got):\n%s", d)
	}
}

// moduleSnapshot is everything an Index says about the modules it knows
// by name, for comparing two indexes.
type moduleSnapshot struct {
	Names   []string
	Modules []Module
	Exists  []bool
	Stats   Stats
}

func snapshot(ix *Index) moduleSnapshot {
	s := moduleSnapshot{Names: slices.Clone(ix.names), Stats: ix.Stats()}
	s.Stats.Problems = 0
	for _, n := range ix.names {
		m, _ := ix.Module(n)
		s.Modules = append(s.Modules, m)
		s.Exists = append(s.Exists, ix.Exists(n))
	}
	return s
}

// The modules.dep cases come from depmod's format: each line names a
// module file and its whole dependency closure, a module before those it
// needs.
func TestLoadModulesDep(t *testing.T) {
	tests := []struct {
		name    string
		dep     string
		want    []Module // in modules.dep order
		wantBad []string
	}{
		{
			name: "relative and absolute paths, compressed files",
			dep:  "kernel/a/a-b.ko.xz: kernel/c.ko.zst /abs/d.ko.gz\nkernel/c.ko.zst:\n/abs/d.ko.gz:\n",
			want: []Module{
				{Name: "a_b", Path: "kernel/a/a-b.ko.xz", Deps: []string{"c", "d"}},
				{Name: "c", Path: "kernel/c.ko.zst"},
				{Name: "d", Path: "/abs/d.ko.gz"},
			},
		},
		{
			name: "blank lines, comments, tabs, no final newline",
			dep:  "\n# comment\nx.ko:\ty.ko  z.ko\ny.ko:\nz.ko:",
			want: []Module{
				{Name: "x", Path: "x.ko", Deps: []string{"y", "z"}},
				{Name: "y", Path: "y.ko"},
				{Name: "z", Path: "z.ko"},
			},
		},
		{
			name: "repeated dependency is listed once, a self-dependency kept",
			dep:  "x.ko: y.ko y.ko x.ko\ny.ko:\n",
			want: []Module{{Name: "x", Path: "x.ko", Deps: []string{"y", "x"}}, {Name: "y", Path: "y.ko"}},
		},
		{
			// depmod writes a line for every module; a file that
			// lost one still says where the module is.
			name: "dependency without a line of its own",
			dep:  "lonely.ko: nowhere/orphan.ko\n",
			want: []Module{
				{Name: "lonely", Path: "lonely.ko", Deps: []string{"orphan"}},
				{Name: "orphan", Path: "nowhere/orphan.ko"},
			},
		},
		{
			name: "bad lines are reported, good lines kept, the first of two lines counts",
			dep: "good.ko: dep.ko\n" +
				"no colon here\n" +
				": dep.ko\n" +
				"bad.txt:\n" +
				"x.ko: y.o\n" +
				"good.ko:\n" +
				".ko:\n" +
				"dep.ko:\n",
			want: []Module{
				{Name: "good", Path: "good.ko", Deps: []string{"dep"}},
				{Name: "dep", Path: "dep.ko"},
			},
			wantBad: []string{
				`modules.dep:2: missing ':' after module path in "no colon here": corrupt index`,
				`modules.dep:3: empty module path: corrupt index`,
				`modules.dep:4: module path "bad.txt" does not end in .ko, .ko.xz, .ko.zst or .ko.gz: corrupt index`,
				`modules.dep:5: module path "y.o" does not end in .ko, .ko.xz, .ko.zst or .ko.gz: corrupt index`,
				`modules.dep:6: module good listed again (first on line 1): corrupt index`,
				`modules.dep:7: module path ".ko" has no name: corrupt index`,
			},
		},
		{
			name:    "over-long line",
			dep:     "a.ko: " + strings.Repeat("x", maxLine) + "\nb.ko:\n",
			want:    []Module{{Name: "b", Path: "b.ko"}},
			wantBad: []string{fmt.Sprintf("modules.dep:1: line longer than %d bytes: corrupt index", maxLine)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix, err := Load(Sources{Modules: fstest.MapFS{
				"modules.dep":   {Data: []byte(tt.dep)},
				"modules.alias": {},
			}})
			if err != nil {
				t.Fatal(err)
			}
			var got []Module
			for _, n := range ix.names {
				m, ok := ix.Module(n)
				if !ok {
					t.Errorf("Module(%q) not found", n)
				}
				got = append(got, m)
			}
			if d := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); d != "" {
				t.Errorf("modules (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tt.wantBad, problemLines(t, ix.Problems())); d != "" {
				t.Errorf("problems (-want +got):\n%s", d)
			}
		})
	}
}

func TestLoadModulesBuiltin(t *testing.T) {
	tests := []struct {
		name    string
		builtin string
		want    []string
		wantBad []string
	}{
		{
			name:    "paths, names normalised",
			builtin: "kernel/net/unix/unix.ko\nkernel/drivers/usb/usb-common.ko\n\n",
			want:    []string{"unix", "usb_common"},
		},
		{
			name:    "bad lines kept out, as depmod does",
			builtin: "kernel/a.ko\nnot a module\n9bad.ko\n# comment\nkernel/b.ko",
			want:    []string{"a", "b"},
			wantBad: []string{"modules.builtin:2:", "modules.builtin:3:", "modules.builtin:4:"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix, err := Load(Sources{Modules: fstest.MapFS{
				"modules.dep":     {},
				"modules.alias":   {},
				"modules.builtin": {Data: []byte(tt.builtin)},
			}})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for n := range ix.builtin {
				if m, ok := ix.Module(n); !ok || !m.Builtin || m.Path != "" {
					t.Errorf("Module(%q) = %+v, %v; want builtin without a file", n, m, ok)
				}
				got = append(got, n)
			}
			slices.Sort(got)
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("builtin (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tt.wantBad, prefixes(problemLines(t, ix.Problems()))); d != "" {
				t.Errorf("problems (-want +got):\n%s", d)
			}
		})
	}
}

// TestModuleReal reads Debian 6.1's modules.dep and modules.builtin.
func TestModuleReal(t *testing.T) {
	ix, err := Load(kernelSources(t, kernels[0]))
	if err != nil {
		t.Fatal(err)
	}
	type answer struct {
		M  Module
		OK bool
	}
	tests := []struct {
		name string
		want answer
	}{
		{"kvm_intel", answer{Module{Name: "kvm_intel", Path: "kernel/arch/x86/kvm/kvm-intel.ko", Deps: []string{"kvm", "irqbypass"}}, true}},
		{"kvm-intel", answer{Module{Name: "kvm_intel", Path: "kernel/arch/x86/kvm/kvm-intel.ko", Deps: []string{"kvm", "irqbypass"}}, true}},
		{"aesni_intel", answer{Module{Name: "aesni_intel", Path: "kernel/arch/x86/crypto/aesni-intel.ko", Deps: []string{"crypto_simd", "cryptd"}}, true}},
		{"usb_common", answer{Module{Name: "usb_common", Path: "kernel/drivers/usb/common/usb-common.ko"}, true}},
		{"rtc-cmos", answer{Module{Name: "rtc_cmos", Builtin: true}, true}},
		{"nonexistent", answer{Module{Name: "nonexistent"}, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, ok := ix.Module(tt.name)
			if d := cmp.Diff(tt.want, answer{m, ok}); d != "" {
				t.Errorf("Module(%q) (-want +got):\n%s", tt.name, d)
			}
		})
	}
	// depmod writes one line per module and a line for every
	// dependency.
	lines := strings.Count(string(gunzip(t, "testdata/"+kernels[0]+"/modules.dep.gz")), "\n")
	if int(ix.nDep) != lines || len(ix.mods) != lines {
		t.Errorf("%d modules with lines, %d with files; want %d, one per line", ix.nDep, len(ix.mods), lines)
	}
}

func TestLoadErrors(t *testing.T) {
	good := fstest.MapFS{
		"modules.dep":   {Data: []byte("kernel/a.ko:\n")},
		"modules.alias": {Data: []byte("alias x:* a\n")},
	}
	without := func(name string) fstest.MapFS {
		m := fstest.MapFS{}
		for k, v := range good {
			if k != name {
				m[k] = v
			}
		}
		return m
	}
	tests := []struct {
		name    string
		modules fstest.MapFS
		wantMsg string
	}{
		{"missing modules.alias", without("modules.alias"), "modules.alias: "},
		{"missing modules.dep", without("modules.dep"), "modules.dep: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(Sources{Modules: tt.modules})
			if err == nil || !strings.HasPrefix(err.Error(), tt.wantMsg) {
				t.Fatalf("err = %v, want prefix %q", err, tt.wantMsg)
			}
			var fe *FileError
			if !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &fe) {
				t.Errorf("err = %v, want a *FileError matching fs.ErrNotExist", err)
			}
		})
	}
	if _, err := Load(Sources{Modules: good}); err != nil {
		t.Errorf("Load(good) = %v", err)
	}
}

// TestLoadProblems: a bad line in any file costs only that line; Load
// succeeds and Problems names every one.
func TestLoadProblems(t *testing.T) {
	mods := fstest.MapFS{
		"modules.dep":             {Data: []byte("kernel/a.ko:\nno colon here\nkernel/b.ko:\n")},
		"modules.alias":           {Data: []byte("alias x:* a\nalias y:*\nalias z:* b\n")},
		"modules.builtin":         {Data: []byte("kernel/c.ko\n/abs/d.ko\n")},
		"modules.builtin.modinfo": {Data: []byte("c.alias\x00c.alias=w:*\x00")},
		"modules.softdep":         {Data: []byte("softdep a pre: b\nsoftdep\n")},
		"modules.symbols":         {Data: []byte("alias symbol:f a\nbogus\n")},
	}
	root := fstest.MapFS{"etc/modprobe.d/x.conf": {Data: []byte("blacklist b\nfrobnicate\n")}}
	ix, err := Load(Sources{Modules: mods, Root: root})
	if err != nil {
		t.Fatal(err)
	}
	type answers struct{ X, Z, W, Symbol, Softdep []string }
	sd, _ := ix.Softdep("a")
	got := answers{ix.Lookup("x:1"), ix.Lookup("z:1"), ix.Lookup("w:1"), ix.Lookup("symbol:f"), sd.Pre}
	want := answers{[]string{"a"}, nil, []string{"c"}, []string{"a"}, []string{"b"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("lookups around the bad lines (-want +got):\n%s", d)
	}
	wantBad := []string{
		"modules.dep:2:", "modules.alias:2:", "modules.builtin:2:", "modules.builtin.modinfo:1:",
		"modules.softdep:2:", "/etc/modprobe.d/x.conf:2:", "modules.symbols:2:",
	}
	if d := cmp.Diff(wantBad, prefixes(problemLines(t, ix.Problems()))); d != "" {
		t.Errorf("problems (-want +got):\n%s", d)
	}
	if got := ix.Stats().Problems; got != len(wantBad) {
		t.Errorf("Stats().Problems = %d, want %d", got, len(wantBad))
	}
}

// withoutBadLines returns data without the lines (split at sep) that
// problems name for file.
func withoutBadLines(data, file string, sep byte, problems []error) string {
	bad := map[int]bool{}
	for _, p := range problems {
		var fe *FileError
		if errors.As(p, &fe) && fe.File == file {
			bad[fe.Line] = true
		}
	}
	parts := strings.Split(data, string(sep))
	var keep []string
	for i, l := range parts {
		if !bad[i+1] {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, string(sep))
}

// FuzzAliasFile checks that parsing is deterministic, that every entry has
// a pattern and a module without line breaks, that every problem is a
// corrupt-line FileError, that the file without its bad lines gives the
// same entries and no problems, that printing the entries back in depmod's
// format parses to the same entries, and that an Index built from the file
// finds each wildcard-free modalias it lists.
func FuzzAliasFile(f *testing.F) {
	f.Add("# Aliases\nalias pci:v00008086d000010D3sv*sd*bc*sc*i* e1000e\nalias fs-ext4 ext4\n")
	f.Add("alias dmi:*:svnDell Inc.:* dell_laptop\nalias x:y z\nalias x:y w\n")
	f.Add("alias usb:v0421p0492d04[6-9]* usb_storage\nbroken\nalias a b\n")
	f.Fuzz(func(t *testing.T, data string) {
		got, bad := parseAliases(t, data)
		again, bad2 := parseAliases(t, data)
		if !cmp.Equal(got, again) || !cmp.Equal(bad, bad2) {
			t.Fatal("parse is not deterministic")
		}
		var b strings.Builder
		for _, a := range got {
			if a.Pattern == "" || a.Module == "" || strings.ContainsAny(a.Pattern+a.Module, "\n") ||
				strings.ContainsAny(a.Module, " \t") {
				t.Fatalf("bad entry %q", a)
			}
			b.WriteString("alias " + a.Pattern + " " + a.Module + "\n")
		}
		problems := parseAliasFile(data, "modules.alias", func(string, string) {})
		clean, cleanBad := parseAliases(t, withoutBadLines(data, "modules.alias", '\n', problems))
		if d := cmp.Diff(got, clean); d != "" || len(cleanBad) > 0 {
			t.Fatalf("without its bad lines (-with +without), problems %q:\n%s", cleanBad, d)
		}
		round, roundBad := parseAliases(t, b.String())
		if len(roundBad) > 0 {
			t.Fatalf("reparse: %q", roundBad)
		}
		if d := cmp.Diff(got, round); d != "" {
			t.Fatalf("round trip (-first +second):\n%s", d)
		}
		ix, err := Load(Sources{Modules: fstest.MapFS{
			"modules.alias": {Data: []byte(data)},
			"modules.dep":   {Data: nil},
		}})
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		for _, a := range got {
			key, ok := aliasNormalize(a.Pattern)
			if !ok || strings.ContainsAny(key, "*?[]\\\x00") || !strings.Contains(key, ":") {
				continue
			}
			var names []string
			for _, c := range ix.Candidates(a.Pattern) {
				names = append(names, c.Name)
			}
			if !slices.Contains(names, a.Module) {
				t.Errorf("Candidates(%q) = %q, want it to include %q", a.Pattern, names, a.Module)
			}
		}
	})
}

// FuzzIndexFiles feeds modules.dep, modules.builtin and
// modules.builtin.modinfo to Load. Load never fails on them; every
// problem is a corrupt-line FileError; the files without their bad lines
// give an index that knows the same modules in the same way and has no
// problems. Every module is named by its path, its deps are normalised
// names, every module modules.dep lists exists, every builtin is builtin,
// and every wildcard-free builtin alias finds its module.
func FuzzIndexFiles(f *testing.F) {
	f.Add("kernel/a/snd-hda-intel.ko.xz: kernel/b/snd.ko\nkernel/b/snd.ko:\n", "kernel/x/zswap.ko\n", "zbud.alias=zpool-zbud\x00zbud.license=GPL\x00")
	f.Add("x.ko:\n", "9bad\nkernel/rtc-cmos.ko\n", "a.alias=b:[c]*\x00")
	f.Add("a.ko: b.ko\nbad\na.ko:\nb.ko: c.ko\n", "kernel/a.ko\n", "bad\x00a.alias=q\x00")
	f.Fuzz(func(t *testing.T, dep, builtin, modinfo string) {
		load := func(dep, builtin, modinfo string) *Index {
			ix, err := Load(Sources{Modules: fstest.MapFS{
				"modules.alias":           {Data: nil},
				"modules.dep":             {Data: []byte(dep)},
				"modules.builtin":         {Data: []byte(builtin)},
				"modules.builtin.modinfo": {Data: []byte(modinfo)},
			}})
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			return ix
		}
		ix := load(dep, builtin, modinfo)
		problems := ix.Problems()
		problemLines(t, problems)
		clean := load(withoutBadLines(dep, "modules.dep", '\n', problems),
			withoutBadLines(builtin, "modules.builtin", '\n', problems),
			withoutBadLines(modinfo, "modules.builtin.modinfo", 0, problems))
		if p := clean.Problems(); len(p) > 0 {
			t.Fatalf("without the bad lines: problems %v", p)
		}
		if d := cmp.Diff(snapshot(ix), snapshot(clean), cmpopts.EquateEmpty()); d != "" {
			t.Fatalf("with and without the bad lines (-with +without):\n%s", d)
		}
		for _, n := range ix.names {
			m, _ := ix.Module(n)
			if name, err := moduleFile(m.Path); m.Path != "" && (err != nil || ModuleName(name) != m.Name) {
				t.Errorf("Module(%q) has path %q naming %q (%v)", n, m.Path, name, err)
			}
			for _, d := range m.Deps {
				if d == "" || d != ModuleName(d) {
					t.Errorf("Module(%q) has dependency %q", n, d)
				}
			}
		}
		parseDepFile(dep, "modules.dep", func(name, _, _ string, _ int) error {
			if !ix.Exists(name) {
				t.Errorf("Exists(%q) = false for a modules.dep entry", name)
			}
			return nil
		})
		parseBuiltinFile(builtin, "modules.builtin", func(n string) {
			if !ix.Builtin(n) {
				t.Errorf("Builtin(%q) = false for a modules.builtin entry", n)
			}
		})
		parseBuiltinModinfo(modinfo, "m", func(m, a string) {
			key, ok := aliasNormalize(a)
			if !ok || key == "" || strings.ContainsAny(key, "*?[]\\\x00") || strings.IndexByte(m, 0) >= 0 {
				return
			}
			if len(ix.Candidates(a)) == 0 {
				t.Errorf("Candidates(%q) finds nothing; builtin alias of %q", a, m)
			}
		})
	})
}
