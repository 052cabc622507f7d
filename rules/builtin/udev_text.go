package builtin

import (
	"fmt"
	"strings"
)

// The string cleaning udev applies to identifiers read from hardware and
// to the values of its rules (udev-util.c, device-nodes.c, utf8.c), so
// that they fit in device node and symlink names. The rules engine uses
// ReplaceWhitespace, ReplaceChars and ValidUnichar from here: one
// implementation for the builtins and the rules.

// ReplaceWhitespace is udev_replace_whitespace: leading white space
// dropped, each run of white space inside one '_', trailing white space
// dropped; at most n bytes of s are read (counting the leading white
// space) and at most n written.
func ReplaceWhitespace(s string, n int) string {
	i := len(s) - len(strings.TrimLeft(s, " \t\n\r"))
	out := make([]byte, 0, min(n, len(s)))
	space := false
	for ; len(out) < n && i < n && i < len(s); i++ {
		c := s[i]
		if strings.IndexByte(cSpace, c) >= 0 {
			space = true
			continue
		}
		if space {
			if len(out)+1 >= n {
				break
			}
			out = append(out, '_')
			space = false
		}
		out = append(out, c)
	}
	return string(out)
}

// devnodeChar reports whether udev keeps c in a name as it is: ASCII
// letters and digits and "#+-.:=@_".
func devnodeChar(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' ||
		strings.IndexByte("#+-.:=@_", c) >= 0
}

// utf8Len is utf8_encoded_valid_unichar: the length of the character s
// starts with (1 for ASCII), or 0 when it is not valid by systemd's
// checks, which only require the high bit of each continuation byte,
// allow up to six bytes by the lead byte and reject non-shortest forms
// and what ValidUnichar refuses.
func utf8Len(s string) int {
	n := utf8ExpectedLen(s[0])
	if n <= 1 {
		return n
	}
	if n > len(s) {
		return 0
	}
	u := rune(s[0]) & (0x7f >> n)
	for i := 1; i < n; i++ {
		if s[i]&0x80 == 0 {
			return 0
		}
		u = u<<6 | rune(s[i])&0x3f
	}
	if encodedLen(u) != n || !ValidUnichar(u) {
		return 0
	}
	return n
}

// utf8ExpectedLen is utf8_encoded_expected_len: the length a lead byte
// announces, 0 for a continuation byte or 0xfe/0xff.
func utf8ExpectedLen(c byte) int {
	switch {
	case c < 0x80:
		return 1
	case c&0xe0 == 0xc0:
		return 2
	case c&0xf0 == 0xe0:
		return 3
	case c&0xf8 == 0xf0:
		return 4
	case c&0xfc == 0xf8:
		return 5
	case c&0xfe == 0xfc:
		return 6
	}
	return 0
}

// encodedLen is utf8_unichar_to_encoded_len.
func encodedLen(u rune) int {
	switch {
	case u < 0x80:
		return 1
	case u < 0x800:
		return 2
	case u < 0x10000:
		return 3
	case u < 0x200000:
		return 4
	case u < 0x4000000:
		return 5
	}
	return 6
}

// ValidUnichar is unichar_is_valid: below U+110000 and none of the
// surrogates, U+FDD0..U+FDEF and U+xFFFE/U+xFFFF.
func ValidUnichar(u rune) bool {
	return u >= 0 && u < 0x110000 && u&^0x7ff != 0xd800 && !(u >= 0xfdd0 && u <= 0xfdef) && u&0xfffe != 0xfffe
}

// ReplaceChars is udev_replace_chars: letters, digits, "#+-.:=@_", the
// bytes of allow, "\x" escapes and valid UTF-8 stay; whitespace becomes
// ' ' when allow has ' '; any other byte becomes '_'.
func ReplaceChars(s, allow string) string {
	b := []byte(s)
	for i := 0; i < len(b); {
		c := b[i]
		n := 1
		if c >= 0x80 { // a character is 6 bytes at most: no copy of the rest
			n = utf8Len(string(b[i:min(i+6, len(b))]))
		}
		switch {
		case devnodeChar(c) || strings.IndexByte(allow, c) >= 0:
			i++
		case c == '\\' && i+1 < len(b) && b[i+1] == 'x':
			i += 2
		case n > 1:
			i += n
		case strings.IndexByte(cSpace, c) >= 0 && strings.IndexByte(allow, ' ') >= 0:
			b[i] = ' '
			i++
		default:
			b[i] = '_'
			i++
		}
	}
	return string(b)
}

// encodeDevnodeName is encode_devnode_name into udevd's 256-byte buffer:
// valid UTF-8 and devnodeChar bytes stay, every other byte (and '\') is
// written \xNN. Where udevd's buffer would overflow it fails and leaves
// an unterminated buffer; this returns what fitted.
func encodeDevnodeName(s string) string {
	const size = 256
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if n := utf8Len(s[i:]); n > 1 {
			if size-b.Len() < n {
				break
			}
			b.WriteString(s[i : i+n])
			i += n - 1
			continue
		}
		if s[i] == '\\' || !devnodeChar(s[i]) {
			if size-b.Len() < 4 {
				break
			}
			fmt.Fprintf(&b, "\\x%02x", s[i])
			continue
		}
		if size-b.Len() < 1 {
			break
		}
		b.WriteByte(s[i])
	}
	out := b.String()
	if len(out) >= size {
		out = out[:size-1] // no room left for the NUL
	}
	return out
}
