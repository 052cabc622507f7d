package modalias

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// The expected values follow kmod 30's libkmod-config.c; the conformance
// test checks the same lines against modprobe itself.
func TestParseConfig(t *testing.T) {
	in := strings.Join([]string{
		"# comment",
		"",
		"alias foo-bar baz-qux extra words",
		"alias usb:v*p*d[0-9]-x* drv",
		"blacklist a-b",
		"options m-x  a=1\tb=2",
		"options m_x c=3",
		"install m /bin/true  arg",
		"install m /bin/false",
		"remove m /bin/rm",
		"softdep m pre: a b post: c",
		"softdep m pre: z",
		"softdep x ignored pre:\tb   post:",
		"alias a\\",
		"b c",
		"options esc \\\\x\\y",
		"alias onlyone",
		"blacklist",
		"options lonely",
		"include other.conf",
		"  # indented comment is a bad line in kmod",
		"alias bad]pattern m",
		"nonsense",
	}, "\n")
	var st configState
	st.parseConfig("t.conf", []byte(in))
	want := mergedConfig{blacklist: map[string]bool{"a_b": true}}
	if d := cmp.Diff(want, st.merge(), cmp.AllowUnexported(mergedConfig{}), cmpopts.EquateEmpty()); d != "" {
		t.Errorf("merged (-want +got):\n%s", d)
	}
	for _, o := range []struct{ name, alias, want string }{
		{"m_x", "", " a=1 b=2 c=3"},
		{"esc", "", "\\xy"},
		{"other", "m_x", " a=1 b=2 c=3"},
		{"esc", "m_x", " a=1 b=2 c=3 \\xy"},
		{"m-x", "", ""},
	} {
		if got := st.moduleOptions(o.name, o.alias); got != o.want {
			t.Errorf("moduleOptions(%q, %q) = %q, want %q", o.name, o.alias, got, o.want)
		}
	}
	// Every softdep, install and remove line is kept in order: the
	// first one whose pattern matches wins at lookup time.
	wantSoftdeps := []softdepLine{
		{"m", Softdep{Pre: []string{"a", "b"}, Post: []string{"c"}}},
		{"m", Softdep{Pre: []string{"z"}}},
		{"x", Softdep{Pre: []string{"b"}}},
	}
	if d := cmp.Diff(wantSoftdeps, st.softdeps, cmp.AllowUnexported(softdepLine{})); d != "" {
		t.Errorf("softdeps (-want +got):\n%s", d)
	}
	wantCommands := [][]command{{{"m", "/bin/true  arg"}, {"m", "/bin/false"}}, {{"m", "/bin/rm"}}}
	if d := cmp.Diff(wantCommands, [][]command{st.installs, st.removes}, cmp.AllowUnexported(command{})); d != "" {
		t.Errorf("install and remove (-want +got):\n%s", d)
	}
	wantAliases := []configAlias{{"foo_bar", "baz_qux"}, {"usb:v*p*d[0-9]_x*", "drv"}, {"ab", "c"}}
	if d := cmp.Diff(wantAliases, st.aliases, cmp.AllowUnexported(configAlias{})); d != "" {
		t.Errorf("aliases (-want +got):\n%s", d)
	}
	var lines []string
	for _, p := range st.problems {
		var fe *FileError
		if !errors.As(p, &fe) || !errors.Is(p, ErrCorrupt) {
			t.Errorf("problem %v is not a corrupt FileError", p)
			continue
		}
		lines = append(lines, fmt.Sprintf("%s:%d", fe.File, fe.Line))
	}
	wantLines := []string{"t.conf:17", "t.conf:18", "t.conf:19", "t.conf:20", "t.conf:21", "t.conf:22", "t.conf:23"}
	if d := cmp.Diff(wantLines, lines); d != "" {
		t.Errorf("problems (-want +got):\n%s", d)
	}
}

// kmod reads one list of file names sorted across all directories; a
// name in an earlier directory hides it in later ones, and modules.softdep
// takes part under its own name.
func TestConfigFileOrder(t *testing.T) {
	f := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	root := fstest.MapFS{
		"etc/modprobe.d/b.conf":            f("options m etc-b\n"),
		"lib/modprobe.d/b.conf":            f("options m lib-b-hidden\n"),
		"lib/modprobe.d/a.conf":            f("options m lib-a\nsoftdep m pre: from-lib-a\n"),
		"run/modprobe.d/c.alias":           f("options m run-c\n"),
		"usr/lib/modprobe.d/z.conf":        f("options m usr-lib-z\n"),
		"usr/local/lib/modprobe.d/.h.conf": f("options m hidden-dotfile\n"),
		"etc/modprobe.d/notes.txt":         f("options m not-conf\n"),
		"etc/modprobe.d/dir.conf/x":        f("options m in-a-directory\n"),
	}
	mods := fstest.MapFS{
		"modules.dep":     f(""),
		"modules.alias":   f(""),
		"modules.softdep": f("softdep m pre: from-modules-softdep\noptions m softdep-file\n"),
	}
	ix, err := Load(Sources{Modules: mods, Root: root, Cmdline: "m.cmd=1"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ix.Options("m"), "lib-a etc-b run-c softdep-file usr-lib-z cmd=1"; got != want {
		t.Errorf("Options(m) = %q, want %q", got, want)
	}
	sd, _ := ix.Softdep("m")
	if d := cmp.Diff(Softdep{Pre: []string{"from-lib-a"}}, sd); d != "" {
		t.Errorf("Softdep(m) (-want +got):\n%s", d)
	}
}

// TestConfigPaths: modprobe -C replaces the default directories with its
// paths: a directory is read as they are, a file whatever its name, and
// every file still takes its place in one list sorted by name (the default
// directories are not read at all).
func TestConfigPaths(t *testing.T) {
	f := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	root := fstest.MapFS{
		"etc/modprobe.d/a.conf": f("options m default-dir\n"),
		"tmp/conf/b.conf":       f("options m dir-b\n"),
		"tmp/conf/skip.txt":     f("options m not-conf\n"),
		"tmp/conf/.d.conf":      f("options m dotfile\n"),
		"tmp/c-single.txt":      f("options m single-file\n"),
		"tmp/other/b.conf":      f("options m hidden-by-first-b\n"),
	}
	mods := fstest.MapFS{"modules.dep": f(""), "modules.alias": f("")}
	tests := []struct {
		name   string
		config []string
		want   string
	}{
		{"default directories", nil, "default-dir"},
		{"a directory and a file", []string{"/tmp/conf", "tmp/c-single.txt"}, "dir-b single-file"},
		{"first of a name wins", []string{"tmp/conf", "tmp/other"}, "dir-b"},
		{"missing paths are skipped", []string{"tmp/nothing", "tmp/c-single.txt"}, "single-file"},
		{"nothing", []string{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix, err := Load(Sources{Modules: mods, Root: root, Config: tt.config})
			if err != nil {
				t.Fatal(err)
			}
			if got := ix.Options("m"); got != tt.want {
				t.Errorf("Options(m) = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseCmdline(t *testing.T) {
	tests := []struct {
		name      string
		cmdline   string
		options   map[string]string
		blacklist []string
	}{
		{"option", "quiet foo.bar=1 baz", map[string]string{"foo": "bar=1"}, nil},
		{"flag without value", "foo.bar\n", map[string]string{"foo": "bar"}, nil},
		{"module name normalised", "foo-bar.x=1", map[string]string{"foo_bar": "x=1"}, nil},
		{"two dots ignored", "a.b.c=1", nil, nil},
		{"equals before dot ignored", "x=y.z=1", nil, nil},
		{"quoted value", `foo.bar="x y" next`, map[string]string{"foo": `bar="x y"`}, nil},
		{"whole word quoted is re-quoted", `"parport.dyndbg=file a.c +p"`, map[string]string{"parport": `dyndbg="file a.c +p"`}, nil},
		{"blacklist kept verbatim", "modprobe.blacklist=a,b-c", nil, []string{"a", "b-c"}},
		{"unterminated quote lost", `foo.bar="x y`, nil, nil},
		{"repeated options joined", "m.a=1 m.b=2", map[string]string{"m": "a=1 b=2"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var st configState
			st.parseCmdline(tt.cmdline)
			got := map[string]string{}
			for _, o := range st.options {
				got[o.module] = st.moduleOptions(o.module, "")
			}
			if d := cmp.Diff(tt.options, got, cmpopts.EquateEmpty()); d != "" {
				t.Errorf("options (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tt.blacklist, st.blacklist, cmpopts.EquateEmpty()); d != "" {
				t.Errorf("blacklist (-want +got):\n%s", d)
			}
		})
	}
}

// printConfig writes parsed lines back in modprobe.d syntax, escaping
// backslashes the way kmod's line reader unescapes them.
func printConfig(st *configState) string {
	esc := strings.NewReplacer("\\", "\\\\").Replace
	var b strings.Builder
	for _, a := range st.aliases {
		fmt.Fprintf(&b, "alias %s %s\n", esc(a.pattern), esc(a.module))
	}
	for _, m := range st.blacklist {
		fmt.Fprintf(&b, "blacklist %s\n", esc(m))
	}
	for _, o := range st.options {
		fmt.Fprintf(&b, "options %s %s\n", esc(o.module), esc(o.cmd))
	}
	for _, c := range st.installs {
		fmt.Fprintf(&b, "install %s %s\n", esc(c.module), esc(c.cmd))
	}
	for _, c := range st.removes {
		fmt.Fprintf(&b, "remove %s %s\n", esc(c.module), esc(c.cmd))
	}
	for _, s := range st.softdeps {
		fmt.Fprintf(&b, "softdep %s pre: %s post: %s\n", esc(s.module), esc(strings.Join(s.dep.Pre, " ")), esc(strings.Join(s.dep.Post, " ")))
	}
	return b.String()
}

// FuzzModprobeConf checks that parsing is deterministic, that every
// parsed word is non-empty and normalised, and that printing the parsed
// lines and parsing them again gives the same lines.
func FuzzModprobeConf(f *testing.F) {
	f.Add([]byte("alias foo-bar baz\nblacklist x\noptions m a=1\ninstall m /bin/true\nremove m /bin/rm\nsoftdep m pre: a post: b\n"))
	f.Add([]byte("alias a\\\nb c\noptions m \\\\x\t y\n# c\nbogus\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var a, b configState
		a.parseConfig("f", data)
		b.parseConfig("f", data)
		if !cmp.Equal(printConfig(&a), printConfig(&b)) || len(a.problems) != len(b.problems) {
			t.Fatal("parse is not deterministic")
		}
		for _, al := range a.aliases {
			if al.pattern == "" || al.module == "" || strings.ContainsAny(al.pattern+al.module, " \t\n") {
				t.Fatalf("bad alias %q", al)
			}
			if n, ok := underscores(al.pattern); !ok || n != al.pattern {
				t.Fatalf("alias pattern %q not normalised", al.pattern)
			}
		}
		for _, o := range a.options {
			if o.module == "" || o.cmd == "" || strings.Contains(o.cmd, "\t") {
				t.Fatalf("bad options %q", o)
			}
		}
		text := printConfig(&a)
		var c configState
		c.parseConfig("f", []byte(text))
		if d := cmp.Diff(text, printConfig(&c)); d != "" {
			t.Fatalf("round trip (-first +second):\n%s", d)
		}
	})
}

// FuzzCmdline checks that command line parsing is deterministic and only
// yields options for normalised module names.
func FuzzCmdline(f *testing.F) {
	f.Add("quiet foo.bar=1 modprobe.blacklist=a,b \"parport.dyndbg=file a.c +p\"")
	f.Add(`x.y="a b" "z.w=1`)
	f.Fuzz(func(t *testing.T, cmdline string) {
		var a, b configState
		a.parseCmdline(cmdline)
		b.parseCmdline(cmdline)
		if !cmp.Equal(printConfig(&a), printConfig(&b)) {
			t.Fatal("parse is not deterministic")
		}
		for _, o := range a.options {
			if n, ok := underscores(o.module); !ok || n != o.module {
				t.Fatalf("bad option %q", o)
			}
			if len(o.cmd) > len(cmdline)+1 {
				t.Fatalf("option %q longer than the command line", o.cmd)
			}
		}
	})
}

// Softdep and install lines match module names as fnmatch patterns, and
// the first matching line in kmod's file order wins, an exact one after
// it included (kmod_module_get_softdeps, kmod_module_get_install_commands).
func TestSoftdepAndInstallPatterns(t *testing.T) {
	conf := "softdep snd* pre: a\nsoftdep snd_hda pre: b\n" +
		"install net-* /bin/net\ninstall net_x /bin/x\ninstall [!n]* /bin/other\n"
	ix, err := Load(Sources{
		Modules: fstest.MapFS{"modules.dep": {}, "modules.alias": {}},
		Root:    fstest.MapFS{"etc/modprobe.d/t.conf": {Data: []byte(conf)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	type answer struct {
		Softdep    Softdep
		HasSoftdep bool
		Install    string
		HasInstall bool
	}
	tests := []struct {
		module string
		want   answer
	}{
		{"snd-hda", answer{Softdep: Softdep{Pre: []string{"a"}}, HasSoftdep: true, Install: "/bin/other", HasInstall: true}},
		{"net-x", answer{Install: "/bin/net", HasInstall: true}},
		{"n", answer{}},
	}
	for _, tt := range tests {
		t.Run(tt.module, func(t *testing.T) {
			var got answer
			got.Softdep, got.HasSoftdep = ix.Softdep(tt.module)
			got.Install, got.HasInstall = ix.InstallCommand(tt.module)
			if d := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}
