package rules

import (
	"errors"
	"fmt"
	"strings"
)

// udevd's buffer sizes (udev-util.h), with LineSize (UDEV_LINE_SIZE,
// lex.go). A substitution's output is cut to one byte less, the C
// string's NUL taking the last.
const (
	NameSize = 512  // UDEV_NAME_SIZE
	PathSize = 1024 // UDEV_PATH_SIZE
)

// substType is one of udevd's format substitutions.
type substType uint8

const (
	substDevnode substType = iota + 1
	substAttr
	substEnv
	substKernel
	substNumber
	substDriver
	substDevpath
	substID
	substMajor
	substMinor
	substResult
	substParent
	substName
	substLinks
	substRoot
	substSys
)

// substMap is udevd's table, in its order: a "$name" takes the first
// entry whose name starts the text after '$' ("$sysfs" before "$sys",
// "$kernelx" is "$kernel" then "x").
var substMap = []struct {
	name string
	fmt  byte
	typ  substType
}{
	{"devnode", 'N', substDevnode},
	{"tempnode", 'N', substDevnode},
	{"attr", 's', substAttr},
	{"sysfs", 's', substAttr},
	{"env", 'E', substEnv},
	{"kernel", 'k', substKernel},
	{"number", 'n', substNumber},
	{"driver", 'd', substDriver},
	{"devpath", 'p', substDevpath},
	{"id", 'b', substID},
	{"major", 'M', substMajor},
	{"minor", 'm', substMinor},
	{"result", 'c', substResult},
	{"parent", 'P', substParent},
	{"name", 'D', substName},
	{"links", 'L', substLinks},
	{"root", 'r', substRoot},
	{"sys", 'S', substSys},
}

func substNames(t substType) (string, byte) {
	for _, m := range substMap {
		if m.typ == t {
			return m.name, m.fmt
		}
	}
	return "", 0
}

// ErrInvalidFormat is what CheckFormat's errors wrap.
var ErrInvalidFormat = errors.New("invalid format")

// FormatError is a value udev_check_format rejects: Offset is the 1-based
// character udevd reports, Hint its words.
type FormatError struct {
	Offset int
	Hint   string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("char %d: %s", e.Offset, e.Hint)
}

func (e *FormatError) Unwrap() error { return ErrInvalidFormat }

// substToken is the outcome of reading text at a '$' or '%' (or any other
// character): a literal character to copy, or a substitution.
type substToken struct {
	literal bool
	char    byte
	typ     substType
	attr    string
	rest    string // the text after what was read
}

// parseSubst reads one element of a format string, as get_subst_type.
// "$$" and "%%" give the second character; an unknown "$x" or "%x" gives
// its '$' or '%' (an error when strict, as the rules loader checks).
// "{" must be closed by "}" around 1 to PATH_SIZE-1 bytes, for any type.
func parseSubst(s string, strict bool) (substToken, error) {
	c := s[0]
	lit := substToken{literal: true, char: c, rest: s[1:]}
	if c != '$' && c != '%' || len(s) == 1 {
		if len(s) == 1 && strict && (c == '$' || c == '%') {
			return lit, ErrInvalidFormat
		}
		return lit, nil
	}
	if s[1] == c {
		return substToken{literal: true, char: c, rest: s[2:]}, nil
	}
	typ, q := lookupSubst(s)
	if typ == 0 {
		if strict {
			return lit, ErrInvalidFormat
		}
		return lit, nil
	}
	tok := substToken{typ: typ, rest: q}
	if strings.HasPrefix(q, "{") {
		end := strings.IndexByte(q, '}')
		if end < 0 || end == 1 || end-1 >= PathSize {
			return tok, ErrInvalidFormat
		}
		tok.attr, tok.rest = q[1:end], q[end+1:]
	}
	return tok, nil
}

// lookupSubst finds the substitution s (starting with '$' or '%') names
// and the text after its name.
func lookupSubst(s string) (substType, string) {
	for _, m := range substMap {
		if s[0] == '$' && strings.HasPrefix(s[1:], m.name) {
			return m.typ, s[1+len(m.name):]
		}
		if s[0] == '%' && s[1] == m.fmt {
			return m.typ, s[2:]
		}
	}
	return 0, ""
}

// CheckFormat validates a value as udev_check_format does when the rules
// load: every '$' and '%' must start a known substitution or be doubled,
// $attr and $env need their {…}, %c{…} takes N or N+.
func CheckFormat(value string) error {
	for s := value; s != ""; {
		tok, err := parseSubst(s, true)
		if err != nil {
			return &FormatError{Offset: len(value) - len(s) + 1, Hint: "invalid substitution type"}
		}
		s = tok.rest
		if tok.literal {
			continue
		}
		at := len(value) - len(s) + 1
		if (tok.typ == substAttr || tok.typ == substEnv) && tok.attr == "" {
			return &FormatError{Offset: at, Hint: "attribute value missing"}
		}
		if tok.typ == substResult && tok.attr != "" {
			if _, _, err := parseResultIndex(tok.attr); err != nil {
				return &FormatError{Offset: at, Hint: "attribute value not a valid number"}
			}
		}
	}
	return nil
}
