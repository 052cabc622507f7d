package rules

import (
	"errors"
	"io/fs"
	"path"
	"strings"
	"syscall"

	"github.com/gudevd/gudevd/rules/builtin"
)

// rulesDirs are udevd 252's rules directories, highest precedence first
// (CONF_PATHS("udev/rules.d")). On a merged /usr, /lib/udev/rules.d is
// /usr/lib's again: its names are all taken already, so it adds nothing.
var rulesDirs = []string{
	"/etc/udev/rules.d",
	"/run/udev/rules.d",
	"/usr/local/lib/udev/rules.d",
	"/usr/lib/udev/rules.d",
	"/lib/udev/rules.d",
}

// Load reads the rules udevd would: every *.rules file of rulesDirs in
// fsys (rooted at "/"), as conf_files_list_strv lists them: a name in a
// higher directory hides the same name lower down, hidden (dot) files are
// skipped, and the files are read in the lexical order of their names. An
// empty file, or a symlink to /dev/null, is skipped and so masks its
// namesakes.
func Load(fsys fs.FS, opt *Options) (*Rules, []Diagnostic) {
	files, diags := listRules(fsys, rulesDirs)
	rs, more := LoadFiles(fsys, files, opt)
	return rs, append(diags, more...)
}

// listRules is conf_files_list_strv(".rules") over dirs (builtin's
// ConfFiles, which the .link files use too), a directory it could not
// read a warning.
func listRules(fsys fs.FS, dirs []string) ([]string, []Diagnostic) {
	files, errs := builtin.ConfFiles(fsys, dirs, ".rules")
	var diags []Diagnostic
	for _, e := range errs {
		// udevd logs this at debug level and goes on without the
		// directory.
		diags = append(diags, Diagnostic{File: e.Dir, Severity: Warning,
			Message: "Failed to open directory '" + e.Dir + "': " + errText(e.Err)})
	}
	return files, diags
}

// LoadFiles reads the rules files at paths (absolute, in fsys rooted at
// "/"), in that order, as udevd reads each file it lists. A file that
// cannot be read is a warning and skipped; an empty one or /dev/null is
// skipped silently. GotoLine indexes the returned Rules.Lines.
func LoadFiles(fsys fs.FS, paths []string, opt *Options) (*Rules, []Diagnostic) {
	opt = rememberNames(opt)
	rs := &Rules{}
	var diags []Diagnostic
	for _, p := range paths {
		data, skip, err := readRulesFile(fsys, p)
		if err != nil {
			diags = append(diags, Diagnostic{File: p, Severity: Warning,
				Message: "Failed to open " + p + ", ignoring: " + errText(err)})
			continue
		}
		if skip {
			continue
		}
		lines, d := ParseFile(p, data, opt)
		diags = append(diags, d...)
		base := len(rs.Lines)
		for _, l := range lines {
			if l.GotoLine >= 0 {
				l.GotoLine += base
			}
			rs.Lines = append(rs.Lines, l)
		}
		rs.Files = append(rs.Files, p)
	}
	return rs, diags
}

// readRulesFile reads one file. skip is udevd's null_or_empty: an empty
// regular file or /dev/null (a symlink to it, in a MapFS that has no
// device) is not a rules file. A missing file is skipped too: udevd
// ignores ENOENT, a file that went away since the listing.
func readRulesFile(fsys fs.FS, p string) (data []byte, skip bool, err error) {
	name := fsPathOf(p)
	if target, lerr := fs.ReadLink(fsys, name); lerr == nil && path.Clean(absTarget(p, target)) == "/dev/null" {
		return nil, true, nil
	}
	data, err = fs.ReadFile(fsys, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	return data, len(data) == 0, nil
}

// absTarget is a symlink's target as an absolute path.
func absTarget(link, target string) string {
	if path.IsAbs(target) {
		return target
	}
	return path.Join(path.Dir(link), target)
}

// fsPathOf turns an absolute path into an fs.FS name rooted at "/".
func fsPathOf(p string) string {
	p = strings.TrimPrefix(path.Clean(p), "/")
	if p == "" {
		return "."
	}
	return p
}

// errText is the strerror-like part of err for a diagnostic: the errno's
// text when there is one.
func errText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		s := errno.Error()
		return strings.ToUpper(s[:1]) + s[1:]
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
