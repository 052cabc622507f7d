package builtin

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// The string cleaning udev applies to identifiers read from hardware
// (udev-util.c, device-nodes.c), so that they fit in device node and
// symlink names.

// replaceWhitespace is udev_replace_whitespace: leading white space
// dropped, each run of white space inside one '_', trailing white space
// dropped; at most n bytes of s are read (counting the leading white
// space) and at most n written.
func replaceWhitespace(s string, n int) string {
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

// utf8Len is utf8_encoded_valid_unichar: the length of the valid
// multi-byte character s starts with, or 0 (ASCII, invalid, truncated, or
// a code point systemd refuses: surrogates, U+FDD0..U+FDEF and every
// U+xFFFE/U+xFFFF).
func utf8Len(s string) int {
	if s == "" || s[0] < 0x80 {
		return 0
	}
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError && n <= 1 {
		return 0
	}
	if r >= 0xfdd0 && r <= 0xfdef || r&0xfffe == 0xfffe {
		return 0
	}
	return n
}

// replaceChars is udev_replace_chars with no extra characters allowed:
// devnodeChar bytes, "\x" escapes and valid UTF-8 stay, every other byte
// becomes '_'.
func replaceChars(s string) string {
	b := []byte(s)
	for i := 0; i < len(b); {
		switch n := utf8Len(string(b[i:])); {
		case devnodeChar(b[i]):
			i++
		case b[i] == '\\' && i+1 < len(b) && b[i+1] == 'x':
			i += 2
		case n > 1:
			i += n
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
