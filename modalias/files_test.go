package modalias

import (
	"errors"
	"io/fs"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
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

type aliasLine struct{ Pattern, Module string }

func parseAliases(data string) ([]aliasLine, error) {
	var out []aliasLine
	err := parseAliasFile(data, "modules.alias", func(p, m string) { out = append(out, aliasLine{p, m}) })
	return out, err
}

func TestParseAliasFile(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []aliasLine
		wantErr string
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
		{name: "not an alias line", in: "# c\nalias a b\nsoftdep x pre: y\n", wantErr: "modules.alias:3: "},
		{name: "missing module", in: "alias lonely\n", wantErr: "modules.alias:1: "},
		{name: "alias glued to pattern", in: "aliasx y z\n", wantErr: "modules.alias:1: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseAliases(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want prefix %q", err, tt.wantErr)
				}
				if !errors.Is(err, ErrCorrupt) || !errors.Is(err, syscall.EINVAL) {
					t.Errorf("err = %v does not match ErrCorrupt and EINVAL", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestParseBuiltinModinfo(t *testing.T) {
	in := "zbud.alias=zpool-zbud\x00zbud.license=GPL\x008250.alias=char-major-4-*\x00\x00cxl_core.alias=cxl:t6*\x00"
	var got []aliasLine
	err := parseBuiltinModinfo([]byte(in), "m", func(m, a string) { got = append(got, aliasLine{a, m}) })
	if err != nil {
		t.Fatal(err)
	}
	want := []aliasLine{{"zpool-zbud", "zbud"}, {"char-major-4-*", "8250"}, {"cxl:t6*", "cxl_core"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	err = parseBuiltinModinfo([]byte("a.alias=x\x00broken\x00"), "modules.builtin.modinfo", func(string, string) {})
	if err == nil || !strings.HasPrefix(err.Error(), "modules.builtin.modinfo:2: ") {
		t.Errorf("err = %v, want record 2 named", err)
	}
}

func TestLoadErrors(t *testing.T) {
	good := fstest.MapFS{
		"modules.dep":   {Data: []byte("kernel/a.ko:\n")},
		"modules.alias": {Data: []byte("alias x:* a\n")},
	}
	with := func(name, data string) fstest.MapFS {
		m := fstest.MapFS{}
		for k, v := range good {
			m[k] = v
		}
		if data == "" {
			delete(m, name)
		} else {
			m[name] = &fstest.MapFile{Data: []byte(data)}
		}
		return m
	}
	tests := []struct {
		name     string
		modules  fstest.MapFS
		wantMsg  string
		notExist bool
	}{
		{"missing modules.alias", with("modules.alias", ""), "modules.alias: ", true},
		{"missing modules.dep", with("modules.dep", ""), "modules.dep: ", true},
		{"corrupt modules.dep", with("modules.dep", "kernel/a.ko:\nno colon here\n"), "modules.dep:2: ", false},
		{"corrupt modules.alias", with("modules.alias", "alias x:* a\nalias y:*\n"), "modules.alias:2: ", false},
		{"corrupt modinfo", with("modules.builtin.modinfo", "a.alias\x00"), "modules.builtin.modinfo:1: ", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(Sources{Modules: tt.modules})
			if err == nil || !strings.HasPrefix(err.Error(), tt.wantMsg) {
				t.Fatalf("err = %v, want prefix %q", err, tt.wantMsg)
			}
			if errors.Is(err, fs.ErrNotExist) != tt.notExist {
				t.Errorf("errors.Is(%v, fs.ErrNotExist) = %v, want %v", err, !tt.notExist, tt.notExist)
			}
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Errorf("%v is not a *FileError", err)
			}
		})
	}
	if _, err := Load(Sources{Modules: good}); err != nil {
		t.Errorf("Load(good) = %v", err)
	}
}

// FuzzAliasFile checks that parsing is deterministic, that every entry has
// a pattern and a module without line breaks, that printing the entries
// back in depmod's format parses to the same entries, and that an Index
// built from the file finds each wildcard-free modalias it lists.
func FuzzAliasFile(f *testing.F) {
	f.Add("# Aliases\nalias pci:v00008086d000010D3sv*sd*bc*sc*i* e1000e\nalias fs-ext4 ext4\n")
	f.Add("alias dmi:*:svnDell Inc.:* dell_laptop\nalias x:y z\nalias x:y w\n")
	f.Add("alias usb:v0421p0492d04[6-9]* usb_storage\n")
	f.Fuzz(func(t *testing.T, data string) {
		got, err := parseAliases(data)
		again, err2 := parseAliases(data)
		if (err == nil) != (err2 == nil) || !cmp.Equal(got, again) {
			t.Fatal("parse is not deterministic")
		}
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		var b strings.Builder
		for _, a := range got {
			if a.Pattern == "" || a.Module == "" || strings.ContainsAny(a.Pattern+a.Module, "\n") ||
				strings.ContainsAny(a.Module, " \t") {
				t.Fatalf("bad entry %q", a)
			}
			b.WriteString("alias " + a.Pattern + " " + a.Module + "\n")
		}
		round, err := parseAliases(b.String())
		if err != nil {
			t.Fatalf("reparse: %v", err)
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
			if !strings.Contains(" "+strings.Join(names, " ")+" ", " "+a.Module+" ") {
				t.Errorf("Candidates(%q) = %q, want it to include %q", a.Pattern, names, a.Module)
			}
		}
	})
}

// FuzzIndexFiles feeds modules.dep, modules.builtin and
// modules.builtin.modinfo to Load. Errors must be corrupt-line FileErrors;
// otherwise every module modules.dep lists exists, every builtin is
// builtin, and every wildcard-free builtin alias finds its module.
func FuzzIndexFiles(f *testing.F) {
	f.Add("kernel/a/snd-hda-intel.ko.xz: kernel/b/snd.ko\nkernel/b/snd.ko:\n", "kernel/x/zswap.ko\n", "zbud.alias=zpool-zbud\x00zbud.license=GPL\x00")
	f.Add("x.ko:\n", "9bad\nkernel/rtc-cmos.ko\n", "a.alias=b:[c]*\x00")
	f.Fuzz(func(t *testing.T, dep, builtin, modinfo string) {
		src := Sources{Modules: fstest.MapFS{
			"modules.alias":           {Data: nil},
			"modules.dep":             {Data: []byte(dep)},
			"modules.builtin":         {Data: []byte(builtin)},
			"modules.builtin.modinfo": {Data: []byte(modinfo)},
		}}
		ix, err := Load(src)
		if err != nil {
			var fe *FileError
			if !errors.As(err, &fe) || !errors.Is(err, ErrCorrupt) || fe.Line < 1 {
				t.Fatalf("Load: %v is not a corrupt-line FileError", err)
			}
			return
		}
		var names []string
		if err := parseDepFile(strings.NewReader(dep), "modules.dep", func(n string) { names = append(names, n) }); err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if !ix.Exists(n) {
				t.Errorf("Exists(%q) = false for a modules.dep entry", n)
			}
		}
		parseBuiltinFile(strings.NewReader(builtin), "modules.builtin", func(n string) {
			if !ix.Builtin(n) {
				t.Errorf("Builtin(%q) = false for a modules.builtin entry", n)
			}
		})
		parseBuiltinModinfo([]byte(modinfo), "m", func(m, a string) {
			key, ok := aliasNormalize(a)
			if !ok || key == "" || strings.ContainsAny(key, "*?[]\\\x00") || strings.IndexByte(m, 0) >= 0 {
				return
			}
			var got []string
			for _, c := range ix.Candidates(a) {
				got = append(got, c.Name)
			}
			if len(got) == 0 {
				t.Errorf("Candidates(%q) finds nothing; builtin alias of %q", a, m)
			}
		})
	})
}
