package rules

import (
	"errors"
	"io/fs"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// rulesFile is a one-line rules file whose RUN names it.
func rulesFile(tag string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte(`RUN+="` + tag + `"` + "\n")}
}

// TestLoadPrecedence checks conf_files_list_strv's order: names sorted,
// the first directory holding a name wins, empty files and links to
// /dev/null mask, only visible *.rules count.
func TestLoadPrecedence(t *testing.T) {
	cases := []struct {
		name      string
		fsys      fstest.MapFS
		wantFiles []string
		wantRuns  []string
	}{
		{"etc overrides usr", fstest.MapFS{
			"etc/udev/rules.d/50-a.rules":     rulesFile("etc"),
			"usr/lib/udev/rules.d/50-a.rules": rulesFile("usr"),
		}, []string{"/etc/udev/rules.d/50-a.rules"}, []string{"etc"}},
		{"order is by name across directories", fstest.MapFS{
			"usr/lib/udev/rules.d/10-a.rules":       rulesFile("10"),
			"etc/udev/rules.d/90-z.rules":           rulesFile("90"),
			"run/udev/rules.d/50-m.rules":           rulesFile("50"),
			"usr/local/lib/udev/rules.d/20-b.rules": rulesFile("20"),
			"lib/udev/rules.d/30-c.rules":           rulesFile("30"),
		}, []string{"/usr/lib/udev/rules.d/10-a.rules", "/usr/local/lib/udev/rules.d/20-b.rules",
			"/lib/udev/rules.d/30-c.rules", "/run/udev/rules.d/50-m.rules", "/etc/udev/rules.d/90-z.rules"},
			[]string{"10", "20", "30", "50", "90"}},
		{"run overrides usr local", fstest.MapFS{
			"run/udev/rules.d/50-a.rules":           rulesFile("run"),
			"usr/local/lib/udev/rules.d/50-a.rules": rulesFile("local"),
		}, []string{"/run/udev/rules.d/50-a.rules"}, []string{"run"}},
		{"link to /dev/null masks", fstest.MapFS{
			"etc/udev/rules.d/50-a.rules":     {Data: []byte("/dev/null"), Mode: fs.ModeSymlink},
			"usr/lib/udev/rules.d/50-a.rules": rulesFile("usr"),
			"usr/lib/udev/rules.d/60-b.rules": rulesFile("b"),
		}, []string{"/usr/lib/udev/rules.d/60-b.rules"}, []string{"b"}},
		{"empty file masks", fstest.MapFS{
			"etc/udev/rules.d/50-a.rules":     {Data: nil},
			"usr/lib/udev/rules.d/50-a.rules": rulesFile("usr"),
		}, nil, nil},
		{"usr/lib overrides lib", fstest.MapFS{
			"usr/lib/udev/rules.d/50-a.rules": rulesFile("usr"),
			"lib/udev/rules.d/50-a.rules":     rulesFile("lib"),
		}, []string{"/usr/lib/udev/rules.d/50-a.rules"}, []string{"usr"}},
		{"only visible .rules", fstest.MapFS{
			"usr/lib/udev/rules.d/50-a.rules":      rulesFile("a"),
			"usr/lib/udev/rules.d/.50-b.rules":     rulesFile("hidden"),
			"usr/lib/udev/rules.d/50-c.rules.bak":  rulesFile("bak"),
			"usr/lib/udev/rules.d/README":          rulesFile("readme"),
			"usr/lib/udev/rules.d/50-d.rules~":     rulesFile("tilde"),
			"usr/lib/udev/rules.d/50-e.rules.orig": rulesFile("orig"),
		}, []string{"/usr/lib/udev/rules.d/50-a.rules"}, []string{"a"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rs, diags := Load(c.fsys, nil)
			if len(diags) != 0 {
				t.Errorf("diagnostics: %v", diags)
			}
			if d := cmp.Diff(c.wantFiles, rs.Files); d != "" {
				t.Errorf("files (-want +got):\n%s", d)
			}
			var runs []string
			for _, l := range rs.Lines {
				runs = append(runs, l.Tokens[0].Value)
			}
			if d := cmp.Diff(c.wantRuns, runs); d != "" {
				t.Errorf("rules (-want +got):\n%s", d)
			}
		})
	}
}

// TestLoadGotoAcrossFiles: GotoLine indexes Rules.Lines, and a GOTO never
// reaches into the next file.
func TestLoadGotoAcrossFiles(t *testing.T) {
	fsys := fstest.MapFS{
		"usr/lib/udev/rules.d/10-a.rules": {Data: []byte("RUN+=\"a\"\nGOTO=\"end\"\nLABEL=\"end\"\n")},
		"usr/lib/udev/rules.d/20-b.rules": {Data: []byte("GOTO=\"end\", RUN+=\"b\"\nLABEL=\"end\"\n")},
		"usr/lib/udev/rules.d/30-c.rules": {Data: []byte("GOTO=\"end\", RUN+=\"c\"\n")},
		"usr/lib/udev/rules.d/40-d.rules": {Data: []byte("LABEL=\"end\"\n")},
	}
	rs, diags := Load(fsys, nil)
	var got []int
	for _, l := range rs.Lines {
		got = append(got, l.GotoLine)
	}
	if d := cmp.Diff([]int{-1, 2, -1, 4, -1, -1, -1}, got); d != "" {
		t.Errorf("GotoLine (-want +got):\n%s", d)
	}
	want := []string{`/usr/lib/udev/rules.d/30-c.rules:1: GOTO="end" has no matching label, ignoring`}
	var gotDiags []string
	for _, d := range diags {
		gotDiags = append(gotDiags, d.String())
	}
	if d := cmp.Diff(want, gotDiags); d != "" {
		t.Errorf("diagnostics (-want +got):\n%s", d)
	}
}

// TestLoadFilesUnreadable: a file that cannot be read is a warning and
// the others load.
func TestLoadFilesUnreadable(t *testing.T) {
	fsys := fstest.MapFS{
		"x/a.rules":       rulesFile("a"),
		"x/dir.rules/f":   rulesFile("f"),
		"x/dangle.rules":  {Data: []byte("nowhere"), Mode: fs.ModeSymlink},
		"x/missing/other": rulesFile("o"),
	}
	rs, diags := LoadFiles(fsys, []string{"/x/dir.rules", "/x/a.rules", "/x/none.rules"}, nil)
	if d := cmp.Diff([]string{"/x/a.rules"}, rs.Files); d != "" {
		t.Errorf("files (-want +got):\n%s", d)
	}
	if len(diags) != 1 || diags[0].Severity != Warning || diags[0].File != "/x/dir.rules" {
		t.Errorf("diagnostics %v, want one warning for /x/dir.rules", diags)
	}
}

// TestPasswdFiles resolves names from the files and tells a missing name
// apart with ErrUnknownName.
func TestPasswdFiles(t *testing.T) {
	u := parseTestUsers()
	cases := []struct {
		name    string
		group   bool
		want    uint32
		unknown bool
	}{
		{"tss", false, 105, false},
		{"kvm", true, 104, false},
		{"kvm", false, 0, true},
		{"nosuch", true, 0, true},
	}
	for _, c := range cases {
		lookup := u.LookupUser
		if c.group {
			lookup = u.LookupGroup
		}
		got, err := lookup(c.name)
		if c.unknown != errors.Is(err, ErrUnknownName) || got != c.want {
			t.Errorf("lookup(%q, group %v) = %d, %v; want %d, unknown %v", c.name, c.group, got, err, c.want, c.unknown)
		}
	}
}

// countingUsers counts the lookups that reach it.
type countingUsers struct {
	PasswdFiles
	n int
}

func (c *countingUsers) LookupUser(name string) (uint32, error) {
	c.n++
	return c.PasswdFiles.LookupUser(name)
}

func (c *countingUsers) LookupGroup(name string) (uint32, error) {
	c.n++
	return c.PasswdFiles.LookupGroup(name)
}

// TestLoadAsksOncePerName: a load resolves each name once, as udevd
// remembers the names it resolved, an unknown one included.
func TestLoadAsksOncePerName(t *testing.T) {
	fsys := fstest.MapFS{
		"etc/group":  {Data: []byte("disk:x:6:\n")},
		"etc/passwd": {Data: []byte("root:x:0:0::/root:/bin/sh\n")},
		"usr/lib/udev/rules.d/50-a.rules": {Data: []byte(
			"KERNEL==\"sd*\", GROUP=\"disk\"\nKERNEL==\"sr*\", GROUP=\"disk\"\nKERNEL==\"x\", GROUP=\"nosuch\"\n")},
		"usr/lib/udev/rules.d/60-b.rules": {Data: []byte("KERNEL==\"vd*\", GROUP=\"disk\", OWNER=\"nosuch\"\nKERNEL==\"y\", GROUP=\"nosuch\"\n")},
	}
	users := &countingUsers{PasswdFiles: PasswdFiles{FS: fsys}}
	rs, _ := Load(fsys, &Options{Users: users})
	if len(rs.Lines) != 5 {
		t.Fatalf("%d lines, want 5", len(rs.Lines))
	}
	// disk and nosuch as groups, nosuch as a user.
	if users.n != 3 {
		t.Errorf("%d lookups, want 3", users.n)
	}
}
