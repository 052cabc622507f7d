package modalias

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Expected values are glibc 2.36 fnmatch(pattern, s, 0) results; the
// conformance test checks the same corners through modprobe.d aliases.
func TestFnmatch(t *testing.T) {
	tests := []struct {
		name, pattern, s string
		want             bool
	}{
		{"literal", "abc", "abc", true},
		{"literal mismatch", "abc", "abd", false},
		{"star matches slash", "a*b", "a/x/b", true},
		{"star matches empty", "a*", "a", true},
		{"star alone", "*", "", true},
		{"question needs a char", "?", "", false},
		{"question", "a?c", "abc", true},
		{"stars and questions", "*?*?", "a", false},
		{"several ranges", "[a-cx-z]", "y", true},
		{"several ranges miss", "[a-cx-z]", "m", false},
		{"bang negates", "[!0-9]", "a", true},
		{"bang negates miss", "[!0-9]", "5", false},
		{"caret negates", "[^x]", "x", false},
		{"close bracket first is member", "[]a]", "]", true},
		{"dash last is member", "[a-]", "-", true},
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
		{"modalias", "usb:v0421p0492d04[6-9]*dc*dsc*dp*ic*isc*ip*in*", "usb:v0421p0492d0470dc00dsc00dp00ic08isc06ip50in00", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fnmatch(tt.pattern, tt.s); got != tt.want {
				t.Errorf("fnmatch(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
			}
		})
	}
}

// libkmod compares an index key's literal prefix byte by byte, so a
// backslash before the first wildcard is an ordinary character there.
func TestKmodMatch(t *testing.T) {
	tests := []struct {
		name, pattern, key string
		want               bool
	}{
		{"exact", "fs-ext4", "fs-ext4", true},
		{"exact longer key", "fs-ext4", "fs-ext4x", false},
		{"backslash in prefix is literal", "ab\\c*", "ab\\cd", true},
		{"backslash in prefix is not an escape", "ab\\c*", "abcd", false},
		{"backslash after wildcard escapes", "a*\\c", "axc", true},
		{"prefix then glob", "acpi*:PNP0C0A:*", "acpi:PNP0C0A:", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := kmodMatch(tt.pattern, tt.key); got != tt.want {
				t.Errorf("kmodMatch(%q, %q) = %v, want %v", tt.pattern, tt.key, got, tt.want)
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
		n, in := refBracket(p, s)
		return n > 0 && in && refGlob(p[n:], s[1:])
	}
	return s != "" && p[0] == s[0] && refGlob(p[1:], s[1:])
}

// refBracket parses the bracket expression at p[0] and reports its length
// and whether s[0] is in it.
func refBracket(p, s string) (int, bool) {
	if s == "" {
		return 0, false
	}
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
		if lo <= s[0] && s[0] <= hi {
			in = true
		}
	}
	return 0, false
}

func refKmod(p, key string) bool {
	l := literalPrefixLen(p)
	return strings.HasPrefix(key, p[:l]) && refGlob(p[l:], key[l:])
}

// FuzzMatch checks the trie walk of patternSet against matching every
// pattern one by one with the reference matcher.
func FuzzMatch(f *testing.F) {
	f.Add("pci:v00008086d*sv*sd*bc*sc*i*\npci:v*d*sv*sd*bc03sc*i*\nacpi*:PNP0C0A:*", "pci:v00008086d00001234sv0sd0bc03sc00i00")
	f.Add("usb:v0421p0492d04[6-9]*dc*\nusb:v0421p0492d0[5-9]*dc*", "usb:v0421p0492d0470dc00")
	f.Add("a\\*b*\n[!x]?\n[]a]*\n*\\\\", "a*bc")
	f.Add("of:N*T*Cfoo,bar\nof:N*T*Cfoo,barC*", "of:NxTyCfoo,barCz")
	f.Add("gx:a*\\?\\\ngx:a*\\[b\ngx:a*c\ngx:a?c", "gx:a*\\?x")
	f.Fuzz(func(t *testing.T, patterns, key string) {
		// libkmod also matches a wildcard in the string against the
		// same byte in a key; the reference knows nothing of that, so
		// such strings are only run for crashes.
		if strings.ContainsAny(key, "*?[") {
			if len(patterns) <= 400 && len(key) <= 32 && strings.IndexByte(patterns, 0) < 0 && strings.IndexByte(key, 0) < 0 {
				ps := newPatternSet(strings.Split(patterns, "\n"))
				ps.match(key, nil)
			}
			return
		}
		if len(patterns) > 400 || len(key) > 32 || strings.Count(patterns, "*") > 6 {
			return
		}
		pats := strings.Split(patterns, "\n")
		var want []string
		for _, p := range pats {
			if p == "" || strings.IndexByte(p, 0) >= 0 || strings.IndexByte(key, 0) >= 0 {
				return
			}
		}
		ps := newPatternSet(slices.Clone(pats))
		for _, p := range ps.keys {
			if refKmod(p, key) {
				want = append(want, p)
			}
			if kmodMatch(p, key) != refKmod(p, key) {
				t.Errorf("kmodMatch(%q, %q) = %v, reference says %v", p, key, kmodMatch(p, key), refKmod(p, key))
			}
		}
		for _, p := range ps.slow {
			if kmodMatch(p, key) {
				want = append(want, p)
			}
		}
		var got []string
		for _, v := range ps.match(key, nil) {
			if v.glob == literalPrefixLen(v.key) {
				got = append(got, v.key)
			}
		}
		slices.Sort(want)
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("match(%q) over %q (-want +got):\n%s", key, pats, d)
		}
	})
}
