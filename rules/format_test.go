package rules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// ignoreNumbers compares lines without their file and line number, which
// printing changes.
var ignoreNumbers = cmpopts.IgnoreFields(Line{}, "File", "Number")

// roundTrip parses data, prints the lines and parses them again. It
// reports false when the printed text has a line udevd would not read
// whole (escaping can lengthen a value past LineSize).
func roundTrip(t *testing.T, data []byte) (first, second []Line, ok bool) {
	t.Helper()
	opt := &Options{Users: parseTestUsers()}
	first, _ = ParseFile("in.rules", data, opt)
	text := Format(first)
	for _, l := range strings.Split(text, "\n") {
		if len(l) >= LineSize-1 {
			return nil, nil, false
		}
	}
	second, diags := ParseFile("out.rules", []byte(text), opt)
	for _, d := range diags {
		if d.Severity == Error {
			t.Errorf("printed text has an error: %s\n%s", d, text)
		}
	}
	return first, second, true
}

func seedFiles(t testing.TB) []string {
	var files []string
	for _, g := range []string{"testdata/parse/*.rules", "testdata/broken/*.rules"} {
		m, err := filepath.Glob(g)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Fatal("no seed files")
	}
	return files
}

// TestRoundTrip prints Debian's rules and the broken files back and parses
// them again: the same tokens, labels and GOTOs.
func TestRoundTrip(t *testing.T) {
	for _, f := range seedFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			first, second, ok := roundTrip(t, data)
			if !ok {
				t.Skip("printed line too long")
			}
			if d := cmp.Diff(first, second, ignoreNumbers, cmpopts.EquateEmpty()); d != "" {
				t.Errorf("parse(print(parse(x))) (-first +second):\n%s", d)
			}
		})
	}
}

// TestPrintedText pins the printed form of a few lines.
func TestPrintedText(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"sorted, corrected", `RUN+="x", NAME+="n", KERNEL=="sd*"`, `KERNEL=="sd*", NAME="n", RUN+="x"`},
		{"quote in value", `RUN+="a\"b"`, `RUN+="a\"b"`},
		{"newline and trailing backslash need e-strings", `RUN+=e"a\nb", RUN+=e"c\\"`, `RUN+=e"a\nb", RUN+=e"c\\"`},
		{"builtins and options", `IMPORT{program}="path_id", OPTIONS+="nowatch", RUN{builtin}+="kmod load"`, `IMPORT{builtin}=="path_id", OPTIONS="nowatch", RUN{builtin}+="kmod load"`},
		{"label and goto", "GOTO=\"a\", LABEL=\"b\"\nLABEL=\"a\"", "LABEL=\"b\", GOTO=\"a\"\nLABEL=\"a\""},
		{"empty label", `LABEL=""`, `LABEL=""`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lines, _ := ParseFile("t.rules", []byte(c.in), nil)
			if d := cmp.Diff(c.want+"\n", Format(lines)); d != "" {
				t.Errorf("printed (-want +got):\n%s", d)
			}
		})
	}
}

// FuzzParseFile: no panic, and printing what was parsed parses back to
// the same lines.
func FuzzParseFile(f *testing.F) {
	for _, p := range seedFiles(f) {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		first, second, ok := roundTrip(t, data)
		if !ok {
			return
		}
		if d := cmp.Diff(first, second, ignoreNumbers, cmpopts.EquateEmpty()); d != "" {
			t.Errorf("parse(print(parse(x))) (-first +second):\n%s\ninput %q", d, data)
		}
	})
}

// TestTypeNames: every type up to typeMax has its udevd name, so a new
// type cannot be added without one.
func TestTypeNames(t *testing.T) {
	seen := map[string]Type{}
	for ty := TypeInvalid; ty < typeMax; ty++ {
		s := ty.String()
		if strings.HasPrefix(s, "Type(") {
			t.Errorf("type %d has no name", ty)
		}
		if prev, ok := seen[s]; ok {
			t.Errorf("types %d and %d are both %s", prev, ty, s)
		}
		seen[s] = ty
	}
	if !strings.HasPrefix(typeMax.String(), "Type(") {
		t.Errorf("typeMax is named %s", typeMax)
	}
}
