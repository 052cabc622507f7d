package modalias

import (
	"slices"
	"sort"
	"strings"

	"github.com/gudevd/gudevd/internal/fnmatch"
)

// patternSet answers "which of these index keys match this string" without
// trying every key. The keys are kept sorted, which makes them an implicit
// trie: the keys sharing their first d bytes form one contiguous run, and
// the run of keys continuing with byte c is found by binary search. A
// lookup walks that trie along the string, branching into '*', '?' and
// bracket runs as the glob grammar says, so of ~26,000 modules.alias keys
// only the few whose literal parts fit the string are ever looked at.
//
// Keys whose glob cannot be walked token by token (a bracket expression
// that is unterminated or uses [:class:], [=c=] or [.c.], or a trailing
// backslash) go to slow and are tried one by one with kmodMatch.
type patternSet struct {
	keys []string // sorted, unique, trie-safe
	slow []string // everything else
}

// literalPrefixLen returns the length of the part of an index key that
// libkmod's trie walk compares byte by byte: everything before the first
// '*', '?' or '['. A backslash there is an ordinary byte.
func literalPrefixLen(p string) int {
	if i := strings.IndexAny(p, "*?["); i >= 0 {
		return i
	}
	return len(p)
}

// kmodMatch reports whether key matches the index key p the way libkmod's
// index_searchwild does: the literal prefix must equal the key's start,
// and the rest is handed to fnmatch.
func kmodMatch(p, key string) bool {
	l := literalPrefixLen(p)
	if !strings.HasPrefix(key, p[:l]) {
		return false
	}
	if l == len(p) {
		return len(key) == l
	}
	return fnmatch.Match(p[l:], key[l:])
}

// at returns p[i], or NUL past the end, so that bracketLen can read a key
// the way glibc walks its NUL-terminated pattern.
func at(p string, i int) byte {
	if i < len(p) {
		return p[i]
	}
	return 0
}

// newPatternSet sorts and deduplicates keys (it reorders the slice) and
// returns the set with, for each key of set.keys and set.slow in that
// order, the index of that key in the original slice's first occurrence.
func newPatternSet(keys []string) patternSet {
	slices.Sort(keys)
	keys = slices.Compact(keys)
	var ps patternSet
	n := 0
	for _, k := range keys {
		if trieSafe(k) {
			keys[n] = k
			n++
		} else {
			ps.slow = append(ps.slow, k)
		}
	}
	ps.keys = keys[:n:n]
	return ps
}

// trieSafe reports whether every bracket expression after the literal
// prefix is terminated and plain, so that it is one token whose length
// does not depend on the character it is matched against.
func trieSafe(p string) bool {
	for i := literalPrefixLen(p); i < len(p); i++ {
		switch p[i] {
		case '\\':
			if i+1 == len(p) {
				return false
			}
			i++
		case '[':
			n, ok := bracketLen(p, i)
			if !ok {
				return false
			}
			i += n - 1
		}
	}
	return true
}

// bracketLen returns the length of the bracket expression starting at
// p[i] == '[' when it is plain and terminated.
func bracketLen(p string, i int) (int, bool) {
	j := i + 1
	if at(p, j) == '!' || at(p, j) == '^' {
		j++
	}
	first := true
	for {
		c := at(p, j)
		switch {
		case c == 0:
			return 0, false
		case c == '[' && (at(p, j+1) == ':' || at(p, j+1) == '=' || at(p, j+1) == '.'):
			return 0, false
		case c == '\\':
			if at(p, j+1) == 0 {
				return 0, false
			}
			j += 2
		case c == ']' && !first:
			return j + 1 - i, true
		default:
			j++
		}
		first = false
		// A range end may be an escaped ']' or a '-': skip it as a unit
		// the way glibc reads it.
		if at(p, j) == '-' && at(p, j+1) != ']' && at(p, j+1) != 0 {
			j++
			if at(p, j) == '\\' {
				if at(p, j+1) == 0 {
					return 0, false
				}
				j++
			}
			if at(p, j) == '[' && (at(p, j+1) == ':' || at(p, j+1) == '=' || at(p, j+1) == '.') {
				return 0, false
			}
			j++
		}
	}
}

// visit is one match as libkmod's index walk finds it: key matched, and
// glob is the position in key of the wildcard where the walk switched
// from comparing bytes to fnmatch (len(key) for a key without one).
// libkmod can find a key twice through different positions; each visit
// counts, as each adds the key's values to its result again.
type visit struct {
	key  string
	glob int
}

// matcher holds one lookup's scratch state.
type matcher struct {
	ps   *patternSet
	key  string
	out  []visit
	seen []starVisit
}

// starVisit records that the '*' run starting at keys[lo] with depth d
// was already expanded from key position k for the glob begun at glob:
// expanding it again from any later position can only find a subset.
type starVisit struct{ lo, d, k, glob int }

// match appends to out every visit libkmod's index_searchwild makes for
// s, in no particular order.
func (ps *patternSet) match(s string, out []visit) []visit {
	m := matcher{ps: ps, key: s, out: out}
	m.walk(0, len(ps.keys), 0, 0, -1)
	for _, p := range ps.slow {
		m.slowVisits(p)
	}
	slices.SortFunc(m.out, func(a, b visit) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return a.glob - b.glob
	})
	return slices.Compact(m.out)
}

// slowVisits makes libkmod's visits of one slow key p: the string is
// compared with p byte by byte; at each wildcard of p the rest goes to
// fnmatch, and the walk goes on past the wildcard, comparing bytes, only
// where libkmod's does: where the string has the same byte and the trie
// branches (see walk). A key reached that way to its end matches a string
// that ends there too.
func (m *matcher) slowVisits(p string) {
	s := m.key
	for d := 0; ; d++ {
		if d == len(p) {
			if len(s) == d {
				m.out = append(m.out, visit{p, d})
			}
			return
		}
		c := p[d]
		if c == '*' || c == '?' || c == '[' {
			if fnmatch.Match(p[d:], s[d:]) {
				m.out = append(m.out, visit{p, d})
			}
			if d == len(s) || s[d] != c || !m.boundary(p[:d]) {
				return
			}
		} else if d == len(s) || s[d] != c {
			return
		}
	}
}

// boundary reports whether depmod's radix trie has a node at the end of
// prefix, whose children are labelled with the next byte: at the root, and
// where, of all keys (trie-safe and slow) with that prefix, one ends there
// or two continue with different bytes.
func (m *matcher) boundary(prefix string) bool {
	d := len(prefix)
	if d == 0 {
		return true
	}
	keys := m.ps.keys
	lo, _ := slices.BinarySearch(keys, prefix)
	n := sort.Search(len(keys)-lo, func(i int) bool { return !strings.HasPrefix(keys[lo+i], prefix) })
	var next []byte
	if n > 0 {
		if len(keys[lo]) == d {
			return true
		}
		next = append(next, keys[lo][d], keys[lo+n-1][d])
	}
	for _, p := range m.ps.slow {
		if strings.HasPrefix(p, prefix) {
			if len(p) == d {
				return true
			}
			next = append(next, p[d])
		}
	}
	return slices.Min(next) != slices.Max(next)
}

// emit records keys as visits for the glob begun at glob.
func (m *matcher) emit(keys []string, glob int) {
	for _, k := range keys {
		m.out = append(m.out, visit{k, glob})
	}
}

// walk visits the keys in [lo, hi), which all share their first d bytes
// and have consumed key[:k]. glob is -1 while the walk still compares
// bytes (libkmod's searchwild_node, where a backslash is a plain byte),
// else the depth where the glob began.
func (m *matcher) walk(lo, hi, d, k, glob int) {
	keys := m.ps.keys
	// Keys of length d sort first; they match if the string ended too.
	t := lo
	for t < hi && len(keys[t]) == d {
		t++
	}
	if k == len(m.key) {
		if glob < 0 {
			m.emit(keys[lo:t], d)
		} else {
			m.emit(keys[lo:t], glob)
		}
	}
	if t == hi {
		return
	}
	var c byte
	if k < len(m.key) {
		c = m.key[k]
	}
	inGlob := glob >= 0
	g := glob
	if !inGlob {
		g = d
	}
	if a, b := byteRun(keys, t, hi, d, '*'); a < b {
		m.star(a, b, d+1, k, g)
	}
	if k < len(m.key) {
		if a, b := byteRun(keys, t, hi, d, '?'); a < b {
			m.walk(a, b, d+1, k+1, g)
		}
		if a, b := byteRun(keys, t, hi, d, '['); a < b {
			m.brackets(a, b, d, k, g)
		}
		if inGlob {
			if a, b := byteRun(keys, t, hi, d, '\\'); a < b {
				for a < b && len(keys[a]) == d+1 {
					a++ // a trailing backslash never matches
				}
				if a, b := byteRun(keys, a, b, d+1, c); a < b {
					m.walk(a, b, d+2, k+1, glob)
				}
			}
		}
	}
	if k == len(m.key) {
		return
	}
	switch {
	case c == '\\' && inGlob:
	case c == '*' || c == '?' || c == '[':
		// libkmod follows the child edge labelled with the string's
		// byte even when it is a wildcard, but only where the trie
		// branches: inside a node's compressed prefix the wildcard
		// always starts fnmatch.
		if inGlob || !m.branches(lo, hi, t, d) {
			return
		}
		fallthrough
	default:
		if a, b := byteRun(keys, t, hi, d, c); a < b {
			m.walk(a, b, d+1, k+1, glob)
		}
	}
}

// branches reports whether depth d is a node boundary of depmod's radix
// trie for the keys sharing the string's first d bytes (keys[lo:hi], plus
// any slow keys): the root, or a prefix that ends a key or continues in
// two ways.
func (m *matcher) branches(lo, hi, t, d int) bool {
	keys := m.ps.keys
	if d == 0 || t > lo || keys[t][d] != keys[hi-1][d] {
		return true
	}
	for _, p := range m.ps.slow {
		if len(p) >= d && p[:d] == m.key[:d] && (len(p) == d || p[d] != keys[t][d]) {
			return true
		}
	}
	return false
}

// star expands a '*' whose followers are keys[lo:hi] from depth d: the
// rest of the key may start at any position from k on. When every
// follower continues with a plain byte, only positions holding one of
// those bytes are tried, which keeps "*sv*sd*bc*" runs cheap.
func (m *matcher) star(lo, hi, d, k, glob int) {
	for _, v := range m.seen {
		if v.lo == lo && v.d == d && v.glob == glob && v.k <= k {
			return
		}
	}
	m.seen = append(m.seen, starVisit{lo, d, k, glob})
	keys := m.ps.keys
	t := lo
	for t < hi && len(keys[t]) == d {
		t++
	}
	if t > lo {
		m.emit(keys[lo:t], glob) // a trailing '*' matches the rest
	}
	if t == hi {
		return
	}
	for _, c := range []byte{'*', '?', '[', '\\'} {
		if a, b := byteRun(keys, t, hi, d, c); a < b {
			for ; k <= len(m.key); k++ {
				m.walk(t, hi, d, k, glob)
			}
			return
		}
	}
	first, last := keys[t][d], keys[hi-1][d]
	for ; k < len(m.key); k++ {
		if first == last {
			i := strings.IndexByte(m.key[k:], first)
			if i < 0 {
				return
			}
			k += i
		} else if c := m.key[k]; c < first || c > last {
			continue
		}
		m.walk(t, hi, d, k, glob)
	}
}

// brackets splits keys[lo:hi], all with '[' at depth d, into runs of the
// same bracket expression and follows those containing key[k].
func (m *matcher) brackets(lo, hi, d, k, glob int) {
	keys := m.ps.keys
	for lo < hi {
		n, ok := bracketLen(keys[lo], d)
		if !ok {
			// Only reachable after libkmod's literal descent through a
			// wildcard put the glob where trieSafe did not look: let
			// fnmatch decide, as libkmod does.
			if fnmatch.Match(keys[lo][d:], m.key[k:]) {
				m.out = append(m.out, visit{keys[lo], glob})
			}
			lo++
			continue
		}
		tok := keys[lo][d : d+n]
		end := lo + 1
		for end < hi && strings.HasPrefix(keys[end][d:], tok) {
			end++
		}
		if fnmatch.Match(tok, m.key[k:k+1]) {
			m.walk(lo, end, d+n, k+1, glob)
		}
		lo = end
	}
}

// byteRun returns the run of keys[lo:hi] whose byte at d is c; all of
// them are longer than d.
func byteRun(keys []string, lo, hi, d int, c byte) (int, int) {
	if lo == hi || keys[lo][d] > c || keys[hi-1][d] < c {
		return lo, lo
	}
	if hi-lo <= 8 {
		a := lo
		for a < hi && keys[a][d] < c {
			a++
		}
		b := a
		for b < hi && keys[b][d] == c {
			b++
		}
		return a, b
	}
	a, b := lo, hi
	for a < b {
		mid := int(uint(a+b) >> 1)
		if keys[mid][d] < c {
			a = mid + 1
		} else {
			b = mid
		}
	}
	start := a
	b = hi
	for a < b {
		mid := int(uint(a+b) >> 1)
		if keys[mid][d] <= c {
			a = mid + 1
		} else {
			b = mid
		}
	}
	return start, a
}
