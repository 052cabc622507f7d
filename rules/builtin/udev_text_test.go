package builtin

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// ReplaceChars is udev_replace_chars for the rules engine (with the
// characters each key allows) and for usb_id (with none).
func TestReplaceChars(t *testing.T) {
	cases := []struct {
		name, in, allow, want string
	}{
		{"devnode characters stay", "abc-_.:=@#+", "", "abc-_.:=@#+"},
		{"whitespace is _", "a b\tc", "", "a_b_c"},
		{"whitespace is ' ' when allowed", "a b\tc", " ", "a b c"},
		{"allowed byte", "a/b", "/", "a/b"},
		{"hex escape stays, other backslash does not", `\x2f\y`, "", `\x2f_y`},
		{"truncated UTF-8", "\xc3\xa9\xc3", "", "\xc3\xa9_"},
		{"U+FDD0 refused", "\xef\xb7\x90", "", "___"},
		{"only the high bit of a continuation byte", "\xc3\xc3", "", "\xc3\xc3"},
		{"non-shortest form", "\xc0\xaf", "", "__"},
		{"surrogate", "\xed\xa0\x80", "", "___"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if d := cmp.Diff(c.want, ReplaceChars(c.in, c.allow)); d != "" {
				t.Errorf("ReplaceChars(%q, %q) (-want +got):\n%s", c.in, c.allow, d)
			}
		})
	}
}

func TestReplaceWhitespace(t *testing.T) {
	cases := []struct {
		name, in string
		n        int
		want     string
	}{
		{"runs and ends", " \ta  b\v c \n", 100, "a_b_c"},
		{"a leading \\v is no WHITESPACE: it starts a run", "\va b", 100, "_a_b"},
		{"at most n bytes read", "ab cd", 4, "ab_c"},
		{"no _ without room for what follows", "ab cd", 3, "ab"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if d := cmp.Diff(c.want, ReplaceWhitespace(c.in, c.n)); d != "" {
				t.Errorf("ReplaceWhitespace(%q, %d) (-want +got):\n%s", c.in, c.n, d)
			}
		})
	}
}

func TestValidUnichar(t *testing.T) {
	cases := []struct {
		name string
		u    rune
		want bool
	}{
		{"letter", 'a', true},
		{"last", 0x10fffd, true},
		{"past U+10FFFF", 0x110000, false},
		{"negative", -1, false},
		{"surrogate", 0xd800, false},
		{"noncharacter", 0xfdd0, false},
		{"xFFFE", 0x1fffe, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := ValidUnichar(c.u); got != c.want {
				t.Errorf("ValidUnichar(%#x) = %v, want %v", c.u, got, c.want)
			}
		})
	}
}
