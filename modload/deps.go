package modload

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
)

// Deps is a parsed modules.dep: for every module depmod found, its file and
// the modules it needs.
type Deps struct {
	mods map[string]depEntry
	refs map[string]string // modules named only as dependencies: their path
}

type depEntry struct {
	path string   // as written in modules.dep, relative to the modules dir unless absolute
	deps []string // module names in modules.dep order
	line int
}

// SyntaxError reports a modules.dep line that cannot be parsed.
type SyntaxError struct {
	File string
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("parse %s:%d: %s", e.File, e.Line, e.Msg)
}

// maxDepLine bounds one modules.dep line. depmod writes a module's whole
// dependency closure on its line; the longest in a distribution kernel is a
// few KiB, so 1 MiB only rejects garbage.
const maxDepLine = 1 << 20

// LoadDeps reads modules.dep from fsys, which is rooted at the modules
// directory (/lib/modules/VERSION).
func LoadDeps(fsys fs.FS) (*Deps, error) {
	f, err := fsys.Open("modules.dep")
	if err != nil {
		return nil, fmt.Errorf("open modules.dep: %w", err)
	}
	defer f.Close()
	return ParseDeps(f, "modules.dep")
}

// ParseDeps parses modules.dep text read from r; file names it in errors.
//
// Each line is "path: dep-path dep-path ...", as depmod writes it: the dep
// list is the module's whole dependency closure, sorted so that a module
// comes before the modules it needs. Paths are relative to the modules
// directory unless absolute. A module's name is its file name up to the first
// '.', with '-' turned into '_', as the kernel names it.
//
// A malformed line does not stop the parse: the returned Deps holds every
// well-formed line, so modules unaffected by the damage still load, and the
// error joins one *SyntaxError per bad line. Only a read error returns nil.
func ParseDeps(r io.Reader, file string) (*Deps, error) {
	d := &Deps{mods: make(map[string]depEntry)}
	var errs []error
	br := bufio.NewReader(r)
	for n := 1; ; n++ {
		line, err := readLine(br)
		if err == io.EOF {
			break
		}
		if err != nil {
			if errors.Is(err, errLineTooLong) {
				errs = append(errs, &SyntaxError{File: file, Line: n, Msg: err.Error()})
				continue
			}
			return nil, fmt.Errorf("read %s: %w", file, err)
		}
		if msg := d.addLine(line, n); msg != "" {
			errs = append(errs, &SyntaxError{File: file, Line: n, Msg: msg})
		}
	}
	return d, errors.Join(errs...)
}

var errLineTooLong = errors.New("line longer than 1 MiB")

// readLine returns the next line without its newline, skipping the rest of
// an over-long line.
func readLine(br *bufio.Reader) (string, error) {
	var b strings.Builder
	tooLong := false
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if b.Len()+len(chunk) > maxDepLine {
				tooLong = true
				b.Reset()
			} else {
				b.Write(chunk)
			}
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF && (b.Len() > 0 || tooLong):
			// Last line without a newline.
		case err != nil:
			return "", err
		}
		if tooLong {
			return "", errLineTooLong
		}
		return strings.TrimSuffix(b.String(), "\n"), nil
	}
}

// addLine records one line and returns why it is malformed, or "".
func (d *Deps) addLine(line string, n int) string {
	line = strings.TrimSpace(line)
	if line == "" || line[0] == '#' {
		return ""
	}
	modPath, rest, ok := strings.Cut(line, ":")
	if !ok {
		return "missing ':' after module path"
	}
	modPath = strings.TrimSpace(modPath)
	name, msg := nameFromPath(modPath)
	if msg != "" {
		return msg
	}
	if prev, dup := d.mods[name]; dup {
		return fmt.Sprintf("module %s listed again (first on line %d)", name, prev.line)
	}
	e := depEntry{path: modPath, line: n}
	// A module listing itself keeps that edge: the planner reports it as a
	// one-module cycle.
	seen := make(map[string]bool)
	for _, p := range strings.Fields(rest) {
		dep, msg := nameFromPath(p)
		if msg != "" {
			return msg
		}
		if seen[dep] {
			continue
		}
		seen[dep] = true
		e.deps = append(e.deps, dep)
		if _, known := d.mods[dep]; !known {
			d.pending(dep, p)
		}
	}
	d.mods[name] = e
	return ""
}

// pending remembers the path of a module seen only as a dependency so far;
// its own line, when it comes, replaces the entry.
func (d *Deps) pending(name, p string) {
	if d.refs == nil {
		d.refs = make(map[string]string)
	}
	if _, ok := d.refs[name]; !ok {
		d.refs[name] = p
	}
}

// nameFromPath returns the kernel's name for the module file p.
func nameFromPath(p string) (string, string) {
	if p == "" {
		return "", "empty module path"
	}
	base := path.Base(p)
	name, ext, _ := strings.Cut(base, ".")
	if name == "" {
		return "", fmt.Sprintf("module path %q has no name", p)
	}
	switch ext {
	case "ko", "ko.xz", "ko.zst", "ko.gz":
	default:
		return "", fmt.Sprintf("module path %q does not end in .ko, .ko.xz, .ko.zst or .ko.gz", p)
	}
	return normalize(name), ""
}

// normalize turns a module name into the kernel's spelling: '-' and '_' are
// the same character to the module loader, which stores '_'.
func normalize(name string) string {
	return strings.ReplaceAll(name, "-", "_")
}

// Lookup returns module name's path as written in modules.dep and the
// modules it needs, in modules.dep order. ok is false for a module that
// modules.dep does not know.
func (d *Deps) Lookup(name string) (modPath string, deps []string, ok bool) {
	name = normalize(name)
	if e, ok := d.mods[name]; ok {
		return e.path, e.deps, true
	}
	if p, ok := d.refs[name]; ok {
		// Named only as another module's dependency: depmod always
		// writes a line per module, so the file lost it, but the
		// path is still known.
		return p, nil, true
	}
	return "", nil, false
}

// Len returns the number of modules with their own line.
func (d *Deps) Len() int { return len(d.mods) }

// Builtin is the set of modules built into the kernel, from modules.builtin.
type Builtin map[string]bool

// Has reports whether module name is built in.
func (b Builtin) Has(name string) bool { return b[normalize(name)] }

// LoadBuiltin reads modules.builtin from fsys, rooted at the modules
// directory. A kernel without built-in modules may lack the file: that is an
// empty set, not an error.
func LoadBuiltin(fsys fs.FS) (Builtin, error) {
	f, err := fsys.Open("modules.builtin")
	if errors.Is(err, fs.ErrNotExist) {
		return Builtin{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open modules.builtin: %w", err)
	}
	defer f.Close()
	return ParseBuiltin(f, "modules.builtin")
}

// ParseBuiltin parses modules.builtin, one module path per line, read from
// r; file names it in errors. Like ParseDeps it keeps the good lines and
// joins a *SyntaxError per bad one.
func ParseBuiltin(r io.Reader, file string) (Builtin, error) {
	b := Builtin{}
	var errs []error
	br := bufio.NewReader(r)
	for n := 1; ; n++ {
		line, err := readLine(br)
		if err == io.EOF {
			break
		}
		if err != nil && !errors.Is(err, errLineTooLong) {
			return nil, fmt.Errorf("read %s: %w", file, err)
		}
		msg := ""
		if err != nil {
			msg = err.Error()
		} else if line = strings.TrimSpace(line); line == "" || line[0] == '#' {
			continue
		} else {
			var name string
			if name, msg = nameFromPath(line); msg == "" {
				b[name] = true
			}
		}
		if msg != "" {
			errs = append(errs, &SyntaxError{File: file, Line: n, Msg: msg})
		}
	}
	return b, errors.Join(errs...)
}
