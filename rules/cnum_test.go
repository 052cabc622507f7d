package rules

import (
	"errors"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The cases come from systemd 252's safe_atou_full and safe_atoi over
// glibc's strtoul and strtol.
func TestSafeAtou(t *testing.T) {
	cases := []struct {
		name  string
		in    string
		base  int
		flags atoFlags
		want  uint32
		err   error
	}{
		{name: "decimal", in: "42", want: 42},
		{name: "hex", in: "0x1f", want: 31},
		{name: "octal", in: "017", want: 15},
		{name: "systemd binary", in: "0b101", want: 5},
		{name: "systemd octal", in: "0o17", want: 15},
		{name: "WHITESPACE then isspace", in: " \v5", want: 5},
		{name: "plus", in: "+5", want: 5},
		{name: "minus zero is zero", in: "-0", want: 0},
		{name: "minus", in: "-1", err: syscall.ERANGE},
		{name: "minus after vertical tab wraps", in: "\v-1", err: syscall.ERANGE},
		{name: "beyond 32 bits", in: "4294967296", err: syscall.ERANGE},
		{name: "beyond 64 bits", in: "99999999999999999999999", err: syscall.ERANGE},
		{name: "bare 0x", in: "0x", err: syscall.EINVAL},
		{name: "empty", in: "", err: syscall.EINVAL},
		{name: "trailing blank", in: "5 ", err: syscall.EINVAL},
		{name: "underscore", in: "1_0", err: syscall.EINVAL},
		{name: "octal digit 8", in: "8", base: 8, err: syscall.EINVAL},
		{name: "refused plus", in: " +7", base: 8, flags: refusePlusMinus, err: syscall.EINVAL},
		{name: "plus behind vertical tab", in: "\v+7", base: 8, flags: refusePlusMinus, want: 7},
		{name: "refused leading zero", in: "01", base: 10, flags: refuseLeadingZero, err: syscall.EINVAL},
		{name: "zero alone", in: "0", base: 10, flags: refuseLeadingZero, want: 0},
		{name: "refused whitespace", in: " 1", base: 10, flags: refuseLeadingWhitespace, err: syscall.EINVAL},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := safeAtou(c.in, c.base, c.flags)
			if !errors.Is(err, c.err) || c.err == nil && err != nil {
				t.Fatalf("safeAtou(%q, %d) error %v, want %v", c.in, c.base, err, c.err)
			}
			if d := cmp.Diff(c.want, got); d != "" {
				t.Errorf("safeAtou(%q, %d) (-want +got):\n%s", c.in, c.base, d)
			}
		})
	}
}

func TestSafeAtoi(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want int32
		err  error
	}{
		{name: "negative", in: "-100", want: -100},
		{name: "negative hex", in: "-0x10", want: -16},
		{name: "systemd binary", in: "0b11", want: 3},
		{name: "int min", in: "-2147483648", want: -2147483648},
		{name: "beyond int", in: "2147483648", err: syscall.ERANGE},
		{name: "beyond long", in: "9223372036854775808", err: syscall.ERANGE},
		{name: "word", in: "abc", err: syscall.EINVAL},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := safeAtoi(c.in)
			if !errors.Is(err, c.err) || c.err == nil && err != nil {
				t.Fatalf("safeAtoi(%q) error %v, want %v", c.in, err, c.err)
			}
			if d := cmp.Diff(c.want, got); d != "" {
				t.Errorf("safeAtoi(%q) (-want +got):\n%s", c.in, d)
			}
		})
	}
}

// parse_uid decides whether OWNER and GROUP are ids or names, when the
// rules load and during an event alike.
func TestParseUID(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want uint32
		ok   bool
	}{
		{name: "root", in: "0", want: 0, ok: true},
		{name: "id", in: "1000", want: 1000, ok: true},
		{name: "leading zero", in: "01"},
		{name: "blank", in: " 1"},
		{name: "sign", in: "+1"},
		{name: "16-bit -1", in: "65535"},
		{name: "32-bit -1", in: "4294967295"},
		{name: "name", in: "disk"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := parseUID(c.in)
			if d := cmp.Diff([]any{c.want, c.ok}, []any{got, ok}); d != "" {
				t.Errorf("parseUID(%q) (-want +got):\n%s", c.in, d)
			}
		})
	}
}
