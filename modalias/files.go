package modalias

import (
	"bufio"
	"bytes"
	"errors"
	"io"
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

// modnameNormalize is libkmod's modname_normalize: '-' becomes '_' and
// the name ends at the first '.', so "snd-hda-intel.ko.xz" becomes
// "snd_hda_intel".
func modnameNormalize(s string) string {
	if i := strings.IndexByte(s, '.'); i >= 0 {
		s = s[:i]
	}
	if strings.IndexByte(s, '-') < 0 {
		return s
	}
	return strings.ReplaceAll(s, "-", "_")
}

// pathToModname turns a path from modules.dep or modules.builtin into the
// module's name.
func pathToModname(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		p = p[i+1:]
	}
	return modnameNormalize(p)
}

// lineReader yields the lines of an index file without allocating per
// line. The slice it returns is valid until the next call.
type lineReader struct {
	br   *bufio.Reader
	file string
	n    int
}

func newLineReader(r io.Reader, file string) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, 64<<10), file: file}
}

// next returns the next line without its newline, or io.EOF.
func (lr *lineReader) next() ([]byte, error) {
	line, err := lr.br.ReadSlice('\n')
	switch {
	case err == nil:
		lr.n++
		return line[:len(line)-1], nil
	case errors.Is(err, bufio.ErrBufferFull):
		return nil, corrupt(lr.file, lr.n+1, "line longer than %d bytes", lr.br.Size())
	case err == io.EOF && len(line) > 0:
		lr.n++
		return line, nil
	case err == io.EOF:
		return nil, io.EOF
	default:
		return nil, &FileError{File: lr.file, Line: lr.n + 1, Err: err}
	}
}

// parseAliasFile reads modules.alias ("alias PATTERN MODULE" lines and
// comments) and calls add for each line. The pattern may contain spaces,
// since depmod prints the module's alias string verbatim; the module name
// is the last word. It works on the whole file as one string so that the
// patterns handed to add are substrings of it, not copies.
func parseAliasFile(data, file string, add func(pattern, module string)) error {
	for n := 1; data != ""; n++ {
		line := data
		if i := strings.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = ""
		}
		if line == "" || line[0] == '#' {
			continue
		}
		rest, ok := strings.CutPrefix(line, "alias")
		if !ok || rest == "" || !isSpace(rest[0]) {
			return corrupt(file, n, "want \"alias PATTERN MODULE\", got %q", clip([]byte(line)))
		}
		rest = strings.TrimRight(strings.TrimLeft(rest, " \t"), " \t\r")
		i := strings.LastIndexAny(rest, " \t")
		if i < 0 {
			return corrupt(file, n, "alias without module: %q", clip([]byte(line)))
		}
		pattern := strings.TrimRight(rest[:i], " \t")
		module := rest[i+1:]
		if pattern == "" || module == "" {
			return corrupt(file, n, "alias without pattern: %q", clip([]byte(line)))
		}
		add(pattern, module)
	}
	return nil
}

// parseDepFile reads modules.dep ("path: dep dep ...") and calls add with
// each module's name, in file order, which is depmod's module order.
func parseDepFile(r io.Reader, file string, add func(name string)) error {
	lr := newLineReader(r, file)
	for {
		line, err := lr.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		i := bytes.IndexByte(line, ':')
		if i <= 0 {
			return corrupt(file, lr.n, "want \"path: deps\", got %q", clip(line))
		}
		name := strings.Clone(pathToModname(string(line[:i])))
		if name == "" {
			return corrupt(file, lr.n, "empty module name in %q", clip(line))
		}
		add(name)
	}
}

// parseBuiltinFile reads modules.builtin, one path a line. Like depmod, it
// skips lines that do not start with a letter.
func parseBuiltinFile(r io.Reader, file string, add func(name string)) error {
	lr := newLineReader(r, file)
	for {
		line, err := lr.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if len(line) == 0 || !isAlpha(line[0]) {
			continue
		}
		if name := pathToModname(string(line)); name != "" {
			add(name)
		}
	}
}

// parseBuiltinModinfo reads modules.builtin.modinfo, NUL-terminated
// "module.key=value" records, and calls add for each "alias" key, the way
// depmod builds modules.builtin.alias.bin from it. Records are numbered
// from 1 in errors.
func parseBuiltinModinfo(data []byte, file string, add func(module, alias string)) error {
	for n := 1; len(data) > 0; n++ {
		rec := data
		if i := bytes.IndexByte(data, 0); i >= 0 {
			rec, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if len(rec) == 0 {
			continue
		}
		dot := bytes.IndexByte(rec, '.')
		eq := bytes.IndexByte(rec, '=')
		if dot <= 0 || eq < dot {
			return corrupt(file, n, "want \"module.key=value\", got %q", clip(rec))
		}
		if string(rec[dot+1:eq]) != "alias" || eq+1 == len(rec) {
			continue
		}
		add(string(rec[:dot]), string(rec[eq+1:]))
	}
	return nil
}

func isSpace(c byte) bool { return c == ' ' || (c >= '\t' && c <= '\r') }

func isAlpha(c byte) bool { return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') }

// clip shortens a bad line for an error message.
func clip(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "..."
	}
	return string(b)
}
