package builtin

import (
	"errors"
	"strings"
)

// ErrBadNumber: an attribute a builtin needs as a number does not parse.
var ErrBadNumber = errors.New("invalid number")

// Attribute values are numbers the builtins parse as udevd does, with
// libc's strtoul/strtol behind systemd's safe_ato* wrappers: leading
// white space, a sign, a 0x prefix in base 16 (and base 0, where a leading
// 0 means octal and systemd adds 0b and 0o), and nothing after the digits.

// cSpace is C's isspace in the C locale.
const cSpace = " \t\n\v\f\r"

// strtoull reads s as strtoull(s, &end, base) followed by a check that end
// is the end of s: the magnitude, whether a '-' preceded it, and false
// when there are no digits, anything follows them or the value overflows.
func strtoull(s string, base int) (mag uint64, neg, ok bool) {
	s = strings.TrimLeft(s, cSpace)
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	hasHex := len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && digitValue(s[2]) < 16
	switch {
	case (base == 0 || base == 16) && hasHex:
		base, s = 16, s[2:]
	case base == 0 && len(s) > 1 && s[0] == '0':
		base = 8
	case base == 0:
		base = 10
	}
	if s == "" {
		return 0, neg, false
	}
	for i := 0; i < len(s); i++ {
		d := uint64(digitValue(s[i]))
		if d >= uint64(base) {
			return 0, neg, false
		}
		if mag > (^uint64(0)-d)/uint64(base) {
			return 0, neg, false // ERANGE
		}
		mag = mag*uint64(base) + d
	}
	return mag, neg, true
}

// digitValue is a digit's value in bases up to 36, 36 for a non-digit.
func digitValue(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10
	}
	return 36
}

// mangleBase is systemd's addition for base 0: "0b" and "0o" prefixes.
func mangleBase(s string, base int) (string, int) {
	if base != 0 {
		return s, base
	}
	for _, p := range []struct {
		prefix string
		base   int
	}{{"0b", 2}, {"0B", 2}, {"0o", 8}, {"0O", 8}} {
		if rest, ok := strings.CutPrefix(s, p.prefix); ok {
			return rest, p.base
		}
	}
	return s, base
}

// safeAtou parses an unsigned number of at most bits bits as
// safe_atou_full (bits 32), safe_atou16_full (16) and, on 64-bit
// machines, safe_atolu_full (64) do: a negative value is refused unless it
// is zero.
func safeAtou(s string, base, bits int) (uint64, bool) {
	s = strings.TrimLeft(s, " \t\n\r")
	s, base = mangleBase(s, base)
	mag, neg, ok := strtoull(s, base)
	if !ok || (neg && mag != 0) {
		return 0, false
	}
	if bits < 64 && mag >= 1<<bits {
		return 0, false
	}
	return mag, true
}

// safeAtoi parses an int as safe_atoi does (base 0, strtol).
func safeAtoi(s string) (int, bool) {
	s = strings.TrimLeft(s, " \t\n\r")
	s, base := mangleBase(s, 0)
	mag, neg, ok := strtoull(s, base)
	if !ok {
		return 0, false
	}
	v := int64(mag)
	if neg {
		v = -v
	}
	if mag > 1<<31 || (!neg && mag == 1<<31) {
		return 0, false
	}
	return int(v), true
}

// scanInts reads s as sscanf(s, "%d:%d:%d:%d") or with another single
// byte between the numbers: how many of n numbers it read, stopping at
// the first mismatch; what follows the last one is ignored, as sscanf
// does.
func scanInts(s string, sep byte, n int) []int64 {
	var got []int64
	for len(got) < n {
		if len(got) > 0 {
			if s == "" || s[0] != sep {
				break
			}
			s = s[1:]
		}
		v, rest, ok := scanInt(s)
		if !ok {
			break
		}
		got = append(got, v)
		s = rest
	}
	return got
}

// scanInt is one %d or %u of sscanf: white space, a sign and decimal
// digits.
func scanInt(s string) (int64, string, bool) {
	s = strings.TrimLeft(s, cSpace)
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg, s = s[0] == '-', s[1:]
	}
	i := 0
	var v int64
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		v = v*10 + int64(s[i]-'0')
		i++
	}
	if i == 0 {
		return 0, s, false
	}
	if neg {
		v = -v
	}
	return v, s[i:], true
}
