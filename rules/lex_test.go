package rules

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestCUnescape checks e"…" escapes against cunescape's rules.
func TestCUnescape(t *testing.T) {
	cases := []struct {
		name, in, want string
		bad            bool
	}{
		{"letters", `\a\b\f\n\r\t\v\\\"\'\s`, "\a\b\f\n\r\t\v\\\"' ", false},
		{"hex byte", `\x41\xff`, "A\xff", false},
		{"octal byte", `\101\377`, "A\xff", false},
		{"octal above 255", `\400`, "", true},
		{"NUL refused", `\000`, "", true},
		{"short hex", `\x4`, "", true},
		{"u encodes surrogates as they are", `\ud800`, "\xed\xa0\x80", false},
		{"U checks the code point", `\U0000d800`, "", true},
		{"U four bytes", `\U0001F600`, "\U0001F600", false},
		{"unknown escape", `\q`, "", true},
		{"trailing backslash", `a\`, "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := cUnescape(c.in)
			if (err != nil) != c.bad || got != c.want {
				t.Errorf("cUnescape(%q) = %q, %v; want %q, error %v", c.in, got, err, c.want, c.bad)
			}
		})
	}
}

// TestLineLimit: read_line takes LineSize-1 bytes and fails at LineSize,
// which ends the file for udevd; continued lines are joined only while
// they stay below LineSize.
func TestLineLimit(t *testing.T) {
	rule := func(n int) string { // a rule line of exactly n bytes
		return `RUN+="` + strings.Repeat("x", n-len(`RUN+=""`)) + `"`
	}
	cases := []struct {
		name  string
		text  string
		lines []int
		diags []string
	}{
		{"longest line read", rule(LineSize-1) + "\nRUN+=\"y\"\n", []int{1, 2}, nil},
		{"one byte more ends the file", "RUN+=\"y\"\n" + rule(LineSize) + "\nRUN+=\"y\"\n", []int{1},
			[]string{"t.rules:2: Failed to read rules file t.rules, ignoring: No buffer space available"}},
		{"joined line just short", "RUN+=\"a\", \\\n" + rule(LineSize-1-len("RUN+=\"a\", ")) + "\n", []int{2}, nil},
		{"joined line reaching the limit", "RUN+=\"a\", \\\n" + rule(LineSize-len("RUN+=\"a\", ")) + "\nRUN+=\"y\"\n", []int{3},
			[]string{"t.rules:2: Line is too long, ignored"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lines, diags := ParseFile("t.rules", []byte(c.text), nil)
			var got []int
			for _, l := range lines {
				got = append(got, l.Number)
			}
			var gotDiags []string
			for _, d := range diags {
				gotDiags = append(gotDiags, d.String())
			}
			if d := cmp.Diff(c.lines, got); d != "" {
				t.Errorf("line numbers (-want +got):\n%s", d)
			}
			if d := cmp.Diff(c.diags, gotDiags); d != "" {
				t.Errorf("diagnostics (-want +got):\n%s", d)
			}
		})
	}
}
