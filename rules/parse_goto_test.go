package rules

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestGotos checks what rule_resolve_goto keeps of each line: the label,
// the GOTO and its target's index, and the lines it drops.
func TestGotos(t *testing.T) {
	run := []Token{tok(TypeARunProgram, OpAdd, "", "x")}
	cases := []struct {
		name string
		text string
		want []Line
	}{
		{"forward jump", "KERNEL!=\"sd*\", GOTO=\"end\"\nRUN+=\"x\"\nLABEL=\"end\"\n", []Line{
			{Number: 1, Tokens: []Token{tok(TypeMKernel, OpNomatch, "", "sd*")}, Goto: "end", GotoLine: 2},
			{Number: 2, Tokens: run, GotoLine: -1},
			{Number: 3, Label: "end", GotoLine: -1},
		}},
		{"first later label wins", "GOTO=\"a\"\nLABEL=\"a\"\nLABEL=\"a\", RUN+=\"x\"\n", []Line{
			{Number: 1, Goto: "a", GotoLine: 1},
			{Number: 2, Label: "a", GotoLine: -1},
			{Number: 3, Tokens: run, Label: "a", GotoLine: -1},
		}},
		{"no backward jump; the index counts only kept lines", "LABEL=\"a\"\nKERNEL==\"x\"\nGOTO=\"a\"\nGOTO=\"b\"\nLABEL=\"b\"\n", []Line{
			{Number: 1, Label: "a", GotoLine: -1},
			{Number: 4, Goto: "b", GotoLine: 2},
			{Number: 5, Label: "b", GotoLine: -1},
		}},
		{"unresolved goto on a label line clears its tokens", "KERNEL==\"x\", GOTO=\"none\", LABEL=\"l\"\n", []Line{
			{Number: 1, Label: "l", GotoLine: -1},
		}},
		{"unresolved goto on a line that does more keeps the rest", "GOTO=\"none\", RUN+=\"x\"\n", []Line{
			{Number: 1, Tokens: run, GotoLine: -1},
		}},
		{"continued line numbered by its last line", "KERNEL==\"a\", \\\n# comment inside\n  RUN+=\"x\"\n", []Line{
			{Number: 3, Tokens: []Token{tok(TypeMKernel, OpMatch, "", "a"), tok(TypeARunProgram, OpAdd, "", "x")}, GotoLine: -1},
		}},
		{"line ends \\r\\n and \\n\\r are one, \\n\\n two", "RUN+=\"x\"\r\n\nRUN+=\"x\"\n\rRUN+=\"x\"", []Line{
			{Number: 1, Tokens: run, GotoLine: -1},
			{Number: 3, Tokens: run, GotoLine: -1},
			{Number: 4, Tokens: run, GotoLine: -1},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, _ := ParseFile("t.rules", []byte(c.text), nil)
			if d := cmp.Diff(c.want, got, cmpopts.IgnoreFields(Line{}, "File"), cmpopts.EquateEmpty()); d != "" {
				t.Errorf("lines (-want +got):\n%s", d)
			}
		})
	}
}
