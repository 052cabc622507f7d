package fnmatch

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Expected values are glibc 2.36 fnmatch(pattern, name, 0) results;
// modalias's conformance test checks the same corners through modprobe.d
// aliases against modprobe.
func TestMatch(t *testing.T) {
	tests := []struct {
		name, pattern, s string
		want             bool
	}{
		{"literal", "abc", "abc", true},
		{"literal mismatch", "abc", "abd", false},
		{"star matches slash", "a*b", "a/x/b", true},
		{"star matches leading dot", "*", ".hidden", true},
		{"star matches empty", "a*", "a", true},
		{"star alone", "*", "", true},
		{"question needs a char", "?", "", false},
		{"question matches slash", "a?b", "a/b", true},
		{"question", "a?c", "abc", true},
		{"stars and questions", "*?*?", "a", false},
		{"several ranges", "[a-cx-z]", "y", true},
		{"several ranges miss", "[a-cx-z]", "m", false},
		{"bang negates", "[!0-9]", "a", true},
		{"bang negates miss", "[!0-9]", "5", false},
		{"caret negates", "[^x]", "x", false},
		{"close bracket first is member", "[]a]", "]", true},
		{"dash last is member", "[a-]", "-", true},
		{"reversed range is empty", "[z-a]", "m", false},
		{"escaped star", "\\*", "*", true},
		{"escaped star is literal", "\\*", "a", false},
		{"escape in bracket", "[\\]]", "]", true},
		{"trailing backslash never matches", "a\\", "a\\", false},
		{"brace is literal", "{a,b}", "a", false},
		{"brace literal match", "{a,b}", "{a,b}", true},
		{"lone bracket is literal", "[", "[", true},
		{"unterminated bracket literal", "[abc", "[abc", true},
		{"unterminated bracket after member match", "[abc", "a", false},
		{"char class", "[[:digit:]]x", "5x", true},
		{"char class miss", "[[:digit:]]x", "ax", false},
		{"unknown char class", "[[:foo:]]", "a", false},
		{"equivalence class", "[[=a=]]", "a", true},
		{"collating symbol", "[[.a.]]", "a", true},
		{"star then bracket", "*[0-9]", "abc7", true},
		{"star then escape", "*\\?", "ab?", true},
		{"nul ends pattern", "ab\x00cd", "ab", true},
		{"nul ends name", "ab", "ab\x00cd", true},
		{"modalias", "usb:v0421p0492d04[6-9]*dc*dsc*dp*ic*isc*ip*in*", "usb:v0421p0492d0470dc00dsc00dp00ic08isc06ip50in00", true},
		{"dmi modalias with a slash", "dmi:*:svnLENOVO:*:pvrThinkPadX1*", "dmi:bvnLENOVO:bvrN1ET:bd01/02/2020:svnLENOVO:pn20A7:pvrThinkPadX1Carbon:", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d := cmp.Diff(tt.want, Match(tt.pattern, tt.s)); d != "" {
				t.Errorf("Match(%q, %q) (-want +got):\n%s", tt.pattern, tt.s, d)
			}
		})
	}
}

// refGlob is a plain recursive glob matcher, written from the POSIX rules
// rather than from glibc, for well-formed patterns only.
func refGlob(p, s string) bool {
	if p == "" {
		return s == ""
	}
	switch p[0] {
	case '*':
		return refGlob(p[1:], s) || (s != "" && refGlob(p, s[1:]))
	case '?':
		return s != "" && refGlob(p[1:], s[1:])
	case '\\':
		return len(p) > 1 && s != "" && p[1] == s[0] && refGlob(p[2:], s[1:])
	case '[':
		if s == "" {
			return false
		}
		n, in := refBracket(p, s[0])
		return n > 0 && in && refGlob(p[n:], s[1:])
	}
	return s != "" && p[0] == s[0] && refGlob(p[1:], s[1:])
}

// refBracket parses the bracket expression at p[0] and returns its length
// (0 when it is not terminated) and whether c is in it.
func refBracket(p string, c byte) (int, bool) {
	i := 1
	neg := i < len(p) && (p[i] == '!' || p[i] == '^')
	if neg {
		i++
	}
	in := false
	for first := true; i < len(p); first = false {
		if p[i] == ']' && !first {
			return i + 1, in != neg
		}
		lo := p[i]
		if lo == '\\' {
			i++
			if i == len(p) {
				return 0, false
			}
			lo = p[i]
		}
		i++
		hi := lo
		if i+1 < len(p) && p[i] == '-' && p[i+1] != ']' {
			hi = p[i+1]
			i += 2
			if hi == '\\' {
				if i == len(p) {
					return 0, false
				}
				hi = p[i]
				i++
			}
		}
		if lo <= c && c <= hi {
			in = true
		}
	}
	return 0, false
}

// wellFormed reports whether refGlob understands p: no trailing
// backslash, every bracket expression terminated and without classes,
// equivalence classes or collating symbols.
func wellFormed(p string) bool {
	if strings.Contains(p, "[:") || strings.Contains(p, "[=") || strings.Contains(p, "[.") {
		return false
	}
	for i := 0; i < len(p); {
		switch p[i] {
		case '\\':
			if i+1 == len(p) {
				return false
			}
			i += 2
		case '[':
			n, _ := refBracket(p[i:], 0)
			if n == 0 {
				return false
			}
			i += n
		default:
			i++
		}
	}
	return true
}

// escape makes a pattern that matches s and nothing else.
func escape(s string) string {
	var b strings.Builder
	for i := range len(s) {
		b.WriteByte('\\')
		b.WriteByte(s[i])
	}
	return b.String()
}

// FuzzMatch checks Match's invariants on arbitrary input: a pattern
// without special characters matches exactly itself, "*" matches
// everything, an escaped string matches only itself, appending "*" to a
// matching pattern keeps it matching, and a well-formed pattern agrees
// with the reference matcher.
func FuzzMatch(f *testing.F) {
	f.Add("pci:v00008086d*sv*sd*bc*sc*i*", "pci:v00008086d00001234sv0sd0bc03sc00i00")
	f.Add("usb:v0421p0492d04[6-9]*dc*", "usb:v0421p0492d0470dc00")
	f.Add("a\\*b*[!x]?[]a]*\\\\", "a*bcd]e\\")
	f.Add("[abc", "[abc")
	f.Add("[[:alpha:]]*[a-]", "x-")
	f.Fuzz(func(t *testing.T, pattern, s string) {
		if len(pattern) > 64 || len(s) > 64 || strings.Count(pattern, "*") > 6 {
			return
		}
		// C strings: Match stops at a NUL too.
		s, _, _ = strings.Cut(s, "\x00")
		pattern, _, _ = strings.Cut(pattern, "\x00")
		if !Match("*", s) {
			t.Errorf("Match(\"*\", %q) = false", s)
		}
		if !strings.ContainsAny(s, "*?[\\") {
			if !Match(s, s) {
				t.Errorf("literal %q does not match itself", s)
			}
			if Match(s, pattern) != (s == pattern) {
				t.Errorf("Match(%q, %q) = %v for a literal pattern", s, pattern, !(s == pattern))
			}
		}
		if got := Match(escape(s), pattern); got != (s == pattern) {
			t.Errorf("Match(escape(%q), %q) = %v", s, pattern, got)
		}
		m := Match(pattern, s)
		if m && !Match(pattern+"*", s+"tail") {
			t.Errorf("Match(%q, %q) but not with \"*\" and \"tail\" appended", pattern, s)
		}
		if wellFormed(pattern) && m != refGlob(pattern, s) {
			t.Errorf("Match(%q, %q) = %v, reference says %v", pattern, s, m, !m)
		}
	})
}
