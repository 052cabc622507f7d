package rules

import (
	"math"
	"strings"
	"syscall"
)

// udevd reads every number of the rules, when they load and during an
// event, with systemd's safe_atou_full or safe_atoi, which wrap C's
// strtoul and strtol. This file is that one reader for the loader and
// the evaluator alike. Its errors are the errnos udevd logs (EINVAL,
// ERANGE), so errText gives the strerror text udevd prints.

// atoFlags are safe_atou_full's SAFE_ATO_REFUSE_* flags.
type atoFlags uint8

const (
	refusePlusMinus atoFlags = 1 << iota
	refuseLeadingZero
	refuseLeadingWhitespace
)

// cSpace is C's isspace: strtoul skips \v and \f too, after
// safe_atou_full skipped WHITESPACE.
const cSpace = whitespace + "\v\f"

// safeAtou is safe_atou_full: the whole of s as an unsigned 32-bit
// number in base (0: systemd's 0b and 0o, C's 0x and leading-0 octal).
// A '-' fails with ERANGE unless the value is 0, as strtoul negates and
// systemd only looks at the sign afterwards.
func safeAtou(s string, base int, flags atoFlags) (uint32, error) {
	if flags&refuseLeadingWhitespace != 0 && (s == "" || strings.IndexByte(whitespace, s[0]) >= 0) {
		return 0, syscall.EINVAL // strchr(WHITESPACE, '\0') finds the NUL
	}
	s = strings.TrimLeft(s, whitespace)
	if flags&refusePlusMinus != 0 && s != "" && (s[0] == '+' || s[0] == '-') {
		return 0, syscall.EINVAL
	}
	if flags&refuseLeadingZero != 0 && len(s) > 1 && s[0] == '0' {
		return 0, syscall.EINVAL
	}
	if base == 0 {
		s, base = mangleBase(s)
	}
	mag, neg, end, overflow := strtoul(s, base)
	switch {
	case overflow:
		return 0, syscall.ERANGE
	case end == 0 || end != len(s):
		return 0, syscall.EINVAL
	}
	v := mag
	if neg {
		v = -mag
	}
	if v != 0 && s[0] == '-' || v > math.MaxUint32 {
		return 0, syscall.ERANGE
	}
	return uint32(v), nil
}

// safeAtoi is safe_atoi: strtol in base 0 (with 0b and 0o) over the
// whole of s, within an int.
func safeAtoi(s string) (int32, error) {
	s, base := mangleBase(strings.TrimLeft(s, whitespace))
	mag, neg, end, overflow := strtoul(s, base)
	switch {
	case overflow || !neg && mag > math.MaxInt64 || neg && mag > 1<<63:
		return 0, syscall.ERANGE // strtol's own range
	case end == 0 || end != len(s):
		return 0, syscall.EINVAL
	}
	n := int64(mag)
	if neg {
		n = -n
	}
	if n < math.MinInt32 || n > math.MaxInt32 {
		return 0, syscall.ERANGE
	}
	return int32(n), nil
}

// mangleBase is systemd's mangle_base for base 0: a "0b" prefix is
// binary, "0o" octal; anything else is left to strtoul (base 0).
func mangleBase(s string) (string, int) {
	if len(s) >= 2 && s[0] == '0' {
		switch s[1] {
		case 'b', 'B':
			return s[2:], 2
		case 'o', 'O':
			return s[2:], 8
		}
	}
	return s, 0
}

func isHexDigit(c byte) bool {
	_, ok := digitValue(c)
	return ok
}

// strtoul is glibc's strtoul (and strtol's reading) of s: isspace, a
// sign, "0x" for base 0 or 16 when a hex digit follows, a leading 0 as
// octal for base 0, then digits (base 16 at most, as
// safe_atou_full asserts). It returns the magnitude, whether a '-'
// came first, how many bytes it read (0 when no digit), and whether the
// magnitude went past 64 bits (ERANGE).
func strtoul(s string, base int) (mag uint64, neg bool, end int, overflow bool) {
	i := len(s) - len(strings.TrimLeft(s, cSpace))
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	if (base == 0 || base == 16) && i+2 < len(s) && s[i] == '0' && s[i+1]|0x20 == 'x' && isHexDigit(s[i+2]) {
		i, base = i+2, 16
	} else if base == 0 {
		base = 10
		if i < len(s) && s[i] == '0' {
			base = 8
		}
	}
	start := i
	for ; i < len(s); i++ {
		d, ok := digitValue(s[i])
		if !ok || d >= uint32(base) {
			break
		}
		if mag > (math.MaxUint64-uint64(d))/uint64(base) {
			overflow = true
		}
		mag = mag*uint64(base) + uint64(d)
	}
	if i == start {
		return 0, false, 0, false
	}
	return mag, neg, i, overflow
}

// parseUID is parse_uid (and parse_gid): decimal, no sign, no leading
// zero or whitespace, and neither (uid_t)-1 nor the 16-bit (uid_t)-1,
// which are never ids. The loader takes such an OWNER or GROUP value as
// the id; so does an event for a value with substitutions.
func parseUID(s string) (uint32, bool) {
	v, err := safeAtou(s, 10, refusePlusMinus|refuseLeadingZero|refuseLeadingWhitespace)
	if err != nil || v == invalidID || v == 0xFFFF {
		return 0, false
	}
	return v, true
}

// parseMode is parse_mode: octal after whitespace, no sign, at most
// 07777 (ERANGE beyond), for MODE and TEST{mode}.
func parseMode(s string) (uint32, error) {
	v, err := safeAtou(s, 8, refusePlusMinus)
	if err != nil {
		return 0, err
	}
	if v > 0o7777 {
		return 0, syscall.ERANGE
	}
	return v, nil
}

// parseResultIndex is safe_atou_optional_plus, the N or N+ of %c{…}: a
// trailing '+' cut off, the rest safe_atou.
func parseResultIndex(s string) (n int, plus bool, err error) {
	s, plus = strings.CutSuffix(s, "+")
	v, err := safeAtou(s, 0, 0)
	if err != nil {
		return 0, false, err
	}
	return int(v), plus, nil
}
