package rules

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Options are the loader's inputs beyond the files.
type Options struct {
	// Users resolves OWNER and GROUP names when the rules load (udevd's
	// default, RESOLVE_NAME_EARLY). Nil resolves only the names systemd
	// knows without NSS (root, nobody, nogroup); the rest are unknown.
	Users Users
}

// ParseFile parses one rules file as udev_rules_parse_file does: its
// lines, each with its tokens sorted into evaluation order, GOTOs
// resolved within the file (GotoLine indexes the returned slice), and
// what udevd logs on the way. path names the file in lines and
// diagnostics.
func ParseFile(path string, data []byte, opt *Options) ([]Line, []Diagnostic) {
	if opt == nil {
		opt = &Options{}
	}
	d := &diags{file: path}
	var parsed []*parsedLine
	logical, failedAt := logicalLines(data)
	for _, ll := range logical {
		if ll.tooLong {
			d.add(ll.number, Error, "Line is too long, ignored")
			continue
		}
		if pl := parseRuleLine(ll, opt, d); pl != nil {
			parsed = append(parsed, pl)
		}
	}
	if failedAt > 0 {
		// read_line failed: udevd keeps the lines before, skips the
		// rest and never resolves this file's GOTOs.
		d.add(failedAt, Error, "Failed to read rules file %s, ignoring: No buffer space available", path)
		return finishLines(path, parsed), d.list
	}
	parsed = resolveGotos(parsed, d)
	return finishLines(path, parsed), d.list
}

// lineFlags is udevd's UdevRuleLineType: what a line does, which decides
// whether it is kept.
type lineFlags uint8

const (
	lineHasName lineFlags = 1 << iota
	lineHasDevlink
	lineHasStaticNode
	lineUpdateSomething
	lineHasGoto
	lineHasLabel
)

// parsedLine is a line while its file is read.
type parsedLine struct {
	number    int
	tokens    []Token
	flags     lineFlags
	label     string
	gotoLabel string
	gotoIdx   int // index in the file's kept lines, -1 when none
}

// lineParser is rule_add_line's state for one line.
type lineParser struct {
	pl   *parsedLine
	opt  *Options
	d    *diags
	drop bool // an error: udevd's rule_add_line returned early
}

func (p *lineParser) errorf(format string, args ...any) {
	p.d.add(p.pl.number, Error, format, args...)
	p.drop = true
}

func (p *lineParser) warnf(format string, args ...any) {
	p.d.add(p.pl.number, Warning, format, args...)
}

// parseRuleLine is rule_add_line: the line's pairs one after the other;
// the first error drops the line, and so does a line that does nothing.
func parseRuleLine(ll logicalLine, opt *Options, d *diags) *parsedLine {
	p := &lineParser{pl: &parsedLine{number: ll.number, gotoIdx: -1}, opt: opt, d: d}
	for s := ll.text; s != ""; {
		pr, rest, ok, err := nextPair(s)
		if err != nil {
			p.errorf("Invalid key/value pair, ignoring.")
			return nil
		}
		if !ok {
			break
		}
		s = rest
		if p.parseToken(pr); p.drop {
			return nil
		}
	}
	if p.pl.flags == 0 {
		p.warnf("The line takes no effect, ignoring.")
		return nil
	}
	// sort_tokens: a stable selection sort by type.
	slices.SortStableFunc(p.pl.tokens, func(a, b Token) int { return int(a.Type) - int(b.Type) })
	return p.pl
}

// add is rule_line_add_token: the token and what it makes the line do.
func (p *lineParser) add(t Type, op Op, attr, value string) {
	p.pl.tokens = append(p.pl.tokens, Token{Type: t, Op: op, Attr: attr, Value: value})
	p.pl.flags |= effectOf(t)
}

// effectOf is the line flag a token of type t sets. Plain matches set
// none: a line of matches alone does nothing.
func effectOf(t Type) lineFlags {
	switch t {
	case TypeAName:
		return lineHasName
	case TypeADevlink, TypeAOwner, TypeAGroup, TypeAMode, TypeAOwnerID, TypeAGroupID, TypeAModeID:
		return lineHasDevlink
	case TypeAOptionsStaticNode:
		return lineHasStaticNode
	case TypeMProgram, TypeMImportFile, TypeMImportProgram, TypeMImportBuiltin,
		TypeMImportDB, TypeMImportCmdline, TypeMImportParent:
		return lineUpdateSomething
	}
	if t >= TypeAMin {
		return lineUpdateSomething
	}
	return 0
}

// finishLines turns the kept lines into Lines.
func finishLines(path string, parsed []*parsedLine) []Line {
	out := make([]Line, 0, len(parsed))
	for _, pl := range parsed {
		l := Line{File: path, Number: pl.number, Tokens: pl.tokens, Label: pl.label, GotoLine: -1}
		if pl.gotoIdx >= 0 {
			l.Goto, l.GotoLine = pl.gotoLabel, pl.gotoIdx
		}
		out = append(out, l)
	}
	return out
}

// resolveGotos is rule_resolve_goto: each GOTO jumps to the first later
// line of the file with its LABEL. One with none is dropped, and with it
// a line that did nothing else; a line left with only its LABEL keeps the
// label but loses its tokens.
func resolveGotos(parsed []*parsedLine, d *diags) []*parsedLine {
	for i, pl := range parsed {
		if pl.flags&lineHasGoto == 0 {
			continue
		}
		for j := i + 1; j < len(parsed); j++ {
			if parsed[j] != nil && parsed[j].flags&lineHasLabel != 0 && parsed[j].label == pl.gotoLabel {
				pl.gotoIdx = j
				break
			}
		}
		if pl.gotoIdx >= 0 {
			continue
		}
		d.add(pl.number, Warning, "GOTO=\"%s\" has no matching label, ignoring", pl.gotoLabel)
		pl.flags &^= lineHasGoto
		pl.gotoLabel = ""
		if pl.flags&^lineHasLabel != 0 {
			continue
		}
		d.add(pl.number, Warning, "The line takes no effect any more, dropping")
		if pl.flags == lineHasLabel {
			pl.tokens = nil
		} else {
			parsed[i] = nil
		}
	}
	return compactLines(parsed)
}

// compactLines removes dropped lines and renumbers the GOTO targets.
func compactLines(parsed []*parsedLine) []*parsedLine {
	index := make([]int, len(parsed))
	var out []*parsedLine
	for i, pl := range parsed {
		index[i] = len(out)
		if pl != nil {
			out = append(out, pl)
		}
	}
	for _, pl := range out {
		if pl.gotoIdx >= 0 {
			pl.gotoIdx = index[pl.gotoIdx]
		}
	}
	return out
}

// keyHandlers are parse_token's keys.
var keyHandlers = map[string]func(*lineParser, pair){
	"ACTION":     matchOnly(TypeMAction),
	"DEVPATH":    matchOnly(TypeMDevpath),
	"KERNEL":     matchOnly(TypeMKernel),
	"DRIVER":     matchOnly(TypeMDriver),
	"KERNELS":    matchOnly(TypeMParentsKernel),
	"SUBSYSTEMS": matchOnly(TypeMParentsSubsystem),
	"DRIVERS":    matchOnly(TypeMParentsDriver),
	"TAGS":       matchOnly(TypeMParentsTag),
	"RESULT":     matchOnly(TypeMResult),
	"SUBSYSTEM":  (*lineParser).keySubsystem,
	"SYMLINK":    (*lineParser).keySymlink,
	"NAME":       (*lineParser).keyName,
	"ENV":        (*lineParser).keyEnv,
	"CONST":      (*lineParser).keyConst,
	"TAG":        (*lineParser).keyTag,
	"ATTR":       (*lineParser).keyAttr,
	"SYSCTL":     (*lineParser).keySysctl,
	"ATTRS":      (*lineParser).keyAttrs,
	"TEST":       (*lineParser).keyTest,
	"PROGRAM":    (*lineParser).keyProgram,
	"IMPORT":     (*lineParser).keyImport,
	"OPTIONS":    (*lineParser).keyOptions,
	"OWNER":      (*lineParser).keyOwner,
	"GROUP":      (*lineParser).keyGroup,
	"MODE":       (*lineParser).keyMode,
	"SECLABEL":   (*lineParser).keySeclabel,
	"RUN":        (*lineParser).keyRun,
	"GOTO":       (*lineParser).keyGoto,
	"LABEL":      (*lineParser).keyLabel,
}

// parseToken is parse_token: the key decides the token, and what is
// wrong with it is an error dropping the line or a warning.
func (p *lineParser) parseToken(pr pair) {
	h, ok := keyHandlers[pr.key]
	if !ok {
		p.errorf("Invalid key '%s'", pr.key)
		return
	}
	h(p, pr)
}

func isMatchOp(op Op) bool { return op == OpMatch || op == OpNomatch }

func (p *lineParser) invalidAttr(key string) { p.errorf("Invalid attribute for %s.", key) }
func (p *lineParser) invalidOp(key string)   { p.errorf("Invalid operator for %s.", key) }

// checkValue is check_value_format_and_warn: a bad format is logged and
// the token kept.
func (p *lineParser) checkValue(key, value string, nonempty bool) {
	if nonempty && value == "" {
		p.warnf("Invalid value \"%s\" for %s (char %d: %s), ignoring.", value, key, 0, "empty value")
		return
	}
	var fe *FormatError
	if errors.As(CheckFormat(value), &fe) {
		p.warnf("Invalid value \"%s\" for %s (char %d: %s), ignoring.", value, key, fe.Offset, fe.Hint)
	}
}

// checkAttr is check_attr_format_and_warn: an empty {attribute} is an
// error, a bad format only a warning. It reports whether to go on.
func (p *lineParser) checkAttr(key, attr string) bool {
	if attr == "" {
		p.invalidAttr(key)
		return false
	}
	var fe *FormatError
	if errors.As(CheckFormat(attr), &fe) {
		p.warnf("Invalid attribute \"%s\" for %s (char %d: %s), ignoring.", attr, key, fe.Offset, fe.Hint)
	}
	return true
}

// assume is udevd's operator correction with its warning.
func (p *lineParser) assume(key, takes string) Op {
	p.warnf("%s key takes %s operator, assuming '='.", key, takes)
	return OpAssign
}

// matchOnly is a key that takes no attribute and only == or !=.
func matchOnly(t Type) func(*lineParser, pair) {
	return func(p *lineParser, pr pair) {
		if pr.hasAttr {
			p.invalidAttr(pr.key)
			return
		}
		if !isMatchOp(pr.op) {
			p.invalidOp(pr.key)
			return
		}
		p.add(t, pr.op, "", pr.value)
	}
}

func (p *lineParser) keySubsystem(pr pair) {
	if !pr.hasAttr && isMatchOp(pr.op) && (pr.value == "bus" || pr.value == "class") {
		p.warnf("\"%s\" must be specified as \"subsystem\".", pr.value)
	}
	matchOnly(TypeMSubsystem)(p, pr)
}

// matchOrAssign adds the match or, for the other operators, the
// assignment with its value checked.
func (p *lineParser) matchOrAssign(pr pair, m, a Type, attr string, nonempty bool) {
	if isMatchOp(pr.op) {
		p.add(m, pr.op, attr, pr.value)
		return
	}
	p.checkValue(pr.key, pr.value, nonempty)
	p.add(a, pr.op, attr, pr.value)
}

func (p *lineParser) keySymlink(pr pair) {
	if pr.hasAttr {
		p.invalidAttr(pr.key)
		return
	}
	if pr.op == OpRemove {
		p.invalidOp(pr.key)
		return
	}
	p.matchOrAssign(pr, TypeMDevlink, TypeADevlink, "", false)
}

func (p *lineParser) keyName(pr pair) {
	switch {
	case pr.hasAttr:
		p.invalidAttr(pr.key)
		return
	case pr.op == OpRemove:
		p.invalidOp(pr.key)
		return
	case pr.op == OpAdd:
		pr.op = p.assume(pr.key, "'==', '!=', '=', or ':='")
	}
	if !isMatchOp(pr.op) {
		switch pr.value {
		case "%k":
			p.errorf("Ignoring NAME=\"%%k\", as it will take no effect.")
			return
		case "":
			p.errorf("Ignoring NAME=\"\", as udev will not delete any network interfaces.")
			return
		}
	}
	p.matchOrAssign(pr, TypeMName, TypeAName, "", false)
}

// readOnlyEnv are the properties ENV{} may not set.
var readOnlyEnv = []string{"ACTION", "DEVLINKS", "DEVNAME", "DEVPATH", "DEVTYPE", "DRIVER",
	"IFINDEX", "MAJOR", "MINOR", "SEQNUM", "SUBSYSTEM", "TAGS"}

func (p *lineParser) keyEnv(pr pair) {
	switch {
	case pr.attr == "":
		p.invalidAttr(pr.key)
		return
	case pr.op == OpRemove:
		p.invalidOp(pr.key)
		return
	case pr.op == OpAssignFinal:
		pr.op = p.assume(pr.key, "'==', '!=', '=', or '+='")
	}
	if !isMatchOp(pr.op) && slices.Contains(readOnlyEnv, pr.attr) {
		p.errorf("Invalid ENV attribute. '%s' cannot be set.", pr.attr)
		return
	}
	p.matchOrAssign(pr, TypeMEnv, TypeAEnv, pr.attr, false)
}

func (p *lineParser) keyConst(pr pair) {
	if pr.attr != "arch" && pr.attr != "virt" {
		p.invalidAttr(pr.key)
		return
	}
	if !isMatchOp(pr.op) {
		p.invalidOp(pr.key)
		return
	}
	p.add(TypeMConst, pr.op, pr.attr, pr.value)
}

func (p *lineParser) keyTag(pr pair) {
	if pr.hasAttr {
		p.invalidAttr(pr.key)
		return
	}
	if pr.op == OpAssignFinal {
		pr.op = p.assume(pr.key, "'==', '!=', '=', or '+='")
	}
	p.matchOrAssign(pr, TypeMTag, TypeATag, "", true)
}

func (p *lineParser) keyAttr(pr pair)   { p.keyWritable(pr, TypeMAttr, TypeAAttr) }
func (p *lineParser) keySysctl(pr pair) { p.keyWritable(pr, TypeMSysctl, TypeASysctl) }

// keyWritable is ATTR and SYSCTL: an {attribute} that may hold
// substitutions, ==, != or = (+= and := taken as =).
func (p *lineParser) keyWritable(pr pair, m, a Type) {
	if !p.checkAttr(pr.key, pr.attr) {
		return
	}
	if pr.op == OpRemove {
		p.invalidOp(pr.key)
		return
	}
	if pr.op == OpAdd || pr.op == OpAssignFinal {
		pr.op = p.assume(pr.key, "'==', '!=', or '='")
	}
	p.matchOrAssign(pr, m, a, pr.attr, false)
}

func (p *lineParser) keyAttrs(pr pair) {
	if !p.checkAttr(pr.key, pr.attr) {
		return
	}
	if !isMatchOp(pr.op) {
		p.invalidOp(pr.key)
		return
	}
	if strings.HasPrefix(pr.attr, "device/") {
		p.warnf("'device' link may not be available in future kernels.")
	}
	if strings.Contains(pr.attr, "../") {
		p.warnf("Direct reference to parent sysfs directory, may break in future kernels.")
	}
	p.add(TypeMParentsAttr, pr.op, pr.attr, pr.value)
}

func (p *lineParser) keyTest(pr pair) {
	if pr.attr != "" {
		if _, err := parseMode(pr.attr); err != nil {
			p.errorf("Failed to parse mode '%s': %s", pr.attr, errText(err))
			return
		}
	}
	p.checkValue(pr.key, pr.value, true)
	if !isMatchOp(pr.op) {
		p.invalidOp(pr.key)
		return
	}
	p.add(TypeMTest, pr.op, pr.attr, pr.value)
}

func (p *lineParser) keyProgram(pr pair) {
	if pr.hasAttr {
		p.invalidAttr(pr.key)
		return
	}
	p.checkValue(pr.key, pr.value, true)
	if pr.op == OpRemove {
		p.invalidOp(pr.key)
		return
	}
	if !isMatchOp(pr.op) {
		pr.op = OpMatch
	}
	p.add(TypeMProgram, pr.op, "", pr.value)
}

// importTypes are IMPORT's {kinds} besides program and builtin.
var importTypes = map[string]Type{
	"file": TypeMImportFile, "db": TypeMImportDB, "cmdline": TypeMImportCmdline, "parent": TypeMImportParent,
}

func (p *lineParser) keyImport(pr pair) {
	if pr.attr == "" {
		p.invalidAttr(pr.key)
		return
	}
	p.checkValue(pr.key, pr.value, true)
	if pr.op == OpRemove {
		p.invalidOp(pr.key)
		return
	}
	if !isMatchOp(pr.op) {
		pr.op = OpMatch
	}
	_, builtin := LookupBuiltin(pr.value)
	switch t, ok := importTypes[pr.attr]; {
	case ok:
		p.add(t, pr.op, "", pr.value)
	case pr.attr == "program" && builtin:
		// udevd runs a program named like a builtin as the builtin.
		p.add(TypeMImportBuiltin, pr.op, "", pr.value)
	case pr.attr == "program":
		p.add(TypeMImportProgram, pr.op, "", pr.value)
	case pr.attr == "builtin" && builtin:
		p.add(TypeMImportBuiltin, pr.op, "", pr.value)
	case pr.attr == "builtin":
		p.errorf("Unknown builtin command: %s", pr.value)
	default:
		p.invalidAttr(pr.key)
	}
}

func (p *lineParser) keyRun(pr pair) {
	if isMatchOp(pr.op) || pr.op == OpRemove {
		p.invalidOp(pr.key)
		return
	}
	p.checkValue(pr.key, pr.value, true)
	switch {
	case !pr.hasAttr || pr.attr == "program":
		p.add(TypeARunProgram, pr.op, "", pr.value)
	case pr.attr == "builtin":
		if _, ok := LookupBuiltin(pr.value); !ok {
			p.errorf("Unknown builtin command '%s', ignoring", pr.value)
			return
		}
		p.add(TypeARunBuiltin, pr.op, "", pr.value)
	default:
		p.invalidAttr(pr.key)
	}
}

func (p *lineParser) keySeclabel(pr pair) {
	if pr.attr == "" {
		p.invalidAttr(pr.key)
		return
	}
	p.checkValue(pr.key, pr.value, true)
	if isMatchOp(pr.op) || pr.op == OpRemove {
		p.invalidOp(pr.key)
		return
	}
	if pr.op == OpAssignFinal {
		pr.op = p.assume(pr.key, "'=' or '+='")
	}
	p.add(TypeASeclabel, pr.op, pr.attr, pr.value)
}

// plainAssign checks GOTO and LABEL: no attribute, only =.
func (p *lineParser) plainAssign(pr pair) bool {
	if pr.hasAttr {
		p.invalidAttr(pr.key)
		return false
	}
	if pr.op != OpAssign {
		p.invalidOp(pr.key)
		return false
	}
	return true
}

func (p *lineParser) keyGoto(pr pair) {
	if !p.plainAssign(pr) {
		return
	}
	if p.pl.flags&lineHasGoto != 0 {
		p.warnf("Contains multiple GOTO keys, ignoring GOTO=\"%s\".", pr.value)
		return
	}
	p.pl.gotoLabel = pr.value
	p.pl.flags |= lineHasGoto
}

func (p *lineParser) keyLabel(pr pair) {
	if !p.plainAssign(pr) {
		return
	}
	p.pl.label = pr.value
	p.pl.flags |= lineHasLabel
}

// String names the operator as rules write it.
func (o Op) String() string {
	switch o {
	case OpMatch:
		return "=="
	case OpNomatch:
		return "!="
	case OpAdd:
		return "+="
	case OpRemove:
		return "-="
	case OpAssign:
		return "="
	case OpAssignFinal:
		return ":="
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}
