package modalias

import (
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// configDirs are the modprobe.d directories read under Sources.Root, most
// important first: a file name found in an earlier directory hides the
// same name in later ones.
var configDirs = []string{
	"etc/modprobe.d",
	"run/modprobe.d",
	"usr/local/lib/modprobe.d",
	"usr/lib/modprobe.d",
	"lib/modprobe.d",
}

// configAlias is one "alias PATTERN MODULE" line.
type configAlias struct{ pattern, module string }

// command is one "install" or "remove" line.
type command struct{ module, cmd string }

// softdepLine is one "softdep" line, from modprobe.d or modules.softdep.
type softdepLine struct {
	module string
	dep    Softdep
}

// configState accumulates modprobe.d lines in kmod's order.
type configState struct {
	aliases   []configAlias
	blacklist []string
	options   []command // module, options
	installs  []command
	removes   []command
	softdeps  []softdepLine
	problems  []error
}

// configFile is one file to parse, in the order kmod parses them.
type configFile struct {
	name string // shown in errors
	fsys fs.FS
	path string
	// depmod is set for modules.softdep, which depmod writes: a read
	// error fails Load as for the other index files.
	depmod bool
}

// listConfigFiles returns modules.softdep and the modprobe.d files the way
// libkmod's conf_files_list orders them: one list sorted by file name,
// where a name seen first (modules.softdep, then the paths in order) hides
// later files of the same name. paths are configDirs, or what modprobe -C
// named. A path that is a file is read whatever its name; in a directory
// kmod 30 reads names ending in ".conf" or ".alias" that do not start with
// '.', and skips subdirectories.
func listConfigFiles(modules, root fs.FS, paths []string) []configFile {
	files := []configFile{{name: "modules.softdep", fsys: modules, path: "modules.softdep", depmod: true}}
	seen := map[string]bool{"modules.softdep": true}
	add := func(p string) {
		if n := path.Base(p); !seen[n] {
			seen[n] = true
			files = append(files, configFile{name: "/" + p, fsys: root, path: p})
		}
	}
	if root != nil {
		for _, dir := range paths {
			dir = path.Clean(strings.TrimPrefix(dir, "/"))
			if st, err := fs.Stat(root, dir); err != nil {
				continue
			} else if !st.IsDir() {
				add(dir)
				continue
			}
			ents, err := fs.ReadDir(root, dir)
			if err != nil {
				continue
			}
			for _, e := range ents {
				n := e.Name()
				if !isConfigName(n) {
					continue
				}
				p := path.Join(dir, n)
				if st, err := fs.Stat(root, p); err != nil || st.IsDir() {
					continue
				}
				add(p)
			}
		}
	}
	slices.SortStableFunc(files, func(a, b configFile) int {
		return strings.Compare(path.Base(a.path), path.Base(b.path))
	})
	return files
}

func isConfigName(n string) bool {
	return n != "" && n[0] != '.' && len(n) >= 6 &&
		(strings.HasSuffix(n, ".conf") || strings.HasSuffix(n, ".alias"))
}

// configLines splits a modprobe.d file the way kmod's freadline_wrapped
// does: a backslash before a newline joins the lines, a backslash before
// any other character is dropped and the character kept. It returns each
// logical line with the number of its last physical line.
func configLines(data []byte, fn func(line []byte, n int)) {
	var buf []byte
	n := 0
	for i := 0; i < len(data); i++ {
		switch c := data[i]; c {
		case '\n':
			n++
			fn(buf, n)
			buf = buf[:0]
		case '\\':
			if i+1 == len(data) {
				buf = append(buf, 0xff) // getc's EOF stored as a char
				continue
			}
			i++
			if data[i] == '\n' {
				n++
				continue
			}
			buf = append(buf, data[i])
		default:
			buf = append(buf, c)
		}
	}
	if len(buf) > 0 {
		fn(buf, n+1)
	}
}

// parseConfig parses one modprobe.d file (or modules.softdep) into st.
// Lines kmod rejects are recorded in st.problems and otherwise ignored,
// as kmod does.
func (st *configState) parseConfig(name string, data []byte) {
	configLines(data, func(line []byte, n int) {
		if i := bytes.IndexByte(line, 0); i >= 0 {
			line = line[:i] // C string
		}
		if err := st.parseLine(string(line)); err != nil {
			st.problems = append(st.problems, &FileError{File: name, Line: n, Err: err})
		}
	})
}

func (st *configState) parseLine(line string) error {
	if line == "" || line[0] == '#' {
		return nil
	}
	s := line
	cmd, ok := strtok(&s)
	if !ok {
		return nil
	}
	syntax := fmt.Errorf("ignoring bad line starting with %q: %w", cmd, ErrCorrupt)
	switch cmd {
	case "alias":
		a, ok1 := strtok(&s)
		m, ok2 := strtok(&s)
		a, ok3 := underscores(a)
		m, ok4 := underscores(m)
		if !ok1 || !ok2 || !ok3 || !ok4 {
			return syntax
		}
		st.aliases = append(st.aliases, configAlias{a, m})
	case "blacklist":
		m, ok1 := strtok(&s)
		m, ok2 := underscores(m)
		if !ok1 || !ok2 {
			return syntax
		}
		st.blacklist = append(st.blacklist, m)
	case "options", "install", "remove", "softdep":
		m, ok1 := strtok(&s)
		m, ok2 := underscores(m)
		if !ok1 || !ok2 || s == "" {
			return syntax
		}
		st.addModuleLine(cmd, m, s)
	case "include", "config":
		return fmt.Errorf("%q is not supported: %w", cmd, ErrCorrupt)
	default:
		return syntax
	}
	return nil
}

func (st *configState) addModuleLine(cmd, module, rest string) {
	switch cmd {
	case "options":
		st.options = append(st.options, command{module, strings.ReplaceAll(rest, "\t", " ")})
	case "install":
		st.installs = append(st.installs, command{module, rest})
	case "remove":
		st.removes = append(st.removes, command{module, rest})
	case "softdep":
		st.softdeps = append(st.softdeps, softdepLine{module, parseSoftdep(rest)})
	}
}

// strtok is strtok_r(s, "\t ") on the remaining line: it skips leading
// blanks, returns the word and consumes the one delimiter after it, so
// that what remains is what strtok_r(NULL, "\0") would return.
func strtok(s *string) (string, bool) {
	t := strings.TrimLeft(*s, "\t ")
	if t == "" {
		*s = ""
		return "", false
	}
	i := strings.IndexAny(t, "\t ")
	if i < 0 {
		*s = ""
		return t, true
	}
	*s = t[i+1:]
	return t[:i], true
}

// parseSoftdep reads "pre: a b post: c": words after "pre:" are loaded
// before the module, words after "post:" after it, words before either
// are ignored.
func parseSoftdep(s string) Softdep {
	var d Softdep
	mode := 0
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return r < 0x80 && isSpace(byte(r)) }) {
		switch {
		case w == "pre:":
			mode = 1
		case w == "post:":
			mode = 2
		case mode == 1:
			d.Pre = append(d.Pre, w)
		case mode == 2:
			d.Post = append(d.Post, w)
		}
	}
	return d
}

// parseCmdline reads module options and modprobe.blacklist= from a kernel
// command line with libkmod's state machine (kmod_config_parse_kcmdline):
// words are "module.param[=value]"; a value may be quoted, and a word
// quoted as a whole ("mod.p=a b", as some boot loaders pass it) is
// re-quoted to mod.p="a b". Anything else is skipped.
func (st *configState) parseCmdline(cmdline string) {
	const (
		stIgnore = iota
		stModname
		stParam
		stValue
		stComplete
	)
	buf := append([]byte(cmdline), 0)
	state := stModname
	quoteStart, modname, param, value := -1, 0, -1, -1
	quoted := false
	for p, more := 0, true; more && p < len(buf); p++ {
		switch buf[p] {
		case '"':
			quoted = !quoted
			if quoted && state == stModname && p == modname {
				quoteStart = p
				modname = p + 1
			} else if state != stValue {
				state = stIgnore
			}
		case 0, ' ', '\n', '\t', '\v', '\f', '\r':
			if buf[p] == 0 {
				more = false
			}
			switch {
			case quoted && state == stValue:
			case quoted:
				state = stIgnore
			case state == stValue || state == stParam:
				buf[p] = 0
				state = stComplete
			default:
				modname = p + 1
				state = stModname
				quoteStart = -1
			}
		case '.':
			if state == stModname {
				buf[p] = 0
				param = p + 1
				state = stParam
			} else if state == stParam {
				state = stIgnore
			}
		case '=':
			if state == stParam {
				value = p + 1
				state = stValue
			} else if state == stModname {
				state = stIgnore
			}
		}
		if state != stComplete {
			continue
		}
		if quoteStart >= 0 && quoteStart < modname {
			copy(buf[quoteStart:], buf[modname:value])
			value--
			modname--
			param--
			buf[value] = '"'
		}
		st.cmdlineResult(cstr(buf, modname), cstr(buf, param), value, buf)
		modname = p + 1
		state = stModname
		quoteStart = -1
	}
}

func (st *configState) cmdlineResult(modname, param string, value int, buf []byte) {
	if modname == "modprobe" && strings.HasPrefix(param, "blacklist=") {
		// Names from the command line are compared as given, without
		// '-' to '_' normalisation, as kmod 30 does.
		st.blacklist = append(st.blacklist, strings.Split(cstr(buf, value), ",")...)
		return
	}
	if m, ok := underscores(modname); ok {
		st.options = append(st.options, command{m, strings.ReplaceAll(param, "\t", " ")})
	}
}

// cstr reads the NUL-terminated string at buf[i:].
func cstr(buf []byte, i int) string {
	if i < 0 || i >= len(buf) {
		return ""
	}
	if j := bytes.IndexByte(buf[i:], 0); j >= 0 {
		return string(buf[i : i+j])
	}
	return string(buf[i:])
}

// merge folds the lines kmod merges, with its precedence: every blacklist
// line.
func (st *configState) merge() mergedConfig {
	c := mergedConfig{blacklist: map[string]bool{}}
	for _, b := range st.blacklist {
		c.blacklist[b] = true
	}
	return c
}

// moduleOptions is libkmod's kmod_module_get_options for a module found as
// name through alias ("" when found by its name): every options line, in
// file order and then the kernel command line's, whose module word is
// exactly the name or the alias, joined by single spaces. Options never
// glob: "options snd* x=1" is for a module or alias literally called
// "snd*".
func (st *configState) moduleOptions(name, alias string) string {
	var b strings.Builder
	for _, o := range st.options {
		if o.cmd == "" || (o.module != name && (alias == "" || o.module != alias)) {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(o.cmd)
	}
	return b.String()
}
