package rules

import (
	"errors"
	"strings"

	"github.com/gudevd/gudevd/rules/builtin"
)

// errBadEscape is cunescape's -EINVAL for an e"…" value.
var errBadEscape = errors.New("invalid escape sequence")

// cUnescape is systemd's cunescape with no flags, as e"…" values take it:
// \a \b \f \n \r \t \v \\ \" \' \s (a space), \xHH and \OOO bytes, \uHHHH
// and \UHHHHHHHH code points in UTF-8. NUL, a trailing backslash and any
// other escape make the value, and so the line, invalid.
func cUnescape(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		n, err := unescapeOne(&b, s[i+1:])
		if err != nil {
			return "", err
		}
		i += n
	}
	return b.String(), nil
}

// simpleEscapes are cunescape_one's one-letter escapes.
var simpleEscapes = map[byte]byte{
	'a': '\a', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t', 'v': '\v',
	'\\': '\\', '"': '"', '\'': '\'', 's': ' ',
}

// unescapeOne is cunescape_one: it writes the character s starts with
// and returns how many bytes of s it took.
func unescapeOne(b *strings.Builder, s string) (int, error) {
	if s == "" {
		return 0, errBadEscape
	}
	if c, ok := simpleEscapes[s[0]]; ok {
		b.WriteByte(c)
		return 1, nil
	}
	switch c := s[0]; {
	case c == 'x':
		v, ok := digits(s[1:], 2, 16)
		if !ok || v == 0 {
			return 0, errBadEscape
		}
		b.WriteByte(byte(v))
		return 3, nil
	case c == 'u' || c == 'U':
		n := 4
		if c == 'U' {
			n = 8
		}
		v, ok := digits(s[1:], n, 16)
		if !ok || v == 0 || (c == 'U' && !builtin.ValidUnichar(rune(v))) {
			return 0, errBadEscape
		}
		writeUTF8(b, v)
		return n + 1, nil
	case c >= '0' && c <= '7':
		v, ok := digits(s, 3, 8)
		if !ok || v == 0 || v > 255 {
			return 0, errBadEscape
		}
		b.WriteByte(byte(v))
		return 3, nil
	}
	return 0, errBadEscape
}

// digits reads exactly n digits of base (8 or 16).
func digits(s string, n int, base uint32) (uint32, bool) {
	if len(s) < n {
		return 0, false
	}
	var v uint32
	for i := range n {
		d, ok := digitValue(s[i])
		if !ok || d >= base {
			return 0, false
		}
		v = v*base + d
	}
	return v, true
}

// digitValue is c as a hex digit, for the escapes and for strtoul.
func digitValue(c byte) (uint32, bool) {
	switch {
	case c >= '0' && c <= '9':
		return uint32(c - '0'), true
	case c >= 'a' && c <= 'f':
		return uint32(c-'a') + 10, true
	case c >= 'A' && c <= 'F':
		return uint32(c-'A') + 10, true
	}
	return 0, false
}

// writeUTF8 is utf8_encode_unichar, which encodes surrogates as they are
// (Go's encoder would replace them).
func writeUTF8(b *strings.Builder, c uint32) {
	switch {
	case c < 0x80:
		b.WriteByte(byte(c))
	case c < 0x800:
		b.WriteByte(byte(0xc0 | c>>6))
		b.WriteByte(byte(0x80 | c&0x3f))
	case c < 0x10000:
		b.WriteByte(byte(0xe0 | c>>12))
		b.WriteByte(byte(0x80 | (c>>6)&0x3f))
		b.WriteByte(byte(0x80 | c&0x3f))
	default:
		b.WriteByte(byte(0xf0 | c>>18))
		b.WriteByte(byte(0x80 | (c>>12)&0x3f))
		b.WriteByte(byte(0x80 | (c>>6)&0x3f))
		b.WriteByte(byte(0x80 | c&0x3f))
	}
}
