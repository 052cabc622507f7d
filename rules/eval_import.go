package rules

import (
	"errors"
	"io/fs"
	"strings"

	"github.com/gudevd/gudevd/internal/fnmatch"
	"github.com/gudevd/gudevd/rules/builtin"
)

// applyImport handles the IMPORT keys. Each is a match: == holds when
// the import succeeded (!= when it failed); a failed import of a line
// without != stops the line.
func (e *event) applyImport(t Token, m matcher) (bool, error) {
	switch t.Type {
	case TypeMImportFile:
		return e.importFile(t, m)
	case TypeMImportProgram:
		return e.importProgram(t, m), nil
	case TypeMImportBuiltin:
		return e.importBuiltin(t, m), nil
	case TypeMImportDB:
		return e.importDB(t, m), nil
	case TypeMImportCmdline:
		return e.importCmdline(t, m)
	case TypeMImportParent:
		return e.importParent(t, m)
	}
	return false, nil
}

// parsePropertyLine is get_property_from_string: "KEY=VALUE" with blanks
// around both trimmed and one level of matching quotes removed from the
// value; skip for blank and '#' lines; ok false for malformed ones
// (no '=', an empty key or value, an unclosed quote).
func parsePropertyLine(line string) (key, value string, skip, ok bool) {
	s := strings.TrimLeft(line, whitespace)
	if s == "" || s[0] == '#' {
		return "", "", true, true
	}
	k, v, found := strings.Cut(s, "=")
	if !found {
		return "", "", false, false
	}
	k, v = strings.Trim(k, whitespace), strings.Trim(v, whitespace)
	if k == "" || v == "" {
		return "", "", false, false
	}
	if v[0] == '"' || v[0] == '\'' {
		if len(v) == 1 || v[len(v)-1] != v[0] {
			return "", "", false, false
		}
		v = v[1 : len(v)-1]
	}
	return k, v, false, true
}

func (e *event) addPropertyLines(lines []string) {
	for _, l := range lines {
		if k, v, skip, ok := parsePropertyLine(l); ok && !skip {
			e.setProp(k, v)
		}
	}
}

// importFile is IMPORT{file}: a missing file fails the import, another
// error opening it ends the event.
func (e *event) importFile(t Token, m matcher) (bool, error) {
	p, truncated := e.format(t.Value, PathSize, false)
	if truncated {
		return false, nil
	}
	data, err := e.host.ReadFile(e.ctx, p)
	if errors.Is(err, fs.ErrNotExist) {
		return m.op == OpNomatch, nil
	}
	if err != nil {
		return false, e.abortf(err, "Failed to open '%s'", p)
	}
	// read_line ends a line at "\n", "\r\n", "\r" or NUL.
	lines := strings.FieldsFunc(string(data), func(r rune) bool {
		return r == '\n' || r == '\r' || r == 0
	})
	e.addPropertyLines(lines)
	return m.op == OpMatch, nil
}

// importProgram is IMPORT{program}: the program's output lines as
// properties. udevd 252 means to drop a cut-short last line but drops it
// from the wrong buffer, so the partial line is imported; so here.
func (e *event) importProgram(t Token, m matcher) bool {
	out, ran, ok := e.runCommand(t, "Failed to execute '%s', ignoring")
	if !ran || !ok {
		return ran && m.op == OpNomatch
	}
	e.addPropertyLines(strings.FieldsFunc(out, func(r rune) bool { return r == '\n' || r == '\r' }))
	return m.op == OpMatch
}

// importBuiltin is IMPORT{builtin} (and IMPORT{program} naming a
// builtin): blkid, path_id and usb_id run once per event, later imports
// of them repeat the first outcome.
func (e *event) importBuiltin(t Token, m matcher) bool {
	name, ok := LookupBuiltin(t.Value)
	if !ok {
		return false
	}
	if builtinRunsOnce(name) {
		if e.builtinRan[name] {
			return m.op == opFor(!e.builtinFailed[name])
		}
		e.builtinRan[name] = true
	}
	cmd, truncated := e.format(t.Value, LineSize, false)
	if truncated {
		return false
	}
	props, err := e.host.Builtin(e.ctx, name, SplitCommand(cmd), e.dev, e.allProps())
	if err != nil {
		e.builtinFailed[name] = true
		return m.op == OpNomatch
	}
	// udev_builtin_add_property never unsets: no 252 builtin passes NULL,
	// and an empty value (an hwdb entry "KEY=") is kept as one.
	for _, p := range props {
		e.setProp(p.Key, p.Value)
	}
	return m.op == OpMatch
}

// opFor is the operator that holds for a success or a failure.
func opFor(success bool) Op {
	if success {
		return OpMatch
	}
	return OpNomatch
}

// importDB is IMPORT{db}="KEY": the key from the earlier database entry
// (merged over the kernel's properties); never on remove, where udevd
// has no such copy.
func (e *event) importDB(t Token, m matcher) bool {
	if e.dbClone == nil {
		return m.op == OpNomatch
	}
	v, ok := e.dbClone.get(t.Value)
	if !ok {
		return m.op == OpNomatch
	}
	e.setProp(t.Value, v)
	return m.op == OpMatch
}

// importCmdline is IMPORT{cmdline}="KEY": KEY=VALUE on the kernel
// command line (the last one wins; '-' and '_' are the same), or a bare
// KEY, which gives "1".
func (e *event) importCmdline(t Token, m matcher) (bool, error) {
	line, err := e.host.Cmdline(e.ctx)
	if err != nil {
		return false, e.abortf(err, "Failed to read '%s' option from /proc/cmdline", t.Value)
	}
	v, found := cmdlineValue(line, t.Value, e.host.InInitrd(e.ctx))
	if !found {
		return m.op == OpNomatch, nil
	}
	e.setProp(t.Value, v)
	return m.op == OpMatch, nil
}

// cmdlineValue looks for key as proc_cmdline_get_key does; "rd." words
// count only in the initrd.
func cmdlineValue(line, key string, initrd bool) (value string, found bool) {
	var v *string
	for _, w := range SplitCommand(line) {
		if strings.HasPrefix(w, "rd.") && !initrd {
			continue
		}
		rest, ok := cmdlineKeyPrefix(w, key)
		switch {
		case !ok:
		case strings.HasPrefix(rest, "="):
			s := rest[1:]
			v, found = &s, true
		case rest == "":
			found = true
		}
	}
	if v == nil {
		return "1", found
	}
	return *v, found
}

// cmdlineKeyPrefix is proc_cmdline_key_startswith: word starts with key,
// '-' and '_' counting as the same.
func cmdlineKeyPrefix(word, key string) (string, bool) {
	if len(word) < len(key) {
		return "", false
	}
	for i := 0; i < len(key); i++ {
		a, b := word[i], key[i]
		if a != b && !(a == '_' && b == '-') && !(a == '-' && b == '_') {
			return "", false
		}
	}
	return word[len(key):], true
}

// importParent is IMPORT{parent}="GLOB": the parent's properties (its
// uevent file's and its database's) whose keys match, added to the
// device's. Without a parent the import fails.
func (e *event) importParent(t Token, m matcher) (bool, error) {
	glob, truncated := e.format(t.Value, PathSize, false)
	if truncated {
		return false, nil
	}
	p, err := e.parent(e.dev)
	if errors.Is(err, builtin.ErrNoDevice) {
		return m.op == OpNomatch, nil
	}
	if err != nil {
		return false, e.abortf(err, "Failed to import properties '%s' from parent", glob)
	}
	for _, kv := range p.properties().all() {
		if fnmatch.Match(glob, kv.Key) {
			e.setProp(kv.Key, kv.Value)
		}
	}
	return m.op == OpMatch, nil
}
