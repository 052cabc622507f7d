package builtin

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// blkidBufSize is the size of udevd's buffer for a converted value
// (char s[256]); libblkid stops converting where it would overflow.
const blkidBufSize = 256

// blkidEncodeString is libblkid's blkid_encode_string into udevd's
// buffer: valid UTF-8 sequences of more than one byte and the ASCII
// letters, digits and "#+-.:=@_" stay, every other byte (the backslash
// too) becomes \xNN. libblkid gives up once fewer than four bytes of the
// buffer are left after a character; udevd then uses what was written
// (which libblkid leaves unterminated: the C result depends on the stack,
// this keeps the written part).
func blkidEncodeString(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && s[i] != 0; {
		if n := utf8ValidChar(s[i:]); n > 1 {
			b.WriteString(s[i : i+n])
			i += n
		} else {
			if c := s[i]; c != '\\' && devnodeChar(c) {
				b.WriteByte(c)
			} else {
				fmt.Fprintf(&b, "\\x%02x", c)
			}
			i++
		}
		if b.Len()+3 >= blkidBufSize {
			break
		}
	}
	return b.String()
}

// blkidSafeString is libblkid's blkid_safe_string into udevd's buffer:
// whitespace trimmed at both ends and runs of it cut to their first
// character, then every whitespace character (C locale isspace) replaced
// by '_', as is every byte that does not start a valid UTF-8 sequence;
// the other control characters stay. At most 255 bytes are kept.
func blkidSafeString(s string) string {
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	b := []byte(normalizeWhitespace(s, blkidBufSize-1))
	for i := 0; i < len(b); {
		switch c := b[i]; {
		case c > 0x20 && c <= 0x7e:
			i++
		case isCSpace(c):
			b[i] = '_'
			i++
		default:
			if n := utf8ValidChar(string(b[i:])); n >= 1 {
				i += n
			} else {
				b[i] = '_'
				i++
			}
		}
	}
	return string(b)
}

// normalizeWhitespace is util-linux's __normalize_whitespace with an
// output of max bytes: leading whitespace dropped, of a run of it inside
// the text only its first character kept, and a trailing one dropped.
// The input is read up to max+1 bytes as strnlen(str, 256) reads it.
func normalizeWhitespace(s string, max int) string {
	if len(s) > max+1 {
		s = s[:max+1]
	}
	out := make([]byte, 0, len(s))
	spaces, inText := 0, false
	for i := 0; i < len(s) && len(out) < max; i++ {
		if isCSpace(s[i]) {
			spaces++
		} else {
			spaces, inText = 0, true
		}
		if spaces > 1 || spaces == 1 && !inText {
			continue
		}
		out = append(out, s[i])
	}
	if spaces > 0 && len(out) > 0 {
		out = out[:len(out)-1]
	}
	return string(out)
}

// cSpace is isspace in the C locale.
func isCSpace(c byte) bool {
	return c == ' ' || c >= '\t' && c <= '\r'
}

// utf8ValidChar is libblkid's utf8_encoded_valid_unichar: the length of
// the valid UTF-8 sequence s starts with, 1 for any ASCII byte, -1 for
// none. Its checks (shortest form, no surrogates, nothing above U+10FFFF;
// the five- and six-byte forms it knows always exceed that) are Go's,
// and besides it refuses the noncharacters U+FDD0..U+FDEF and U+xFFFF,
// but, unlike systemd's utf8Len, takes U+xFFFE.
func utf8ValidChar(s string) int {
	if s[0] < 0x80 {
		return 1
	}
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError && n <= 1 || r >= 0xfdd0 && r <= 0xfdef || r&0xffff == 0xffff {
		return -1
	}
	return n
}
