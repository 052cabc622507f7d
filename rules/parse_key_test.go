package rules

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// tok is a Token for the tables.
func tok(t Type, op Op, attr, value string) Token {
	return Token{Type: t, Op: op, Attr: attr, Value: value}
}

// TestKeyOperators runs one line per key and operator case through
// ParseFile: the tokens kept (nil when udevd drops the line) and every
// diagnostic with its severity.
func TestKeyOperators(t *testing.T) {
	run := tok(TypeARunProgram, OpAdd, "", "x")
	cases := []struct {
		name  string
		line  string
		want  []Token
		diags []string // "error: MSG" or "warning: MSG"
	}{
		{"match sorts before assignment", `RUN+="x", KERNEL=="sda"`, []Token{tok(TypeMKernel, OpMatch, "", "sda"), run}, nil},
		{"sort is stable", `TAG+="b", TAG+="a", ACTION!="remove"`, []Token{tok(TypeMAction, OpNomatch, "", "remove"), tok(TypeATag, OpAdd, "", "b"), tok(TypeATag, OpAdd, "", "a")}, nil},
		{"spaces around operator", `KERNEL == "sda" ,RUN +="x"`, []Token{tok(TypeMKernel, OpMatch, "", "sda"), run}, nil},
		{"no separator needed", `KERNEL=="sda"RUN+="x"`, []Token{tok(TypeMKernel, OpMatch, "", "sda"), run}, nil},
		{"quote escaped in plain value", `RUN+="a\"b\n"`, []Token{tok(TypeARunProgram, OpAdd, "", `a"b\n`)}, nil},
		{"e-string escapes", `RUN+=e"a\tb\x41\101\u00e9\s"`, []Token{tok(TypeARunProgram, OpAdd, "", "a\tbAA\u00e9 ")}, nil},
		{"KERNEL assign", `KERNEL="sda", RUN+="x"`, nil, []string{"error: Invalid operator for KERNEL."}},
		{"SYMLINK match and add", `SYMLINK=="a", SYMLINK+="b"`, []Token{tok(TypeMDevlink, OpMatch, "", "a"), tok(TypeADevlink, OpAdd, "", "b")}, nil},
		{"NAME += is =", `NAME+="lan0"`, []Token{tok(TypeAName, OpAssign, "", "lan0")}, []string{"warning: NAME key takes '==', '!=', '=', or ':=' operator, assuming '='."}},
		{"NAME := kept", `NAME:="lan0"`, []Token{tok(TypeAName, OpAssignFinal, "", "lan0")}, nil},
		{"NAME match %k allowed", `NAME=="%k", RUN+="x"`, []Token{tok(TypeMName, OpMatch, "", "%k"), run}, nil},
		{"ENV := is =", `ENV{A}:="1"`, []Token{tok(TypeAEnv, OpAssign, "A", "1")}, []string{"warning: ENV key takes '==', '!=', '=', or '+=' operator, assuming '='."}},
		{"ENV += kept", `ENV{A}+="1"`, []Token{tok(TypeAEnv, OpAdd, "A", "1")}, nil},
		{"CONST", `CONST{virt}=="kvm", RUN+="x"`, []Token{tok(TypeMConst, OpMatch, "virt", "kvm"), run}, nil},
		{"TAG -=", `TAG-="x"`, []Token{tok(TypeATag, OpRemove, "", "x")}, nil},
		{"ATTR := is =", `ATTR{a}:="1"`, []Token{tok(TypeAAttr, OpAssign, "a", "1")}, []string{"warning: ATTR key takes '==', '!=', or '=' operator, assuming '='."}},
		{"SYSCTL -=", `SYSCTL{a}-="1"`, nil, []string{"error: Invalid operator for SYSCTL."}},
		{"ATTRS match", `ATTRS{idVendor}=="1d6b", RUN+="x"`, []Token{tok(TypeMParentsAttr, OpMatch, "idVendor", "1d6b"), run}, nil},
		{"TEST with mode", `TEST{0644}=="/x", RUN+="x"`, []Token{tok(TypeMTest, OpMatch, "0644", "/x"), run}, nil},
		{"PROGRAM = is ==", `PROGRAM="/bin/id"`, []Token{tok(TypeMProgram, OpMatch, "", "/bin/id")}, nil},
		{"PROGRAM != kept", `PROGRAM!="/bin/id"`, []Token{tok(TypeMProgram, OpNomatch, "", "/bin/id")}, nil},
		{"IMPORT program named like a builtin", `IMPORT{program}="path_id %p"`, []Token{tok(TypeMImportBuiltin, OpMatch, "", "path_id %p")}, nil},
		{"IMPORT program", `IMPORT{program}+="/bin/x"`, []Token{tok(TypeMImportProgram, OpMatch, "", "/bin/x")}, nil},
		{"IMPORT kinds", `IMPORT{file}="f", IMPORT{db}="d", IMPORT{cmdline}="c", IMPORT{parent}="p"`, []Token{tok(TypeMImportFile, OpMatch, "", "f"), tok(TypeMImportDB, OpMatch, "", "d"), tok(TypeMImportCmdline, OpMatch, "", "c"), tok(TypeMImportParent, OpMatch, "", "p")}, nil},
		{"RUN builtin", `RUN{builtin}+="kmod load $env{MODALIAS}"`, []Token{tok(TypeARunBuiltin, OpAdd, "", "kmod load $env{MODALIAS}")}, nil},
		{"RUN program attr", `RUN{program}="x"`, []Token{tok(TypeARunProgram, OpAssign, "", "x")}, nil},
		{"OPTIONS += is = silently", `OPTIONS+="watch", OPTIONS:="nowatch"`, []Token{tok(TypeAOptionsInotifyWatch, OpAssign, "", "1"), tok(TypeAOptionsInotifyWatch, OpAssignFinal, "", "0")}, nil},
		{"OPTIONS arguments", `OPTIONS="link_priority=0x10", OPTIONS="log_level=debug", OPTIONS="static_node=kvm", OPTIONS="db_persist", OPTIONS="string_escape=replace", OPTIONS="string_escape=none"`,
			[]Token{tok(TypeAOptionsStringEscapeNone, OpAssign, "", ""), tok(TypeAOptionsStringEscapeReplace, OpAssign, "", ""), tok(TypeAOptionsDBPersist, OpAssign, "", ""), tok(TypeAOptionsDevlinkPriority, OpAssign, "", "16"), tok(TypeAOptionsLogLevel, OpAssign, "", "debug"), tok(TypeAOptionsStaticNode, OpAssign, "", "kvm")}, nil},
		{"OWNER number", `OWNER="1000"`, []Token{tok(TypeAOwnerID, OpAssign, "", "1000")}, nil},
		{"OWNER leading zero is a name", `OWNER="01000"`, []Token{tok(TypeAOwnerID, OpAssign, "", "4294967295")}, []string{"warning: Unknown user '01000', ignoring"}},
		{"OWNER name", `OWNER:="tss"`, []Token{tok(TypeAOwnerID, OpAssignFinal, "", "105")}, nil},
		{"OWNER synthesized", `OWNER="nobody"`, []Token{tok(TypeAOwnerID, OpAssign, "", "65534")}, nil},
		{"OWNER substitution", `OWNER="$env{OWNER}"`, []Token{tok(TypeAOwner, OpAssign, "", "$env{OWNER}")}, nil},
		{"GROUP name", `GROUP="kvm"`, []Token{tok(TypeAGroupID, OpAssign, "", "104")}, nil},
		{"GROUP subsystem reference", `GROUP="[tty/tty0]group"`, []Token{tok(TypeAGroup, OpAssign, "", "[tty/tty0]group")}, nil},
		{"MODE octal", `MODE="660"`, []Token{tok(TypeAModeID, OpAssign, "", "0660")}, nil},
		{"MODE += is =", `MODE+="0600"`, []Token{tok(TypeAModeID, OpAssign, "", "0600")}, []string{"warning: MODE key takes '=' or ':=' operator, assuming '='."}},
		{"MODE not a number", `MODE="$env{MODE}"`, []Token{tok(TypeAMode, OpAssign, "", "$env{MODE}")}, nil},
		{"SECLABEL", `SECLABEL{selinux}+="x"`, []Token{tok(TypeASeclabel, OpAdd, "selinux", "x")}, nil},
		{"error after warning keeps the warning", `NAME+="x", KERNEL="sda"`, nil, []string{"warning: NAME key takes '==', '!=', '=', or ':=' operator, assuming '='.", "error: Invalid operator for KERNEL."}},
		{"commas only do nothing", `, ,`, nil, []string{"warning: The line takes no effect, ignoring."}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lines, diags := ParseFile("t.rules", []byte(c.line+"\n"), &Options{Users: parseTestUsers()})
			var got []Token
			if len(lines) == 1 {
				got = lines[0].Tokens
			}
			if d := cmp.Diff(c.want, got); d != "" {
				t.Errorf("tokens (-want +got):\n%s", d)
			}
			var gotDiags []string
			for _, d := range diags {
				gotDiags = append(gotDiags, d.Severity.String()+": "+d.Message)
			}
			if d := cmp.Diff(c.diags, gotDiags); d != "" {
				t.Errorf("diagnostics (-want +got):\n%s", d)
			}
		})
	}
}
