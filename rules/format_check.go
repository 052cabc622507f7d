package rules

import (
	"strconv"
	"strings"
)

// substNamesLong are the $name substitutions in udevd's lookup order: the
// first name the text starts with wins ($sysfs before $sys).
var substNamesLong = []string{
	"devnode", "tempnode", "attr", "sysfs", "env", "kernel", "number", "driver",
	"devpath", "id", "major", "minor", "result", "parent", "name", "links", "root", "sys",
}

// substChars are the %c substitutions, in the same order.
const substChars = "NNssEkndpbMmcPDLrS"

// formatProblem is where and why udev_check_format rejects a value: the
// 1-based offset udevd prints and its hint.
type formatProblem struct {
	offset int
	hint   string
}

// checkFormat is udev_check_format, which udevd runs on values when the
// rules load: every '$' and '%' must be doubled or start a known
// substitution, a {…} must close and not be empty, $attr and $env need
// one, and %c{…} takes a number, perhaps followed by '+'.
func checkFormat(value string) *formatProblem {
	for i := 0; i < len(value); {
		kind, attr, next, ok := lexSubst(value, i)
		if !ok {
			return &formatProblem{offset: i + 1, hint: "invalid substitution type"}
		}
		i = next
		switch {
		case (kind == "attr" || kind == "env") && attr == "":
			return &formatProblem{offset: i + 1, hint: "attribute value missing"}
		case kind == "result" && attr != "" && !resultIndexOK(attr):
			return &formatProblem{offset: i + 1, hint: "attribute value not a valid number"}
		}
	}
	return nil
}

// lexSubst is get_subst_type in strict mode at value[i]: the substitution
// there ("" for a literal byte or a doubled '$' or '%'), its {argument},
// and where the text after it starts.
func lexSubst(value string, i int) (kind, attr string, next int, ok bool) {
	c := value[i]
	if c != '$' && c != '%' {
		return "", "", i + 1, true
	}
	p := i + 1
	if p < len(value) && value[p] == c {
		return "", "", p + 1, true
	}
	kind, p = substAt(value, p, c == '$')
	if kind == "" {
		return "", "", i, false
	}
	if p >= len(value) || value[p] != '{' {
		return kind, "", p, true
	}
	end := strings.IndexByte(value[p+1:], '}')
	if end <= 0 || end >= 1024 {
		return "", "", i, false
	}
	return kind, value[p+1 : p+1+end], p + end + 2, true
}

// substAt finds the substitution named at value[p]: a $name or a %c
// character. It returns "" when there is none, and where its name ends.
func substAt(value string, p int, long bool) (string, int) {
	if long {
		for _, n := range substNamesLong {
			if strings.HasPrefix(value[p:], n) {
				return n, p + len(n)
			}
		}
		return "", p
	}
	if p < len(value) {
		if j := strings.IndexByte(substChars, value[p]); j >= 0 {
			return substNamesLong[j], p + 1
		}
	}
	return "", p
}

// resultIndexOK is safe_atou_optional_plus: an unsigned number (C's
// strtoul with base 0, after whitespace), perhaps followed by '+'.
func resultIndexOK(s string) bool {
	s = strings.TrimSuffix(s, "+")
	s = strings.TrimLeft(s, lexWhitespace+"\v\f")
	s = strings.TrimPrefix(s, "+")
	v, err := parseCUnsigned(s, 0)
	return err == nil && v <= 1<<32-1
}

// parseCUnsigned is strtoul over the whole of s: base 0 takes 0x for hex
// and a leading 0 for octal. Go's base-0 parsing would also take
// underscores and 0o/0b, which C does not. The error is
// strconv.ErrSyntax or strconv.ErrRange (beyond 64 bits).
func parseCUnsigned(s string, base int) (uint64, error) {
	if base == 0 || base == 16 {
		if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
			s, base = s[2:], 16
		}
	}
	if base == 0 {
		base = 10
		if len(s) > 1 && s[0] == '0' {
			s, base = s[1:], 8
		}
	}
	if s == "" || strings.ContainsAny(s, "_+-") {
		return 0, strconv.ErrSyntax
	}
	v, err := strconv.ParseUint(s, base, 64)
	if ne, ok := err.(*strconv.NumError); ok {
		return 0, ne.Err
	}
	return v, nil
}
