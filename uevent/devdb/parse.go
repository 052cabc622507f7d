package devdb

import (
	"bytes"
	"strconv"
	"strings"
)

// Parse reads an entry as device_read_db_internal_filename does, quirks
// included, so that gudevd sees what every sd-device client sees:
//
//   - A line is a key byte, ':' and a value up to the next '\n' or '\r';
//     empty lines are skipped. A key not followed by ':' makes the parser
//     skip to the end of the next line, so the line after it is lost.
//   - The value starts at the byte after ':' whatever it is, even a
//     newline, and a value is cut at a NUL as a C string is.
//   - A last line without its newline is not read.
//   - Unknown keys (W:, and N:, M: of older udevs) and values that do
//     not parse are ignored; a Q: tag is also a G: tag; a tag with ':' or
//     ' ' is refused.
//
// Parse drops empty links and tags, which only a NUL can make and which
// Format could not write back.
func Parse(data []byte) Entry {
	var e Entry
	const (
		preKey = iota
		key
		preValue
		value
		invalid
	)
	state, k, start := preKey, byte(0), 0
	for i, c := range data {
		nl := c == '\n' || c == '\r'
		switch state {
		case preKey:
			if !nl {
				k, state = c, key
			}
		case key:
			state = invalid
			if c == ':' {
				state = preValue
			}
		case preValue:
			start, state = i, value
		case invalid:
			if nl {
				state = preKey
			}
		case value:
			if nl {
				e.handle(k, cString(data[start:i]))
				state = preKey
			}
		}
	}
	return e
}

// cString is b up to its first NUL.
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// handle is handle_db_line.
func (e *Entry) handle(k byte, v string) {
	switch k {
	case 'S':
		if v != "" {
			e.Devlinks = addOnce(e.Devlinks, "/dev/"+v)
		}
	case 'L':
		if n, ok := cNumber(v, true, 32); ok {
			e.LinkPriority = int(n)
		}
	case 'I':
		if n, ok := cNumber(v, false, 64); ok {
			e.Usec = uint64(n)
		}
	case 'E':
		if k, val, ok := strings.Cut(v, "="); ok {
			e.setProp(k, val)
		}
	case 'G', 'Q':
		if v == "" || strings.ContainsAny(v, ": ") {
			return
		}
		e.Tags = addOnce(e.Tags, v)
		if k == 'Q' {
			e.CurrentTags = addOnce(e.CurrentTags, v)
		}
	case 'V':
		if n, ok := cNumber(v, false, 32); ok {
			e.Version = int(n)
		}
	}
}

// cNumber parses v as systemd's safe_atoi (signed, 32 bits), safe_atou
// (32) and safe_atou64 (64) do: white space first, systemd's "0b" and
// "0o" prefixes, then strtol's rules for base 0 (a sign, "0x" for hex, a
// leading 0 for octal), and nothing after the digits. An unsigned number
// may not be negative, except -0. The result of an unsigned 64-bit parse
// is the uint64's bits.
func cNumber(v string, signed bool, bits int) (int64, bool) {
	v = strings.TrimLeft(v, " \t\n\r") // strspn(WHITESPACE)
	base := 0
	if len(v) > 1 && v[0] == '0' {
		switch v[1] {
		case 'b', 'B':
			base, v = 2, v[2:]
		case 'o', 'O':
			base, v = 8, v[2:]
		}
	}
	v = strings.TrimLeft(v, " \t\n\v\f\r") // strtol's isspace
	neg := false
	if v != "" && (v[0] == '+' || v[0] == '-') {
		neg, v = v[0] == '-', v[1:]
	}
	base, v = strtolBase(v, base)
	mag, err := strconv.ParseUint(v, base, 64)
	if err != nil || v == "" || v[0] == '+' || v[0] == '-' {
		return 0, false
	}
	return fit(mag, neg, signed, bits)
}

// strtolBase is how strtol picks the base for 0: hex after "0x" followed
// by a hex digit, octal after a leading 0, else decimal; the prefix goes.
func strtolBase(v string, base int) (int, string) {
	hex := len(v) > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X') && strings.ContainsRune("0123456789abcdefABCDEF", rune(v[2]))
	switch {
	case base == 0 && hex:
		return 16, v[2:]
	case base == 0 && len(v) > 1 && v[0] == '0':
		return 8, v[1:]
	case base == 0:
		return 10, v
	}
	return base, v
}

// fit checks the range of the C type.
func fit(mag uint64, neg, signed bool, bits int) (int64, bool) {
	if !signed {
		if (neg && mag != 0) || (bits < 64 && mag > 1<<bits-1) {
			return 0, false
		}
		return int64(mag), true
	}
	limit := uint64(1) << (bits - 1)
	switch {
	case neg && mag <= limit:
		return -int64(mag), true
	case !neg && mag < limit:
		return int64(mag), true
	}
	return 0, false
}
