package modalias

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// aliasNormalize is libkmod's alias_normalize: '-' becomes '_' except
// inside a bracket expression, which runs from '[' to the next ']'. A ']'
// outside brackets or a '[' without a ']' makes the alias invalid: depmod
// leaves such aliases out of its index and libkmod refuses such lookups.
func aliasNormalize(s string) (string, bool) {
	if strings.IndexAny(s, "-[]") < 0 {
		return s, true
	}
	b := []byte(s)
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '-':
			b[i] = '_'
		case ']':
			return "", false
		case '[':
			j := bytes.IndexByte(b[i:], ']')
			if j < 0 {
				return "", false
			}
			i += j
		}
	}
	return string(b), true
}

// underscores is libkmod's underscores(), used on modprobe.d words: the
// same rule as aliasNormalize (it differs only in how it reports errors).
func underscores(s string) (string, bool) { return aliasNormalize(s) }

// ModuleName is libkmod's modname_normalize, the kernel's spelling of a
// module name: '-' becomes '_' (the module loader treats them as one
// character and stores '_') and the name ends at the first '.', so
// "snd-hda-intel.ko.xz" becomes "snd_hda_intel".
func ModuleName(s string) string {
	if i := strings.IndexByte(s, '.'); i >= 0 {
		s = s[:i]
	}
	if strings.IndexByte(s, '-') < 0 {
		return s
	}
	return strings.ReplaceAll(s, "-", "_")
}

// moduleFile returns the module name of a path in modules.dep or
// modules.builtin, not yet normalised (see ModuleName): its file name up
// to the first '.'. The file must be a module, plain or compressed as the
// kernel build writes them.
func moduleFile(p string) (string, error) {
	base := p[strings.LastIndexByte(p, '/')+1:]
	name, ext, _ := strings.Cut(base, ".")
	switch {
	case p == "":
		return "", errors.New("empty module path")
	case name == "":
		return "", fmt.Errorf("module path %q has no name", clip(p))
	case ext != "ko" && ext != "ko.xz" && ext != "ko.zst" && ext != "ko.gz":
		return "", fmt.Errorf("module path %q does not end in .ko, .ko.xz, .ko.zst or .ko.gz", clip(p))
	}
	return name, nil
}

// maxLine bounds one line (or modules.builtin.modinfo record) of an index
// file. depmod writes a module's whole dependency closure on its
// modules.dep line; the longest in a distribution kernel is a few KiB, so
// 1 MiB only rejects garbage.
const maxLine = 1 << 20

// parseLines is the one policy for a bad line in every file an Index reads:
// it calls parse for each line n of data (split at sep, numbered from 1) and
// returns one *FileError wrapping ErrCorrupt, naming file and line, for
// every line parse rejects or that is longer than maxLine. A bad line is
// skipped; the lines around it still count, as they do for libkmod, whose
// indexes depmod builds line by line.
func parseLines(data, file string, sep byte, parse func(line string, n int) error) []error {
	var bad []error
	for n := 1; data != ""; n++ {
		line := data
		if i := strings.IndexByte(data, sep); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = ""
		}
		var err error
		if len(line) > maxLine {
			err = fmt.Errorf("line longer than %d bytes", maxLine)
		} else {
			err = parse(line, n)
		}
		if err != nil {
			bad = append(bad, &FileError{File: file, Line: n, Err: fmt.Errorf("%w: %w", err, ErrCorrupt)})
		}
	}
	return bad
}

// parseAliasFile reads modules.alias or modules.symbols ("alias PATTERN
// MODULE" lines and comments) and calls add for each line. The pattern may
// contain spaces, since depmod prints the module's alias string verbatim;
// the module name is the last word. The patterns handed to add are
// substrings of data, not copies.
func parseAliasFile(data, file string, add func(pattern, module string)) []error {
	return parseLines(data, file, '\n', func(line string, _ int) error {
		if line == "" || line[0] == '#' {
			return nil
		}
		rest, ok := strings.CutPrefix(line, "alias")
		if !ok || rest == "" || !isSpace(rest[0]) {
			return fmt.Errorf("want \"alias PATTERN MODULE\", got %q", clip(line))
		}
		rest = strings.TrimRight(strings.TrimLeft(rest, " \t"), " \t\r")
		i := strings.LastIndexAny(rest, " \t")
		if i < 0 {
			return fmt.Errorf("alias without module: %q", clip(line))
		}
		pattern := strings.TrimRight(rest[:i], " \t")
		module := rest[i+1:]
		if pattern == "" || module == "" {
			return fmt.Errorf("alias without pattern: %q", clip(line))
		}
		add(pattern, module)
		return nil
	})
}

// parseDepFile reads modules.dep ("path: dep-path dep-path ...", as depmod
// writes it: the dep list is the module's whole dependency closure, a
// module before the modules it needs) and calls add for each module line
// n in file order, which is depmod's module order, with the module's
// normalised name, its path and the dependency paths as written, separated
// by blanks. Paths are relative to the modules directory unless absolute.
// Blank lines and '#' comments are skipped; add rejects a line by
// returning an error.
func parseDepFile(data, file string, add func(name, path, deps string, n int) error) []error {
	return parseLines(data, file, '\n', func(line string, n int) error {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			return nil
		}
		p, deps, ok := strings.Cut(line, ":")
		if !ok {
			return fmt.Errorf("missing ':' after module path in %q", clip(line))
		}
		p = strings.TrimSpace(p)
		name, err := moduleFile(p)
		if err != nil {
			return err
		}
		for dp := range strings.FieldsSeq(deps) {
			if _, err := moduleFile(dp); err != nil {
				return err
			}
		}
		return add(ModuleName(name), p, deps, n)
	})
}

// parseBuiltinFile reads modules.builtin, one module path a line, as the
// kernel build writes it. Like depmod, which builds modules.builtin.bin
// from it, it rejects lines that do not start with a letter; blank lines
// are skipped.
func parseBuiltinFile(data, file string, add func(name string)) []error {
	return parseLines(data, file, '\n', func(line string, _ int) error {
		if line == "" {
			return nil
		}
		if !isAlpha(line[0]) {
			return fmt.Errorf("want a module path, got %q", clip(line))
		}
		name, err := moduleFile(line)
		if err != nil {
			return err
		}
		add(ModuleName(name))
		return nil
	})
}

// parseBuiltinModinfo reads modules.builtin.modinfo, NUL-terminated
// "module.key=value" records, and calls add for each "alias" key, the way
// depmod builds modules.builtin.alias.bin from it. Records are numbered
// from 1 in errors.
func parseBuiltinModinfo(data, file string, add func(module, alias string)) []error {
	return parseLines(data, file, 0, func(rec string, _ int) error {
		if rec == "" {
			return nil
		}
		dot := strings.IndexByte(rec, '.')
		eq := strings.IndexByte(rec, '=')
		if dot <= 0 || eq < dot {
			return fmt.Errorf("want \"module.key=value\", got %q", clip(rec))
		}
		if rec[dot+1:eq] == "alias" && eq+1 < len(rec) {
			add(rec[:dot], rec[eq+1:])
		}
		return nil
	})
}

func isSpace(c byte) bool { return c == ' ' || (c >= '\t' && c <= '\r') }

func isAlpha(c byte) bool { return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') }

// clip shortens a bad line for an error message.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
