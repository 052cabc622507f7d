package rules

import (
	"strings"

	"github.com/gudevd/gudevd/internal/fnmatch"
)

// matchKind is udevd's UdevRuleMatchType, decided when a token is added.
type matchKind uint8

const (
	matchEmpty matchKind = iota
	matchPlain
	matchPlainWithEmpty
	matchGlob
	matchGlobWithEmpty
	matchSubsystem
)

// matcher is a match token as udevd prepares it (rule_line_add_token):
// its kind, its '|' alternatives and its operator, which "?*" inverts.
type matcher struct {
	op   Op
	kind matchKind
	alts []string
}

// compileMatch prepares t for token_match_string. SUBSYSTEM=="subsystem"
// (or "bus", "class") matches any of the three; "" matches only the
// empty string; "?*" is taken as !="" (so a list key such as TAG=="?*"
// holds whatever the tags); a value with * ? or [ is a glob. For the keys
// before TEST, and RESULT, the value is split at '|' into alternatives,
// an empty alternative ("|a", "a||b", "a|") also matching the empty
// string; the other keys' values are one pattern.
func compileMatch(t Token) matcher {
	m := matcher{op: t.Op, alts: []string{t.Value}}
	switch {
	case t.Type == TypeMSubsystem && (t.Value == "subsystem" || t.Value == "bus" || t.Value == "class"):
		m.kind = matchSubsystem
		return m
	case t.Value == "":
		m.kind = matchEmpty
		return m
	case t.Value == "?*":
		m.kind = matchEmpty
		m.op = invert(t.Op)
	case strings.ContainsAny(t.Value, "*?["):
		m.kind = matchGlob
	default:
		m.kind = matchPlain
	}
	if t.Type < TypeMTest || t.Type == TypeMResult {
		var empty bool
		m.alts, empty = splitAlternatives(t.Value)
		if empty && m.kind == matchGlob {
			m.kind = matchGlobWithEmpty
		}
		if empty && m.kind == matchPlain {
			m.kind = matchPlainWithEmpty
		}
	}
	return m
}

func invert(op Op) Op {
	if op == OpMatch {
		return OpNomatch
	}
	return OpMatch
}

// splitAlternatives splits at '|', reporting whether an alternative was
// empty.
func splitAlternatives(v string) (alts []string, empty bool) {
	for _, a := range strings.Split(v, "|") {
		if a == "" {
			empty = true
			continue
		}
		alts = append(alts, a)
	}
	return alts, empty
}

// firstAlternative is what strlen sees of the value after udevd turned
// it into a NUL-separated list: its first non-empty alternative. udevd
// decides whether ATTR{} matching trims trailing whitespace from it.
func firstAlternative(t Token) string {
	if t.Type >= TypeMTest && t.Type != TypeMResult {
		return t.Value
	}
	alts, _ := splitAlternatives(t.Value)
	if len(alts) == 0 {
		return ""
	}
	return alts[0]
}

// matches is token_match_string: whether the token holds for s (a
// missing value is "").
func (m matcher) matches(s string) bool {
	var hit bool
	switch m.kind {
	case matchEmpty:
		hit = s == ""
	case matchSubsystem:
		hit = s == "subsystem" || s == "class" || s == "bus"
	case matchPlainWithEmpty, matchGlobWithEmpty:
		hit = s == "" || m.anyAlt(s)
	default:
		hit = m.anyAlt(s)
	}
	return hit == (m.op == OpMatch)
}

func (m matcher) anyAlt(s string) bool {
	glob := m.kind == matchGlob || m.kind == matchGlobWithEmpty
	for _, a := range m.alts {
		if glob && fnmatch.Match(a, s) || !glob && a == s {
			return true
		}
	}
	return false
}

// matchesAny is udevd's test of a list (SYMLINK==, TAG==, TAGS==): ==
// holds when some element matches, != when no element matches.
func (m matcher) matchesAny(values []string) bool {
	for _, v := range values {
		if m.matches(v) == (m.op == OpMatch) {
			return m.op == OpMatch
		}
	}
	return m.op == OpNomatch
}
