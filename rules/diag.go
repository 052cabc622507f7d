package rules

import "fmt"

// Severity tells a diagnostic that cost a rule from one that did not.
type Severity uint8

// The severities. udevd logs both kinds at several levels; what counts here
// is the effect: an Error means udevd dropped a whole line (or the rest of
// a file), a Warning means the line still takes effect, perhaps without a
// token or with a corrected operator.
const (
	Error Severity = iota + 1
	Warning
)

// String names the severity as verify prints it.
func (s Severity) String() string {
	switch s {
	case Error:
		return "error"
	case Warning:
		return "warning"
	}
	return fmt.Sprintf("severity(%d)", uint8(s))
}

// Diagnostic is one message udevd logs while it reads the rules, at the
// file and line it names.
type Diagnostic struct {
	File     string
	Line     int
	Severity Severity
	Message  string
}

// String is FILE:LINE: message, as udevd prints it; FILE: message for a
// diagnostic about a whole file or directory (Line 0).
func (d Diagnostic) String() string {
	if d.Line == 0 {
		return fmt.Sprintf("%s: %s", d.File, d.Message)
	}
	return fmt.Sprintf("%s:%d: %s", d.File, d.Line, d.Message)
}

// diags collects the diagnostics of one file.
type diags struct {
	file string
	list []Diagnostic
}

func (d *diags) add(line int, sev Severity, format string, args ...any) {
	d.list = append(d.list, Diagnostic{File: d.file, Line: line, Severity: sev, Message: fmt.Sprintf(format, args...)})
}
