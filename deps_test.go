package gudevd_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestImportRules checks the import rule of every package of the module, as
// tailscale's deps_test.go does for its binaries, against the import graph
// go list reports.
//
// Every package must have a doc.go whose package comment holds exactly one
// sentence
//
//	It must not import P.
//	It must not import P and Q.      (or "P or Q")
//	It must not import P, Q or R.    (any number of paths; the last one after
//	                                  "or" or "and", an Oxford comma allowed)
//	It must not import P or Q directly.
//
// where each P is a package path relative to the module root, such as
// uevent or cmd/gudevd/internal/daemon. A path forbids that package and
// every package below it. The sentence may wrap across comment lines. The
// list ends at the first period that ends a word or at a colon, so a reason
// may follow ("It must not import A or B: it knows devices, not modules.").
// The rest of the comment, including sentences such as "It may import
// modalias for ...", is prose the test does not read.
//
// A package breaks its rule when a forbidden package is among its non-test
// dependencies, direct or transitive, or among the imports of its test files
// (internal and external) or their dependencies. With "directly" only the
// package's own non-test imports count: the forbidden packages may still
// arrive through another one ("It must not import modload directly: loads
// go through modules."), and its tests may import them to build fakes. A rule is itself wrong when
// a path names no package of the module (the package was renamed or removed
// and the rule would silently allow everything) or when it forbids the
// package that states it. Each failure names the package, the forbidden
// import and the shortest chain of imports through which it arrives.
func TestImportRules(t *testing.T) {
	g, pkgs := listModule(t)
	rules := map[string]rule{}
	for _, p := range pkgs {
		rel := g.rel(p.ImportPath)
		if p.Error != nil {
			t.Errorf("%s: %s", rel, p.Error.Err)
		}
		for _, e := range p.DepsErrors {
			t.Errorf("%s: dependency: %s", rel, e.Err)
		}
		if !slices.Contains(p.GoFiles, "doc.go") {
			continue // checkImports reports the missing rule
		}
		doc := filepath.Join(p.Dir, "doc.go")
		f, err := parser.ParseFile(token.NewFileSet(), doc, nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			t.Errorf("%s: %v", docFile(rel), err)
			continue
		}
		r, err := parseRule(f.Doc.Text())
		if err != nil {
			t.Errorf("%s: %v", docFile(rel), err)
			r.Forbid = []string{} // reported; not also as missing
		}
		if r.Forbid != nil {
			rules[rel] = r
		}
	}
	// The graph must hold this very file's imports and theirs, or every
	// check below would pass on an empty one.
	if !slices.Contains(g.pkgs[g.module].TestImports, "go/parser") || len(g.pkgs["go/parser"].Imports) == 0 {
		t.Fatalf("go list output lacks the imports of deps_test.go: %+v", g.pkgs[g.module])
	}
	for _, problem := range checkImports(g, rules) {
		t.Error(problem)
	}
}

// listedPackage is the part of `go list -json` output the test reads.
type listedPackage struct {
	ImportPath   string
	Dir          string
	ForTest      string // set on a package recompiled for another's tests
	GoFiles      []string
	Imports      []string
	TestImports  []string
	XTestImports []string
	Module       *struct {
		Path string
		Main bool
	}
	Error      *struct{ Err string }
	DepsErrors []*struct{ Err string }
}

// listModule runs go list over the module's packages and their tests, with
// every dependency, and returns the graph and the module's own packages.
// With -e a package that does not load is listed with its Error instead of
// stopping the listing, so one broken package does not hide the others.
func listModule(t *testing.T) (graph, []listedPackage) {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-deps", "-test",
		"-json=ImportPath,Dir,ForTest,GoFiles,Imports,TestImports,XTestImports,Module,Error,DepsErrors", "./...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	g := graph{pkgs: map[string]pkg{}}
	var own []listedPackage
	for dec := json.NewDecoder(bytes.NewReader(out)); ; {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		// -test adds the test variants ("p [p.test]", "p_test [p.test]")
		// and the generated "p.test" mains; the plain package already
		// carries its test files' imports.
		if p.ForTest != "" || strings.HasSuffix(p.ImportPath, ".test") {
			continue
		}
		g.pkgs[p.ImportPath] = pkg{Imports: p.Imports, TestImports: append(p.TestImports, p.XTestImports...)}
		if p.Module != nil && p.Module.Main {
			g.module = p.Module.Path
			own = append(own, p)
		}
	}
	if len(own) == 0 {
		t.Fatalf("go list listed no package of the main module:\n%s", out)
	}
	return g, own
}

// pkg is one node of the import graph.
type pkg struct {
	Imports     []string // import paths of its non-test files
	TestImports []string // of its _test.go files, internal and external
}

// graph is every package the module's packages and their tests build from,
// by import path. The module's own packages are module and those below it.
type graph struct {
	module string
	pkgs   map[string]pkg
}

// rel returns path relative to the module root ("" for the root itself),
// or path unchanged when it is outside the module.
func (g graph) rel(path string) string {
	if path == g.module {
		return ""
	}
	if r, ok := strings.CutPrefix(path, g.module+"/"); ok {
		return r
	}
	return path
}

// own reports whether path is a package of the module.
func (g graph) own(path string) bool {
	return path == g.module || strings.HasPrefix(path, g.module+"/")
}

// name is how a message names a package: module-relative, the root by the
// module path.
func (g graph) name(path string) string {
	if path == g.module {
		return path
	}
	return g.rel(path)
}

// docFile names the doc.go of the package at rel.
func docFile(rel string) string {
	return path.Join(rel, "doc.go")
}

// below reports whether rel is the module-relative path p or below it.
func below(rel, p string) bool {
	return rel == p || strings.HasPrefix(rel, p+"/")
}

// rule is the import rule of one doc.go.
type rule struct {
	Forbid []string // module-relative paths; nil when the comment has no rule
	Direct bool     // only the package's own imports count
}

// checkImports checks the module's packages in g against their rules, keyed
// by module-relative path. It returns one line per problem, sorted.
func checkImports(g graph, rules map[string]rule) []string {
	var own []string // module-relative
	for path := range g.pkgs {
		if g.own(path) {
			own = append(own, g.rel(path))
		}
	}
	slices.Sort(own)

	var problems []string
	for _, rel := range own {
		r, ok := rules[rel]
		if !ok {
			problems = append(problems, fmt.Sprintf(`%s has no import rule: %s must say "It must not import A, B or C."`,
				g.name(g.abs(rel)), docFile(rel)))
			continue
		}
		var valid []string
		for _, f := range r.Forbid {
			switch {
			case below(rel, f):
				problems = append(problems, fmt.Sprintf("%s: rule forbids %s, which contains the package itself", docFile(rel), f))
			case !slices.ContainsFunc(own, func(o string) bool { return below(o, f) }):
				problems = append(problems, fmt.Sprintf("%s: rule forbids %s, which names no package of the module", docFile(rel), f))
			default:
				valid = append(valid, f)
			}
		}
		forbidden := func(path string) bool {
			return g.own(path) && slices.ContainsFunc(valid, func(f string) bool { return below(g.rel(path), f) })
		}
		path := g.abs(rel)
		for _, chain := range g.reach(path, g.pkgs[path].Imports, forbidden, r.Direct) {
			problems = append(problems, fmt.Sprintf("%s imports %s, which %s forbids: %s",
				g.name(path), g.name(chain[len(chain)-1]), docFile(rel), g.chain(chain)))
		}
		var testImports []string // the package itself (from its external tests) is checked above
		for _, imp := range g.pkgs[path].TestImports {
			if imp != path {
				testImports = append(testImports, imp)
			}
		}
		if r.Direct {
			continue // tests may reach in to build their fakes
		}
		for _, chain := range g.reach(path, testImports, forbidden, r.Direct) {
			problems = append(problems, fmt.Sprintf("tests of %s import %s, which %s forbids: %s (tests) -> %s",
				g.name(path), g.name(chain[len(chain)-1]), docFile(rel), g.name(path), g.chain(chain[1:])))
		}
	}
	slices.Sort(problems)
	return problems
}

// abs is the import path of the module-relative path rel.
func (g graph) abs(rel string) string {
	if rel == "" {
		return g.module
	}
	return g.module + "/" + rel
}

// reach walks the graph breadth first from the imports start of package
// from and returns, for every package it reaches that forbidden matches, the
// shortest chain from, ..., that package. A package missing from the graph
// is a leaf; with direct every package is.
func (g graph) reach(from string, start []string, forbidden func(string) bool, direct bool) [][]string {
	parent := map[string]string{from: ""}
	var queue []string
	for _, imp := range start {
		if _, seen := parent[imp]; !seen {
			parent[imp] = from
			queue = append(queue, imp)
		}
	}
	var chains [][]string
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if forbidden(p) {
			var chain []string
			for q := p; q != ""; q = parent[q] {
				chain = append(chain, q)
			}
			slices.Reverse(chain)
			chains = append(chains, chain)
		}
		if direct {
			continue
		}
		for _, imp := range g.pkgs[p].Imports {
			if _, seen := parent[imp]; !seen {
				parent[imp] = p
				queue = append(queue, imp)
			}
		}
	}
	return chains
}

func (g graph) chain(paths []string) string {
	names := make([]string, len(paths))
	for i, p := range paths {
		names[i] = g.name(p)
	}
	return strings.Join(names, " -> ")
}

const ruleStart = "It must not import "

// parseRule finds the rule sentence in a package comment; its Forbid is nil
// when the comment has none.
func parseRule(doc string) (rule, error) {
	text := strings.Join(strings.Fields(doc), " ")
	switch n := strings.Count(text, ruleStart); {
	case n == 0:
		return rule{}, nil
	case n > 1:
		return rule{}, fmt.Errorf("package comment has %d sentences %q, want one", n, strings.TrimSpace(ruleStart))
	}
	_, list, _ := strings.Cut(text, ruleStart)
	end := strings.Index(list+" ", ". ")
	if colon := strings.Index(list, ":"); colon >= 0 && (end < 0 || colon < end) {
		end = colon // an import path cannot hold a colon
	}
	if end < 0 {
		return rule{}, fmt.Errorf("%q... ends with neither a period nor a colon", ruleStart)
	}
	list = list[:end]
	var direct bool
	if l, ok := strings.CutSuffix(list, " directly"); ok {
		list, direct = l, true
	}
	bad := func(why string) error {
		return fmt.Errorf("%q: %s; want %q, %q or %q", ruleStart+list, why,
			ruleStart+"A.", ruleStart+"A and B.", ruleStart+"A, B or C.")
	}
	// Tokens alternate path, separator, path, ...: separators are "," and,
	// before the last path only, "or" or "and" (after an optional ",").
	var paths, seps []string
	for i, w := range strings.Fields(strings.ReplaceAll(list, ",", " , ")) {
		switch {
		case len(paths) == len(seps) && i > 0 && w == "or", len(paths) == len(seps) && i > 0 && w == "and":
			if seps[len(seps)-1] != "," {
				return rule{}, bad("two separators in a row")
			}
			seps[len(seps)-1] = ", " + w // the Oxford comma
		case len(paths) > len(seps):
			if w != "," && w != "or" && w != "and" {
				return rule{}, bad(fmt.Sprintf("%q follows %q without a separator", w, paths[len(paths)-1]))
			}
			seps = append(seps, w)
		case w == "," || w == "or" || w == "and":
			return rule{}, bad(fmt.Sprintf("%q where a path belongs", w))
		case !validPath(w):
			return rule{}, bad(fmt.Sprintf("%q is not a module-relative package path", w))
		default:
			paths = append(paths, w)
		}
	}
	if len(paths) == 0 || len(seps) >= len(paths) {
		return rule{}, bad("the list ends without a path")
	}
	for i, s := range seps {
		last := i == len(seps)-1
		if last && s == "," {
			return rule{}, bad(`the last path must follow "or" or "and"`)
		}
		if !last && s != "," {
			return rule{}, bad(fmt.Sprintf(`%q before the last path`, strings.TrimPrefix(s, ", ")))
		}
	}
	return rule{Forbid: paths, Direct: direct}, nil
}

// validPath reports whether p looks like a module-relative package path:
// slash-separated elements of letters, digits, '_', '-' and '.', none of
// them "." or "..".
func validPath(p string) bool {
	for _, elem := range strings.Split(p, "/") {
		if elem == "" || elem == "." || elem == ".." {
			return false
		}
		for _, r := range elem {
			if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("_-.", r)) {
				return false
			}
		}
	}
	return true
}

func TestParseRule(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		want    rule
		wantErr bool
	}{
		{name: "one", doc: "Package a does x.\n\nIt must not import b.\n", want: rule{Forbid: []string{"b"}}},
		{name: "two with and", doc: "It must not import b and c/d.", want: rule{Forbid: []string{"b", "c/d"}}},
		{name: "two with or", doc: "It must not import b or c.", want: rule{Forbid: []string{"b", "c"}}},
		{name: "three", doc: "It must not import uevent, modload or cmd/gudevd/internal/daemon.", want: rule{Forbid: []string{"uevent", "modload", "cmd/gudevd/internal/daemon"}}},
		{name: "Oxford comma", doc: "It must not import a, b, and c.", want: rule{Forbid: []string{"a", "b", "c"}}},
		{name: "wrapped across lines", doc: "It may import modalias for the parsed configuration. It must not import\nuevent, workers or rules. More prose.", want: rule{Forbid: []string{"uevent", "workers", "rules"}}},
		{name: "a period inside a path is part of it", doc: "It must not import x/v1.2 or y.", want: rule{Forbid: []string{"x/v1.2", "y"}}},
		{name: "directly", doc: "It must not import modalias or modload directly: through modules.", want: rule{Forbid: []string{"modalias", "modload"}, Direct: true}},
		{name: "directly with a period", doc: "It must not import a directly.", want: rule{Forbid: []string{"a"}, Direct: true}},
		{name: "none", doc: "Package a does x. It may import b.", want: rule{}},
		{name: "two sentences", doc: "It must not import a. It must not import b.", wantErr: true},
		{name: "no period", doc: "It must not import a", wantErr: true},
		{name: "reason after a colon", doc: "It must not import a or b: it knows devices.", want: rule{Forbid: []string{"a", "b"}}},
		{name: "colon after a wrapped list", doc: "It must not import a,\nb or\nc: why. More.", want: rule{Forbid: []string{"a", "b", "c"}}},
		{name: "comma before the last path", doc: "It must not import a, b, c.", wantErr: true},
		{name: "or in the middle", doc: "It must not import a or b, c.", wantErr: true},
		{name: "no separator", doc: "It must not import a b.", wantErr: true},
		{name: "trailing separator", doc: "It must not import a and.", wantErr: true},
		{name: "empty list", doc: "It must not import .", wantErr: true},
		{name: "absolute path", doc: "It must not import /uevent.", wantErr: true},
		{name: "dot-dot path", doc: "It must not import ../x.", wantErr: true},
		{name: "trailing slash", doc: "It must not import uevent/.", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseRule(tt.doc)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseRule error = %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseRule mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCheckImports(t *testing.T) {
	// A synthetic module m with libraries a, a/sub, ab, b and c, a package
	// ext/x outside it and fmt and testing for the standard library.
	graphOf := func(edit func(map[string]pkg)) graph {
		pkgs := map[string]pkg{
			"m":       {},
			"m/a":     {Imports: []string{"fmt"}, TestImports: []string{"testing"}},
			"m/a/sub": {Imports: []string{"fmt"}},
			"m/ab":    {},
			"m/b":     {Imports: []string{"m/a"}},
			"m/c":     {Imports: []string{"fmt"}, TestImports: []string{"testing", "m/c"}},
			"ext/x":   {Imports: []string{"fmt"}},
			"fmt":     {},
			"testing": {Imports: []string{"fmt"}},
		}
		if edit != nil {
			edit(pkgs)
		}
		return graph{module: "m", pkgs: pkgs}
	}
	forbid := func(paths ...string) rule { return rule{Forbid: paths} }
	rulesOf := func(edit func(map[string]rule)) map[string]rule {
		rules := map[string]rule{
			"":      forbid("a", "ab", "b", "c"),
			"a":     forbid("b", "c"),
			"a/sub": forbid("c"),
			"ab":    forbid("c"),
			"b":     forbid("c"),
			"c":     forbid("a", "b"),
		}
		if edit != nil {
			edit(rules)
		}
		return rules
	}
	tests := []struct {
		name  string
		graph graph
		rules map[string]rule
		want  []string
	}{
		{
			name:  "every rule kept",
			graph: graphOf(nil),
			rules: rulesOf(nil),
		},
		{
			name:  "direct import",
			graph: graphOf(func(p map[string]pkg) { p["m/c"] = pkg{Imports: []string{"m/a"}} }),
			rules: rulesOf(nil),
			want:  []string{"c imports a, which c/doc.go forbids: c -> a"},
		},
		{
			name:  "transitive import",
			graph: graphOf(func(p map[string]pkg) { p["m/c"] = pkg{Imports: []string{"fmt", "m/b"}} }),
			rules: rulesOf(nil),
			want: []string{
				"c imports a, which c/doc.go forbids: c -> b -> a",
				"c imports b, which c/doc.go forbids: c -> b",
			},
		},
		{
			name: "through a package outside the module",
			graph: graphOf(func(p map[string]pkg) {
				p["m/c"] = pkg{Imports: []string{"ext/x"}}
				p["ext/x"] = pkg{Imports: []string{"m/a"}}
			}),
			rules: rulesOf(nil),
			want:  []string{"c imports a, which c/doc.go forbids: c -> ext/x -> a"},
		},
		{
			name:  "a path forbids the packages below it",
			graph: graphOf(func(p map[string]pkg) { p["m/c"] = pkg{Imports: []string{"m/a/sub"}} }),
			rules: rulesOf(nil),
			want:  []string{"c imports a/sub, which c/doc.go forbids: c -> a/sub"},
		},
		{
			name:  "a name prefix is not a parent",
			graph: graphOf(func(p map[string]pkg) { p["m/c"] = pkg{Imports: []string{"m/ab"}} }),
			rules: rulesOf(nil),
		},
		{
			name:  "test-only import",
			graph: graphOf(func(p map[string]pkg) { p["m/c"] = pkg{TestImports: []string{"testing", "m/a"}} }),
			rules: rulesOf(nil),
			want:  []string{"tests of c import a, which c/doc.go forbids: c (tests) -> a"},
		},
		{
			name:  "test import that brings a forbidden package with it",
			graph: graphOf(func(p map[string]pkg) { p["m/c"] = pkg{TestImports: []string{"m/ab", "m/b"}} }),
			rules: rulesOf(nil),
			want: []string{
				"tests of c import a, which c/doc.go forbids: c (tests) -> b -> a",
				"tests of c import b, which c/doc.go forbids: c (tests) -> b",
			},
		},
		{
			name:  "the root package",
			graph: graphOf(func(p map[string]pkg) { p["m"] = pkg{TestImports: []string{"m/b"}} }),
			rules: rulesOf(nil),
			want: []string{
				"tests of m import a, which doc.go forbids: m (tests) -> b -> a",
				"tests of m import b, which doc.go forbids: m (tests) -> b",
			},
		},
		{
			name:  "directly: a forbidden package through another is allowed",
			graph: graphOf(func(p map[string]pkg) { p["m/c"] = pkg{Imports: []string{"m/b"}, TestImports: []string{"m/b"}} }),
			rules: rulesOf(func(r map[string]rule) { r["c"] = rule{Forbid: []string{"a"}, Direct: true} }),
		},
		{
			name: "directly: an own import is not, a test's is",
			graph: graphOf(func(p map[string]pkg) {
				p["m/c"] = pkg{Imports: []string{"m/b", "m/a/sub"}, TestImports: []string{"m/a"}}
			}),
			rules: rulesOf(func(r map[string]rule) { r["c"] = rule{Forbid: []string{"a"}, Direct: true} }),
			want: []string{
				"c imports a/sub, which c/doc.go forbids: c -> a/sub",
			},
		},
		{
			name:  "a package without a rule",
			graph: graphOf(nil),
			rules: rulesOf(func(r map[string]rule) { delete(r, "a/sub"); delete(r, "") }),
			want: []string{
				`a/sub has no import rule: a/sub/doc.go must say "It must not import A, B or C."`,
				`m has no import rule: doc.go must say "It must not import A, B or C."`,
			},
		},
		{
			name:  "a rule naming no package",
			graph: graphOf(nil),
			rules: rulesOf(func(r map[string]rule) { r["b"] = forbid("c", "gone", "a/sub/deeper") }),
			want: []string{
				"b/doc.go: rule forbids a/sub/deeper, which names no package of the module",
				"b/doc.go: rule forbids gone, which names no package of the module",
			},
		},
		{
			name:  "a rule forbidding the package itself",
			graph: graphOf(nil),
			rules: rulesOf(func(r map[string]rule) { r["a/sub"] = forbid("a"); r["b"] = forbid("b") }),
			want: []string{
				"a/sub/doc.go: rule forbids a, which contains the package itself",
				"b/doc.go: rule forbids b, which contains the package itself",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, checkImports(tt.graph, tt.rules)); diff != "" {
				t.Errorf("checkImports mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
