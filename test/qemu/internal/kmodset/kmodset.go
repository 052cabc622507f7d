package kmodset

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/gudevd/gudevd/internal/fnmatch"
)

// Set is a parsed module directory (/lib/modules/<release>).
type Set struct {
	deps    map[string][]string // module name -> dependency names, load order last-first as depmod writes them
	paths   map[string]string   // module name -> path relative to the module directory
	aliases []alias
	pre     map[string][]string // module name -> softdep pre: names or aliases, loaded before it
	post    map[string][]string // module name -> softdep post: names or aliases, loaded after it
	builtin map[string]bool
}

type alias struct {
	pattern string
	module  string
}

// Name turns a module path or file name into the name the kernel uses:
// the directory and the .ko(.xz|.zst|.gz) suffix go and '-' becomes '_'.
func Name(p string) string {
	b := path.Base(p)
	if i := strings.Index(b, ".ko"); i >= 0 {
		b = b[:i]
	}
	return strings.ReplaceAll(b, "-", "_")
}

// Load reads the depmod output in fsys (rooted at the module directory).
func Load(fsys fs.FS) (*Set, error) {
	s := &Set{
		deps:    make(map[string][]string),
		paths:   make(map[string]string),
		pre:     make(map[string][]string),
		post:    make(map[string][]string),
		builtin: make(map[string]bool),
	}
	if err := eachLine(fsys, "modules.dep", s.parseDep); err != nil {
		return nil, err
	}
	if err := eachLine(fsys, "modules.alias", s.parseAlias); err != nil {
		return nil, err
	}
	if err := eachLine(fsys, "modules.softdep", s.parseSoftdep); err != nil {
		return nil, err
	}
	if err := eachLine(fsys, "modules.builtin", func(l string) error {
		s.builtin[Name(l)] = true
		return nil
	}); err != nil {
		return nil, err
	}
	return s, nil
}

func eachLine(fsys fs.FS, name string, fn func(string) error) error {
	f, err := fsys.Open(name)
	if err != nil {
		return fmt.Errorf("open %s: %w", name, err)
	}
	defer f.Close()
	return scanLines(f, name, fn)
}

func scanLines(r io.Reader, name string, fn func(string) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if err := fn(l); err != nil {
			return fmt.Errorf("parse %s line %d: %w", name, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	return nil
}

func (s *Set) parseDep(l string) error {
	mod, rest, ok := strings.Cut(l, ":")
	if !ok {
		return fmt.Errorf("missing ':' in %q", l)
	}
	name := Name(mod)
	s.paths[name] = mod
	var deps []string
	for _, d := range strings.Fields(rest) {
		deps = append(deps, Name(d))
	}
	s.deps[name] = deps
	return nil
}

func (s *Set) parseAlias(l string) error {
	f := strings.Fields(l)
	if len(f) != 3 || f[0] != "alias" {
		return fmt.Errorf("want \"alias PATTERN MODULE\", got %q", l)
	}
	s.aliases = append(s.aliases, alias{pattern: f[1], module: strings.ReplaceAll(f[2], "-", "_")})
	return nil
}

// parseSoftdep reads "softdep MODULE pre: A B post: C" (either part
// optional, in any order, as depmod copies them from the modules' softdep=
// modinfo). Module names get '_' for '-', as the kernel names them; the
// softdep names stay as written, since they may be aliases.
func (s *Set) parseSoftdep(l string) error {
	f := strings.Fields(l)
	if len(f) < 2 || f[0] != "softdep" || f[1] == "pre:" || f[1] == "post:" {
		return fmt.Errorf("want \"softdep MODULE [pre: ...] [post: ...]\", got %q", l)
	}
	name := strings.ReplaceAll(f[1], "-", "_")
	var to map[string][]string
	for _, w := range f[2:] {
		switch {
		case w == "pre:":
			to = s.pre
		case w == "post:":
			to = s.post
		case to != nil:
			to[name] = append(to[name], w)
		}
	}
	return nil
}

// Pre returns the softdep pre: names of a module (names or aliases, as
// modules.softdep writes them), which modprobe loads before it.
func (s *Set) Pre(name string) []string { return s.pre[name] }

// Path returns the file of a module relative to the module directory.
func (s *Set) Path(name string) (string, bool) {
	p, ok := s.paths[name]
	return p, ok
}

// Deps returns the modules name needs, in the order they must be loaded.
func (s *Set) Deps(name string) []string {
	d := s.deps[name]
	out := make([]string, 0, len(d))
	// depmod lists the closest dependency first; the deepest must load first.
	for i := len(d) - 1; i >= 0; i-- {
		out = append(out, d[i])
	}
	return out
}

// Builtin reports whether name is compiled into the kernel.
func (s *Set) Builtin(name string) bool { return s.builtin[name] }

// Match returns the modules whose alias patterns match modalias (or that are
// called modalias), sorted. Built-in modules are left out: nothing loads them.
func (s *Set) Match(modalias string) []string {
	seen := map[string]bool{}
	if _, ok := s.paths[strings.ReplaceAll(modalias, "-", "_")]; ok {
		seen[strings.ReplaceAll(modalias, "-", "_")] = true
	}
	for _, a := range s.aliases {
		// kmod matches with fnmatch(3), whose '*' also spans '/': DMI
		// modaliases carry BIOS dates such as bd01/02/2020.
		if fnmatch.Match(a.pattern, modalias) && !s.builtin[a.module] {
			seen[a.module] = true
		}
	}
	out := make([]string, 0, len(seen))
	for m := range seen {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}

// Closure returns every loadable module the modaliases resolve to, plus their
// hard and soft dependencies, sorted by name.
func (s *Set) Closure(modaliases []string) []string {
	seen := map[string]bool{}
	var visit func(name string)
	visit = func(name string) {
		if seen[name] || s.builtin[name] {
			return
		}
		if _, ok := s.paths[name]; !ok {
			return
		}
		seen[name] = true
		for _, d := range s.deps[name] {
			visit(d)
		}
		for _, sd := range slices.Concat(s.pre[name], s.post[name]) {
			for _, m := range s.Match(sd) {
				visit(m)
			}
		}
	}
	for _, ma := range modaliases {
		for _, m := range s.Match(ma) {
			visit(m)
		}
	}
	out := make([]string, 0, len(seen))
	for m := range seen {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}
