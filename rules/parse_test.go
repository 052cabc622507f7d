package rules

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

var updateWant = flag.Bool("update", false, "rewrite testdata/broken/*.want and testdata/parse/*.golden from the parser (review the diff)")

// parseTestUsers is a passwd and group with the names the test files use.
func parseTestUsers() PasswdFiles {
	return PasswdFiles{FS: fstest.MapFS{
		"etc/passwd": {Data: []byte("root:x:0:0:root:/root:/bin/bash\ntss:x:105:111::/var/lib/tpm:/bin/false\n")},
		"etc/group":  {Data: []byte("root:x:0:\nkvm:x:104:\ntss:x:111:\n")},
	}}
}

// TestBrokenFiles parses each testdata/broken/NAME.rules and compares its
// diagnostics with NAME.want, one FILE:LINE: message a line.
func TestBrokenFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/broken/*.rules")
	if err != nil || len(files) == 0 {
		t.Fatalf("no broken files: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".rules")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, diags := ParseFile(filepath.Base(f), data, &Options{Users: parseTestUsers()})
			var got strings.Builder
			for _, d := range diags {
				got.WriteString(d.String() + "\n")
			}
			wantFile := strings.TrimSuffix(f, ".rules") + ".want"
			if *updateWant {
				if err := os.WriteFile(wantFile, []byte(got.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(wantFile)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(string(want), got.String()); d != "" {
				t.Errorf("diagnostics (-want +got):\n%s", d)
			}
		})
	}
}

// TestParseGolden pins how Debian's rules in testdata/parse parse: each
// kept line as NUMBER: its printed tokens, in NAME.golden.
func TestParseGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/parse/*.rules")
	if err != nil || len(files) == 0 {
		t.Fatalf("no rules files: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			lines, diags := ParseFile(filepath.Base(f), data, &Options{Users: PasswdFiles{FS: os.DirFS("testdata/parse")}})
			if len(diags) != 0 {
				t.Errorf("diagnostics: %v", diags)
			}
			var got strings.Builder
			for _, l := range lines {
				fmt.Fprintf(&got, "%d: %s\n", l.Number, l)
			}
			golden := strings.TrimSuffix(f, ".rules") + ".golden"
			if *updateWant {
				if err := os.WriteFile(golden, []byte(got.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(string(want), got.String()); d != "" {
				t.Errorf("parsed lines (-want +got):\n%s", d)
			}
		})
	}
}
