package rules

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// optionFlags are the OPTIONS values that take no argument.
var optionFlags = map[string]Token{
	"string_escape=none":    {Type: TypeAOptionsStringEscapeNone},
	"string_escape=replace": {Type: TypeAOptionsStringEscapeReplace},
	"db_persist":            {Type: TypeAOptionsDBPersist},
	"watch":                 {Type: TypeAOptionsInotifyWatch, Value: "1"},
	"nowatch":               {Type: TypeAOptionsInotifyWatch, Value: "0"},
}

// logLevels are log_level_from_string's names, by level.
var logLevels = []string{"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"}

// keyOptions is OPTIONS: one option per token, += taken as = without a
// word, an unknown option a warning that drops only the token.
func (p *lineParser) keyOptions(pr pair) {
	if pr.hasAttr {
		p.invalidAttr(pr.key)
		return
	}
	if isMatchOp(pr.op) || pr.op == OpRemove {
		p.invalidOp(pr.key)
		return
	}
	if pr.op == OpAdd {
		pr.op = OpAssign
	}
	v := pr.value
	if t, ok := optionFlags[v]; ok {
		p.add(t.Type, pr.op, "", t.Value)
		return
	}
	if node, ok := strings.CutPrefix(v, "static_node="); ok {
		p.add(TypeAOptionsStaticNode, pr.op, "", node)
		return
	}
	if prio, ok := strings.CutPrefix(v, "link_priority="); ok {
		n, err := safeAtoi(prio)
		if err != nil {
			p.errorf("Failed to parse link priority '%s': %s", prio, errText(err))
			return
		}
		p.add(TypeAOptionsDevlinkPriority, pr.op, "", strconv.Itoa(int(n)))
		return
	}
	if level, ok := strings.CutPrefix(v, "log_level="); ok {
		if level != "reset" && !validLogLevel(level) {
			p.errorf("Failed to parse log level '%s': Invalid argument", level)
			return
		}
		p.add(TypeAOptionsLogLevel, pr.op, "", level)
		return
	}
	p.warnf("Invalid value for OPTIONS key, ignoring: '%s'", v)
}

// validLogLevel is log_level_from_string: a name, or a number (safe_atou)
// up to LOG_DEBUG.
func validLogLevel(s string) bool {
	if slices.Contains(logLevels, s) {
		return true
	}
	n, err := safeAtou(s, 0, 0)
	return err == nil && n < uint32(len(logLevels))
}

// permKey describes OWNER, GROUP and MODE.
type permKey struct {
	plain, id Type // the token with substitutions, the one resolved now
	group     bool
}

func (p *lineParser) keyOwner(pr pair) { p.keyPerm(pr, permKey{TypeAOwner, TypeAOwnerID, false}) }
func (p *lineParser) keyGroup(pr pair) { p.keyPerm(pr, permKey{TypeAGroup, TypeAGroupID, true}) }

// keyPerm is OWNER and GROUP: a number is the id; a plain name is resolved
// now (RESOLVE_NAME_EARLY), an unknown one kept as the invalid id, which
// leaves the owner alone; a value with substitutions waits for the event.
func (p *lineParser) keyPerm(pr pair, k permKey) {
	if !p.permOp(&pr) {
		return
	}
	if id, ok := parseUID(pr.value); ok {
		p.add(k.id, pr.op, "", strconv.FormatUint(uint64(id), 10))
		return
	}
	if isPlainValue(pr.value) {
		id, msg := resolveName(p.opt.Users, k.group, pr.value)
		if msg != "" {
			p.warnf("%s", msg)
		}
		p.add(k.id, pr.op, "", strconv.FormatUint(uint64(id), 10))
		return
	}
	p.checkValue(pr.key, pr.value, true)
	p.add(k.plain, pr.op, "", pr.value)
}

// isPlainValue is rule_get_substitution_type's SUBST_TYPE_PLAIN: no '%'
// or '$', and not a [subsystem/kernel]attribute reference.
func isPlainValue(v string) bool {
	return !strings.HasPrefix(v, "[") && !strings.ContainsAny(v, "%$")
}

// permOp checks the operator of OWNER, GROUP and MODE: = or :=, += taken
// as =.
func (p *lineParser) permOp(pr *pair) bool {
	if pr.hasAttr {
		p.invalidAttr(pr.key)
		return false
	}
	if isMatchOp(pr.op) || pr.op == OpRemove {
		p.invalidOp(pr.key)
		return false
	}
	if pr.op == OpAdd {
		pr.op = p.assume(pr.key, "'=' or ':='")
	}
	return true
}

// keyMode is MODE: an octal mode now, anything else per event.
func (p *lineParser) keyMode(pr pair) {
	if !p.permOp(&pr) {
		return
	}
	if m, err := parseMode(pr.value); err == nil {
		p.add(TypeAModeID, pr.op, "", fmt.Sprintf("%#o", m))
		return
	}
	p.checkValue(pr.key, pr.value, true)
	p.add(TypeAMode, pr.op, "", pr.value)
}
