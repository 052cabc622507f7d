package rules

import (
	"slices"
	"strings"
)

// Result is what the rules decided for one event; the caller acts on it.
type Result struct {
	// Properties are the device's properties after the rules, in
	// udevd's order, with keys starting with '.' (temporary) included.
	Properties []Property
	// DBProperties are those the database keeps (E: lines): set by the
	// rules, imports and builtins, never the kernel's, never '.' keys.
	DBProperties []Property
	// Unset lists, in order, the keys the rules removed (ENV{KEY}="").
	Unset []string

	Tags        []string // every tag (G:), the database's earlier ones included
	CurrentTags []string // the tags this event set (Q:)
	// Devlinks are the links to create, "/dev/disk/by-id/...".
	Devlinks     []string
	DevlinkFinal bool
	LinkPriority int

	// Name is the new network interface name of NAME=, "" when unset.
	Name      string
	NameFinal bool

	// Owner, group and mode of the node; the *Set flags say a rule gave
	// one (udevd otherwise keeps the database's or the default).
	UID, GID                          uint32
	UIDSet, GIDSet, ModeSet           bool
	Mode                              uint32
	OwnerFinal, GroupFinal, ModeFinal bool
	Seclabels                         []Seclabel

	AttrWrites   []Write // ATTR{}= writes, Path absolute below /sys
	SysctlWrites []Write // SYSCTL{}= writes, Path the normalized key
	Run          []Run   // RUN entries in order
	RunFinal     bool

	DBPersist  bool // OPTIONS+="db_persist"
	Watch      bool // OPTIONS+="watch" (inotify on close-after-write)
	WatchFinal bool
	LogLevel   string // the last OPTIONS+="log_level=…" value, "" when none

	// Diagnostics are what udevd logs at warning level or above while it
	// evaluates (the parser's Diagnostic): Warning for what it ignores and
	// goes on, Error for what ends the event (with ErrAborted).
	Diagnostics []Diagnostic
}

// Seclabel is one SECLABEL{MODULE}="LABEL".
type Seclabel struct {
	Module, Label string
}

// Write is one attribute or sysctl write, with the rule that asked.
type Write struct {
	Path, Value string
	File        string
	Line        int
}

// Run is one RUN entry. Builtin is the builtin's name for RUN{builtin},
// empty for a program. Command is the text after substitution; Argv is
// it split as udevd splits it (for a program, argv[0] below LibexecDir
// unless absolute; nil when it has no first word, which udevd refuses to
// run: "Invalid command").
type Run struct {
	Builtin string
	Command string
	Argv    []string
}

// HasTag reports whether the event's device has tag among its current tags.
func (r *Result) HasTag(tag string) bool { return slices.Contains(r.CurrentTags, tag) }

// Property returns the value of key after the rules.
func (r *Result) Property(key string) (string, bool) {
	for _, p := range r.Properties {
		if p.Key == key {
			return p.Value, true
		}
	}
	return "", false
}

// IsTemporary reports whether a property key is kept out of the database
// (it starts with '.').
func IsTemporary(key string) bool { return strings.HasPrefix(key, ".") }
