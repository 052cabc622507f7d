package fnmatch

import "strings"

// Match reports whether name matches the shell pattern exactly as glibc's
// fnmatch(pattern, name, 0) does in the C locale. With flags 0 a '*' also
// matches '/' and a leading '.', a backslash escapes the next character,
// and '{' has no meaning. A NUL ends either string, as in C.
func Match(pattern, name string) bool {
	if i := strings.IndexByte(pattern, 0); i >= 0 {
		pattern = pattern[:i]
	}
	if i := strings.IndexByte(name, 0); i >= 0 {
		name = name[:i]
	}
	return matchAt(pattern, 0, name, 0)
}

// at returns s[i], or NUL past the end, so the code below can read the
// pattern the way glibc walks its NUL-terminated string.
func at(s string, i int) byte {
	if i < len(s) {
		return s[i]
	}
	return 0
}

func matchAt(p string, pi int, s string, si int) bool {
	for pi < len(p) {
		c := p[pi]
		pi++
		switch c {
		case '?':
			if si == len(s) {
				return false
			}
			si++
		case '\\':
			if pi == len(p) {
				return false // glibc: a trailing backslash never matches
			}
			if si == len(s) || s[si] != p[pi] {
				return false
			}
			pi++
			si++
		case '*':
			return starMatch(p, pi, s, si)
		case '[':
			if si == len(s) {
				return false
			}
			switch r, next := bracket(p, pi, s[si]); r {
			case bracketMatch:
				pi = next
				si++
			case bracketLiteral:
				if s[si] != '[' {
					return false
				}
				si++
			default:
				return false
			}
		default:
			if si == len(s) || s[si] != c {
				return false
			}
			si++
		}
	}
	return si == len(s)
}

// starMatch continues after a '*' at p[pi-1]: further '*' are absorbed and
// each '?' consumes one character, then every later position is tried.
func starMatch(p string, pi int, s string, si int) bool {
	for pi < len(p) && (p[pi] == '*' || p[pi] == '?') {
		if p[pi] == '?' {
			if si == len(s) {
				return false
			}
			si++
		}
		pi++
	}
	if pi == len(p) {
		return true
	}
	c := p[pi]
	if c == '[' {
		for ; si < len(s); si++ {
			if matchAt(p, pi, s, si) {
				return true
			}
		}
		return false
	}
	if c == '\\' {
		c = at(p, pi+1)
	}
	for ; si < len(s); si++ {
		if s[si] == c && matchAt(p, pi, s, si) {
			return true
		}
	}
	return false
}

type bracketResult int

const (
	bracketNoMatch bracketResult = iota // the whole fnmatch fails
	bracketMatch                        // ch is in the set; continue at next
	bracketLiteral                      // unterminated: '[' is an ordinary character
)

// charClassMax is glibc's CHAR_CLASS_MAX_LENGTH.
const charClassMax = 256

// bracket evaluates the bracket expression whose '[' is at p[pi-1] against
// ch, following glibc's single-byte C-locale loop: '!' or '^' negates, the
// first member may be ']', ranges compare byte values, backslash escapes,
// [:class:], [=c=] and [.c.] are understood, and an unterminated expression
// makes '[' literal unless a member matched first.
func bracket(p string, pi int, ch byte) (bracketResult, int) {
	start := pi
	not := at(p, pi) == '!' || at(p, pi) == '^'
	if not {
		pi++
	}
	c := at(p, pi)
	pi++
	for {
		var cold byte
		isRange := false
		switch {
		case c == '\\':
			if at(p, pi) == 0 {
				return bracketNoMatch, 0
			}
			c = at(p, pi)
			pi++
			goto normal
		case c == '[' && at(p, pi) == ':':
			startp := pi
			var name []byte
			for {
				if len(name) == charClassMax {
					return bracketNoMatch, 0
				}
				pi++
				c = at(p, pi)
				if c == ':' && at(p, pi+1) == ']' {
					pi += 2
					break
				}
				if c < 'a' || c >= 'z' {
					pi = startp
					c = '['
					goto normal
				}
				name = append(name, c)
			}
			in, ok := inClass(string(name), ch)
			if !ok {
				return bracketNoMatch, 0
			}
			if in {
				goto matched
			}
			c = at(p, pi)
			pi++
			goto next
		case c == '[' && at(p, pi) == '=':
			startp := pi
			pi++
			c = at(p, pi)
			if c == 0 {
				pi = startp
				c = '['
				goto normal
			}
			eq := c
			pi++
			c = at(p, pi)
			if c != '=' || at(p, pi+1) != ']' {
				pi = startp
				c = '['
				goto normal
			}
			pi += 2
			if ch == eq {
				goto matched
			}
			c = at(p, pi)
			pi++
			goto next
		case c == 0:
			return bracketLiteral, start
		case c == '[' && at(p, pi) == '.':
			startp := pi
			n := 0
			for {
				pi++
				c = at(p, pi)
				if c == '.' && at(p, pi+1) == ']' {
					pi += 2
					break
				}
				if c == 0 {
					return bracketNoMatch, 0
				}
				n++
			}
			isRange = at(p, pi) == '-' && at(p, pi+1) != 0
			if n != 1 {
				return bracketNoMatch, 0
			}
			if !isRange && ch == p[startp+1] {
				goto matched
			}
			cold = p[startp+1]
			c = at(p, pi)
			pi++
			goto rangeCheck
		}
	normal:
		isRange = at(p, pi) == '-' && at(p, pi+1) != 0 && at(p, pi+1) != ']'
		if !isRange && c == ch {
			goto matched
		}
		cold = c
		c = at(p, pi)
		pi++
	rangeCheck:
		if c == '-' && at(p, pi) != ']' {
			cend := at(p, pi)
			pi++
			if cend == '\\' {
				cend = at(p, pi)
				pi++
			}
			if cend == 0 {
				return bracketNoMatch, 0
			}
			if cold <= ch && ch <= cend {
				goto matched
			}
			c = at(p, pi)
			pi++
		}
	next:
		if c == ']' {
			break
		}
	}
	if !not {
		return bracketNoMatch, 0
	}
	return bracketMatch, pi

matched:
	// Skip the rest of the expression; glibc gives up on an unterminated
	// one here instead of falling back to a literal '['.
	for {
		c := at(p, pi)
		pi++
		if c == ']' {
			break
		}
		switch {
		case c == 0:
			return bracketNoMatch, 0
		case c == '\\':
			if at(p, pi) == 0 {
				return bracketNoMatch, 0
			}
			pi++
		case c == '[' && at(p, pi) == ':':
			end := strings.Index(p[pi:], ":]")
			if end < 0 {
				return bracketNoMatch, 0
			}
			pi += end + 2
		case c == '[' && at(p, pi) == '=':
			if at(p, pi+1) == 0 || at(p, pi+2) != '=' || at(p, pi+3) != ']' {
				return bracketNoMatch, 0
			}
			pi += 4
		case c == '[' && at(p, pi) == '.':
			end := strings.Index(p[pi+1:], ".]")
			if end < 0 {
				return bracketNoMatch, 0
			}
			pi += 1 + end + 2
		}
	}
	if not {
		return bracketNoMatch, 0
	}
	return bracketMatch, pi
}

// inClass reports whether ch belongs to the POSIX class name in the C
// locale; ok is false for a name wctype(3) does not know.
func inClass(name string, ch byte) (in, ok bool) {
	upper := 'A' <= ch && ch <= 'Z'
	lower := 'a' <= ch && ch <= 'z'
	digit := '0' <= ch && ch <= '9'
	switch name {
	case "alnum":
		return upper || lower || digit, true
	case "alpha":
		return upper || lower, true
	case "blank":
		return ch == ' ' || ch == '\t', true
	case "cntrl":
		return ch < 0x20 || ch == 0x7f, true
	case "digit":
		return digit, true
	case "graph":
		return ch > 0x20 && ch < 0x7f, true
	case "lower":
		return lower, true
	case "print":
		return ch >= 0x20 && ch < 0x7f, true
	case "punct":
		return ch > 0x20 && ch < 0x7f && !upper && !lower && !digit, true
	case "space":
		return ch == ' ' || (ch >= '\t' && ch <= '\r'), true
	case "upper":
		return upper, true
	case "xdigit":
		return digit || ('a' <= ch && ch <= 'f') || ('A' <= ch && ch <= 'F'), true
	}
	return false, false
}
