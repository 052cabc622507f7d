package rules

// Type is what a token does, as systemd-udevd 252 classifies it when it
// parses a rule (udev-rules.c, UdevRuleTokenType). The order is udevd's:
// it sorts each line's tokens by type before evaluating them, so cheap
// matches run before the parents walk, PROGRAM and IMPORT, and every match
// before any assignment. A line therefore means the same whatever order
// its keys were written in.
type Type uint8

// The token types, in udevd's order. Match types (before TypeAMin) take ==
// or !=; the rest are assignments.
const (
	TypeInvalid Type = iota

	TypeMAction    // ACTION
	TypeMDevpath   // DEVPATH
	TypeMKernel    // KERNEL
	TypeMDevlink   // SYMLINK==
	TypeMName      // NAME==
	TypeMEnv       // ENV{KEY}==
	TypeMConst     // CONST{arch|virt}==
	TypeMTag       // TAG==
	TypeMSubsystem // SUBSYSTEM==
	TypeMDriver    // DRIVER==
	TypeMAttr      // ATTR{FILE}==
	TypeMSysctl    // SYSCTL{KEY}==

	TypeMParentsKernel    // KERNELS==
	TypeMParentsSubsystem // SUBSYSTEMS==
	TypeMParentsDriver    // DRIVERS==
	TypeMParentsAttr      // ATTRS{FILE}==
	TypeMParentsTag       // TAGS==

	TypeMTest          // TEST{MODE}==
	TypeMProgram       // PROGRAM==
	TypeMImportFile    // IMPORT{file}
	TypeMImportProgram // IMPORT{program}
	TypeMImportBuiltin // IMPORT{builtin}
	TypeMImportDB      // IMPORT{db}
	TypeMImportCmdline // IMPORT{cmdline}
	TypeMImportParent  // IMPORT{parent}
	TypeMResult        // RESULT==

	TypeAOptionsStringEscapeNone    // OPTIONS="string_escape=none"
	TypeAOptionsStringEscapeReplace // OPTIONS="string_escape=replace"
	TypeAOptionsDBPersist           // OPTIONS="db_persist"
	TypeAOptionsInotifyWatch        // OPTIONS="watch" (Value "1") or "nowatch" ("0")
	TypeAOptionsDevlinkPriority     // OPTIONS="link_priority=N" (Value N)
	TypeAOptionsLogLevel            // OPTIONS="log_level=LEVEL|reset"
	TypeAOwner                      // OWNER= with substitutions, resolved per event
	TypeAGroup                      // GROUP= with substitutions, resolved per event
	TypeAMode                       // MODE= with substitutions, parsed per event
	TypeAOwnerID                    // OWNER= resolved when the rules load (Value is the decimal uid)
	TypeAGroupID                    // GROUP= resolved when the rules load (Value is the decimal gid)
	TypeAModeID                     // MODE= parsed when the rules load (Value is the octal mode)
	TypeATag                        // TAG= TAG+= TAG-=
	TypeAOptionsStaticNode          // OPTIONS="static_node=NODE"
	TypeASeclabel                   // SECLABEL{MODULE}=
	TypeAEnv                        // ENV{KEY}=
	TypeAName                       // NAME=
	TypeADevlink                    // SYMLINK=
	TypeAAttr                       // ATTR{FILE}=
	TypeASysctl                     // SYSCTL{KEY}=
	TypeARunBuiltin                 // RUN{builtin}=
	TypeARunProgram                 // RUN= RUN{program}=

	typeMax
)

// TypeAMin is the first assignment type.
const TypeAMin = TypeAOptionsStringEscapeNone

// IsMatch reports whether t is a match token (== or !=, or an IMPORT).
func (t Type) IsMatch() bool { return t > TypeInvalid && t < TypeAMin }

// Op is a token's operator.
type Op uint8

// The operators of udev rules.
const (
	OpInvalid     Op = iota
	OpMatch          // ==
	OpNomatch        // !=
	OpAdd            // +=
	OpRemove         // -=
	OpAssign         // =
	OpAssignFinal    // :=
)

// Token is one KEY{ATTR}OP"VALUE" of a line, as udevd keeps it after
// parsing: its type, operator (after udevd's corrections, such as NAME+=
// taken as NAME=), attribute and value.
type Token struct {
	Type Type
	Op   Op
	// Attr is the {…} argument: the file of ATTR and ATTRS, the key of ENV
	// and SYSCTL, arch or virt for CONST, the octal mode of TEST (empty
	// when none was given), the module of SECLABEL. Empty for the rest.
	Attr string
	// Value is the value with its quotes removed; for e"…" the C escapes
	// are applied. For options it is the option's argument.
	Value string
}

// Line is one rule: a line of a rules file after its continuations are
// joined, with its tokens in evaluation order.
type Line struct {
	File   string // path of the rules file
	Number int    // line number udevd reports: the last physical line of a continued line
	Tokens []Token
	// Label is the line's LABEL, if any.
	Label string
	// Goto is the line's resolved GOTO label, empty when it has none or
	// when no later line of its file has the label (udevd then ignores
	// it). GotoLine is the index in Rules.Lines of the line it jumps to,
	// -1 when Goto is empty.
	Goto     string
	GotoLine int
}

// Rules is a loaded rule set: every line of every file, in the order udevd
// evaluates them.
type Rules struct {
	Files []string // the files read, in order
	Lines []Line
}
