package rules

import (
	"strconv"
	"strings"
)

// keyOfType is the key and fixed attribute each token type is written
// with. IMPORT{program}="builtin" is written as IMPORT{builtin}, which
// parses to the same token.
var keyOfType = map[Type]struct{ key, attr string }{
	TypeMAction: {"ACTION", ""}, TypeMDevpath: {"DEVPATH", ""}, TypeMKernel: {"KERNEL", ""},
	TypeMDevlink: {"SYMLINK", ""}, TypeMName: {"NAME", ""}, TypeMEnv: {"ENV", ""},
	TypeMConst: {"CONST", ""}, TypeMTag: {"TAG", ""}, TypeMSubsystem: {"SUBSYSTEM", ""},
	TypeMDriver: {"DRIVER", ""}, TypeMAttr: {"ATTR", ""}, TypeMSysctl: {"SYSCTL", ""},
	TypeMParentsKernel: {"KERNELS", ""}, TypeMParentsSubsystem: {"SUBSYSTEMS", ""},
	TypeMParentsDriver: {"DRIVERS", ""}, TypeMParentsAttr: {"ATTRS", ""}, TypeMParentsTag: {"TAGS", ""},
	TypeMTest: {"TEST", ""}, TypeMProgram: {"PROGRAM", ""},
	TypeMImportFile: {"IMPORT", "file"}, TypeMImportProgram: {"IMPORT", "program"},
	TypeMImportBuiltin: {"IMPORT", "builtin"}, TypeMImportDB: {"IMPORT", "db"},
	TypeMImportCmdline: {"IMPORT", "cmdline"}, TypeMImportParent: {"IMPORT", "parent"},
	TypeMResult: {"RESULT", ""},
	TypeAOwner:  {"OWNER", ""}, TypeAGroup: {"GROUP", ""}, TypeAMode: {"MODE", ""},
	TypeAOwnerID: {"OWNER", ""}, TypeAGroupID: {"GROUP", ""}, TypeAModeID: {"MODE", ""},
	TypeATag: {"TAG", ""}, TypeASeclabel: {"SECLABEL", ""}, TypeAEnv: {"ENV", ""},
	TypeAName: {"NAME", ""}, TypeADevlink: {"SYMLINK", ""}, TypeAAttr: {"ATTR", ""},
	TypeASysctl: {"SYSCTL", ""}, TypeARunBuiltin: {"RUN", "builtin"}, TypeARunProgram: {"RUN", ""},
}

// optionText is the OPTIONS value of an option token.
func optionText(t Token) (string, bool) {
	switch t.Type {
	case TypeAOptionsStringEscapeNone:
		return "string_escape=none", true
	case TypeAOptionsStringEscapeReplace:
		return "string_escape=replace", true
	case TypeAOptionsDBPersist:
		return "db_persist", true
	case TypeAOptionsInotifyWatch:
		if t.Value == "0" {
			return "nowatch", true
		}
		return "watch", true
	case TypeAOptionsDevlinkPriority:
		return "link_priority=" + t.Value, true
	case TypeAOptionsLogLevel:
		return "log_level=" + t.Value, true
	case TypeAOptionsStaticNode:
		return "static_node=" + t.Value, true
	}
	return "", false
}

// String writes the token as rule text: KEY{ATTR}OP"VALUE".
func (t Token) String() string {
	var b strings.Builder
	if v, ok := optionText(t); ok {
		b.WriteString("OPTIONS" + t.Op.String())
		writeValue(&b, v)
		return b.String()
	}
	k := keyOfType[t.Type]
	b.WriteString(k.key)
	attr := k.attr
	if attr == "" {
		attr = t.Attr
	}
	if attr != "" {
		b.WriteString("{" + attr + "}")
	}
	b.WriteString(t.Op.String())
	writeValue(&b, t.Value)
	return b.String()
}

// writeValue quotes a value so that udev_rule_parse_value gives it back.
// A plain "…" can hold anything but line ends and a trailing backslash
// (a backslash only escapes a quote); those need e"…".
func writeValue(b *strings.Builder, v string) {
	if !strings.ContainsAny(v, "\n\r") && !strings.HasSuffix(v, `\`) {
		b.WriteByte('"')
		b.WriteString(strings.ReplaceAll(v, `"`, `\"`))
		b.WriteByte('"')
		return
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`)
	b.WriteString(`e"`)
	b.WriteString(r.Replace(v))
	b.WriteByte('"')
}

// String writes the line as one rule line that parses back to the same
// tokens, label and GOTO. A kept line with no effect of its own must
// have had a LABEL, perhaps an empty one, so it is written with LABEL="".
func (l Line) String() string { return l.format(false) }

// format writes the line; withLabel writes LABEL="" for a line a GOTO=""
// jumps to.
func (l Line) format(withLabel bool) string {
	parts := make([]string, 0, len(l.Tokens)+2)
	var flags lineFlags
	for _, t := range l.Tokens {
		parts = append(parts, t.String())
		flags |= effectOf(t.Type)
	}
	if l.Label != "" || withLabel || (flags == 0 && l.GotoLine < 0) {
		var b strings.Builder
		b.WriteString("LABEL=")
		writeValue(&b, l.Label)
		parts = append(parts, b.String())
	}
	if l.GotoLine >= 0 {
		var b strings.Builder
		b.WriteString("GOTO=")
		writeValue(&b, l.Goto)
		parts = append(parts, b.String())
	}
	return strings.Join(parts, ", ")
}

// Format writes lines as a rules file, one line each. GotoLine indexes
// lines, as ParseFile returns them.
func Format(lines []Line) string {
	target := map[int]bool{}
	for _, l := range lines {
		if l.GotoLine >= 0 && l.Goto == "" {
			target[l.GotoLine] = true
		}
	}
	var b strings.Builder
	for i, l := range lines {
		b.WriteString(l.format(target[i]))
		b.WriteByte('\n')
	}
	return b.String()
}

// typeNames are udevd's names of the token types (UdevRuleTokenType).
var typeNames = [...]string{
	TypeInvalid: "invalid",
	TypeMAction: "M_ACTION", TypeMDevpath: "M_DEVPATH", TypeMKernel: "M_KERNEL", TypeMDevlink: "M_DEVLINK",
	TypeMName: "M_NAME", TypeMEnv: "M_ENV", TypeMConst: "M_CONST", TypeMTag: "M_TAG",
	TypeMSubsystem: "M_SUBSYSTEM", TypeMDriver: "M_DRIVER", TypeMAttr: "M_ATTR", TypeMSysctl: "M_SYSCTL",
	TypeMParentsKernel: "M_PARENTS_KERNEL", TypeMParentsSubsystem: "M_PARENTS_SUBSYSTEM",
	TypeMParentsDriver: "M_PARENTS_DRIVER", TypeMParentsAttr: "M_PARENTS_ATTR", TypeMParentsTag: "M_PARENTS_TAG",
	TypeMTest: "M_TEST", TypeMProgram: "M_PROGRAM", TypeMImportFile: "M_IMPORT_FILE",
	TypeMImportProgram: "M_IMPORT_PROGRAM", TypeMImportBuiltin: "M_IMPORT_BUILTIN", TypeMImportDB: "M_IMPORT_DB",
	TypeMImportCmdline: "M_IMPORT_CMDLINE", TypeMImportParent: "M_IMPORT_PARENT", TypeMResult: "M_RESULT",
	TypeAOptionsStringEscapeNone: "A_OPTIONS_STRING_ESCAPE_NONE", TypeAOptionsStringEscapeReplace: "A_OPTIONS_STRING_ESCAPE_REPLACE",
	TypeAOptionsDBPersist: "A_OPTIONS_DB_PERSIST", TypeAOptionsInotifyWatch: "A_OPTIONS_INOTIFY_WATCH",
	TypeAOptionsDevlinkPriority: "A_OPTIONS_DEVLINK_PRIORITY", TypeAOptionsLogLevel: "A_OPTIONS_LOG_LEVEL",
	TypeAOwner: "A_OWNER", TypeAGroup: "A_GROUP", TypeAMode: "A_MODE",
	TypeAOwnerID: "A_OWNER_ID", TypeAGroupID: "A_GROUP_ID", TypeAModeID: "A_MODE_ID",
	TypeATag: "A_TAG", TypeAOptionsStaticNode: "A_OPTIONS_STATIC_NODE", TypeASeclabel: "A_SECLABEL",
	TypeAEnv: "A_ENV", TypeAName: "A_NAME", TypeADevlink: "A_DEVLINK", TypeAAttr: "A_ATTR",
	TypeASysctl: "A_SYSCTL", TypeARunBuiltin: "A_RUN_BUILTIN", TypeARunProgram: "A_RUN_PROGRAM",
}

// String is udevd's name of the type without its TK_ prefix.
func (t Type) String() string {
	if int(t) < len(typeNames) && typeNames[t] != "" {
		return typeNames[t]
	}
	return "Type(" + strconv.Itoa(int(t)) + ")"
}
