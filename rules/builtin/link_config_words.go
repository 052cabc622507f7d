package builtin

import (
	"strings"
)

// Flags of splitWords, after extract_first_word's.
const (
	// wordUnquote: '…' and "…" group a word and the quotes go.
	wordUnquote = 1 << iota
	// wordCUnescape: C escapes (\n, \t, \x41, \101) are decoded.
	wordCUnescape
	// wordRetainEscape: a backslash stays, with what it escapes, for the
	// glob matcher to read.
	wordRetainEscape
)

// splitWords splits a value into words at white space as repeated
// extract_first_word calls do, nil when a backslash ends it or a quote
// stays open (udevd then ignores the whole assignment). Without
// wordUnquote quotes are plain characters; without wordRetainEscape or
// wordCUnescape a backslash makes the next character plain.
func splitWords(s string, flags int) []string {
	var words []string
	var cur strings.Builder
	inWord, quote := false, byte(0)
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '\\':
			if i+1 == len(s) {
				return nil
			}
			i += writeEscape(&cur, s[i:], flags) - 1
			inWord = true
		case quote != 0 && ch == quote:
			quote = 0
		case quote == 0 && flags&wordUnquote != 0 && (ch == '\'' || ch == '"'):
			quote, inWord = ch, true
		case quote == 0 && strings.IndexByte(" \t\n\r", ch) >= 0:
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if quote != 0 {
		return nil
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// writeEscape writes the escape sequence at the start of s (s[0] is the
// backslash) as the flags want it and returns its length.
func writeEscape(b *strings.Builder, s string, flags int) int {
	switch {
	case flags&wordRetainEscape != 0:
		b.WriteString(s[:2])
		return 2
	case flags&wordCUnescape != 0:
		if r, n, ok := cUnescapeOne(s[1:]); ok {
			b.WriteString(r)
			return n + 1
		}
	}
	b.WriteByte(s[1])
	return 2
}

// cUnescapeOne decodes the escape after a backslash: the single-letter
// ones, \xHH and \OOO octal; false for others (taken literally here).
func cUnescapeOne(s string) (string, int, bool) {
	if r, ok := map[byte]string{'a': "\a", 'b': "\b", 'f': "\f", 'n': "\n", 'r': "\r", 't': "\t", 'v': "\v",
		'\\': "\\", '"': "\"", '\'': "'", 's': " "}[s[0]]; ok {
		return r, 1, true
	}
	if s[0] == 'x' && len(s) >= 3 {
		if v, _, ok := strtoull(s[1:3], 16); ok && digitValue(s[1]) < 16 && digitValue(s[2]) < 16 {
			return string(rune(v)), 3, v != 0
		}
	}
	if len(s) >= 3 && s[0] <= '3' && digitValue(s[0]) < 8 && digitValue(s[1]) < 8 && digitValue(s[2]) < 8 {
		v, _, _ := strtoull(s[:3], 8)
		return string([]byte{byte(v)}), 3, v != 0
	}
	return "", 0, false
}

// appendPatterns is config_parse_match_strv and its siblings: an empty
// value resets the list, a leading '!' negates every word, and words
// valid refuses are skipped.
func appendPatterns(list []string, value string, flags int, valid func(string) bool) []string {
	if value == "" {
		return nil
	}
	neg := strings.HasPrefix(value, "!")
	words := splitWords(strings.TrimPrefix(value, "!"), flags)
	for _, w := range words {
		if valid != nil && !valid(w) {
			continue
		}
		if neg {
			w = "!" + w
		}
		list = append(list, w)
	}
	return list
}

// appendHWAddrs is config_parse_hw_addrs: addresses of any length
// parse_hw_addr takes; invalid words are skipped, an empty value resets.
func appendHWAddrs(list [][]byte, value string) [][]byte {
	if value == "" {
		return nil
	}
	for _, w := range splitWords(value, 0) {
		if a, ok := parseHWAddr(w); ok && !containsAddr(list, a) {
			list = append(list, a)
		}
	}
	return list
}

func containsAddr(list [][]byte, a []byte) bool {
	for _, x := range list {
		if string(x) == string(a) {
			return true
		}
	}
	return false
}

// validAssignment is env_assignment_is_valid for Property=: a valid
// variable name, '=', and a value.
func validAssignment(s string) bool {
	k, _, ok := strings.Cut(s, "=")
	if !ok || k == "" || (k[0] >= '0' && k[0] <= '9') {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
			return false
		}
	}
	return true
}

// ifnameValid is ifname_valid_full: at most 15 bytes (127 for an
// alternative name), no "." or "..", not "all" or "default" (sysctl's
// directories), printable ASCII other than ':', '/' and '%', and not all
// digits (which reads as an ifindex).
func ifnameValid(s string, alternative bool) bool {
	limit := 16
	if alternative {
		limit = altIfNameSize
	}
	if s == "" || len(s) >= limit || s == "." || s == ".." || s == "all" || s == "default" {
		return false
	}
	numeric := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 127 || c == ':' || c == '/' || c == '%' {
			return false
		}
		numeric = numeric && c >= '0' && c <= '9'
	}
	return !numeric
}

// The policies NamePolicy= and AlternativeNamesPolicy= take.
var (
	namePolicies             = []string{"kernel", "keep", "database", "onboard", "slot", "path", "mac"}
	alternativeNamesPolicies = []string{"database", "onboard", "slot", "path", "mac"}
)

// parsePolicies is DEFINE_CONFIG_PARSE_ENUMV: the words that are known
// policies, each once, replacing the previous list; empty but not nil for
// an empty value.
func parsePolicies(value string, known []string) []string {
	out := []string{}
	for _, w := range splitWords(value, 0) {
		if contains(known, w) && !contains(out, w) {
			out = append(out, w)
		}
	}
	return out
}
