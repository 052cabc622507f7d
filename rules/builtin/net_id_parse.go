package builtin

import (
	"strings"
)

// parseStrictDecimal is safe_atou_full with base 10 and all of
// SAFE_ATO_REFUSE_PLUS_MINUS, _LEADING_ZERO and _LEADING_WHITESPACE: only
// digits, no leading zero but in "0".
func parseStrictDecimal(s string) (uint64, bool) {
	if s == "" || s[0] < '0' || s[0] > '9' || (s[0] == '0' && s != "0") {
		return 0, false
	}
	return safeAtou(s, 10, 32)
}

// leadingUint is what sscanf's %u (base 10) or %x (base 16) takes from the
// start of s, at most width characters (0 for no limit): the value and
// the rest of s. Only digits are read; sscanf would also skip white space
// and take a sign or "0x", which the sysfs names read here never have.
func leadingUint(s string, base, width int) (uint64, string, bool) {
	n := 0
	for n < len(s) && (width == 0 || n < width) && digitValue(s[n]) < base {
		n++
	}
	if n == 0 {
		return 0, s, false
	}
	v, _, ok := strtoull(s[:n], base)
	return v, s[n:], ok
}

// parseHWAddr reads a link's address attribute as parse_hw_addr does:
// bytes of one or two hex digits separated by ':' or '-'
// ("52:54:00:12:34:56"), or groups of up to four separated by '.'
// ("5254.0012.3456"), at most 20 bytes, and of the lengths 4, 6, 16 or 20
// only. (parse_hw_addr first tries an IPv4 or IPv6 literal, giving 4 or
// 16 bytes; net_id only wants 6, so those are left out here.)
func parseHWAddr(s string) ([]byte, bool) {
	sepAt := strings.IndexFunc(s, func(r rune) bool { return r > 0x7f || digitValue(byte(r)) >= 16 })
	if sepAt < 0 {
		return nil, false
	}
	sep, size := s[sepAt], 1
	switch sep {
	case '.':
		size = 2
	case ':', '-':
	default:
		return nil, false
	}
	var out []byte
	for _, field := range strings.Split(s, string(sep)) {
		if field == "" || len(field) > 2*size {
			return nil, false
		}
		var v uint16
		for i := 0; i < len(field); i++ {
			d := digitValue(field[i])
			if d >= 16 {
				return nil, false
			}
			v = v<<4 | uint16(d)
		}
		if size == 2 {
			out = append(out, byte(v>>8))
		}
		out = append(out, byte(v))
	}
	switch len(out) {
	case 4, 6, 16, 20:
		return out, true
	}
	return nil, false
}
