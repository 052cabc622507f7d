package rules

import (
	"errors"
	"io/fs"
	"path"
	"strings"

	"github.com/gudevd/gudevd/rules/builtin"
)

// applyToken is udev_rule_apply_token_to_event for the event's device:
// ok is whether the line goes on; err ends the event (ErrAborted).
func (e *event) applyToken(t Token) (ok bool, err error) {
	if t.Type.IsMatch() {
		return e.applyMatch(t)
	}
	return true, e.applyAssign(t)
}

func (e *event) applyMatch(t Token) (bool, error) {
	m := compileMatch(t)
	d := e.dev
	switch t.Type {
	case TypeMAction:
		return m.matches(d.Action), nil
	case TypeMDevpath:
		return m.matches(d.Devpath()), nil
	case TypeMKernel:
		return m.matches(d.Sysname()), nil
	case TypeMDevlink:
		return m.matchesAny(e.linksNoDev()), nil
	case TypeMName:
		return m.matches(e.res.Name), nil
	case TypeMEnv:
		v, ok := e.getProp(t.Attr)
		if !ok {
			v, _ = e.host.ControlProperty(t.Attr)
		}
		return m.matches(v), nil
	case TypeMConst:
		return m.matches(e.constValue(t.Attr)), nil
	case TypeMTag:
		return m.matchesAny(e.curTags.values()), nil
	case TypeMSubsystem:
		return m.matches(d.Subsystem), nil
	case TypeMDriver:
		return m.matches(d.Driver), nil
	case TypeMAttr:
		return e.matchAttr(t, d), nil
	case TypeMSysctl:
		return e.matchSysctl(t, m)
	case TypeMTest:
		return e.matchTest(t, m)
	case TypeMProgram:
		return e.matchProgram(t, m), nil
	case TypeMResult:
		if e.programResult == nil {
			return m.matches(""), nil
		}
		return m.matches(*e.programResult), nil
	case TypeMParentsKernel, TypeMParentsSubsystem, TypeMParentsDriver, TypeMParentsAttr, TypeMParentsTag:
		return e.matchParentToken(t, d), nil
	}
	return e.applyImport(t, m)
}

func (e *event) constValue(key string) string {
	switch key {
	case "arch":
		return e.host.Arch(e.ctx)
	case "virt":
		return e.host.Virt(e.ctx)
	}
	return ""
}

// matchSysctl is SYSCTL{KEY}==: the key substituted and normalized, the
// value stripped of surrounding whitespace; a missing entry is "", any
// other read error ends the event, as in udevd.
func (e *event) matchSysctl(t Token, m matcher) (bool, error) {
	key, truncated := e.format(t.Attr, PathSize, false)
	if truncated {
		return false, nil
	}
	key = normalizeSysctl(key)
	v, err := e.host.Sysctl(e.ctx, key)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, e.abortf(err, "Failed to read sysctl '%s'", key)
	}
	return m.matches(strings.Trim(v, whitespace)), nil
}

// normalizeSysctl is sysctl_normalize: when the first separator is a
// dot, dots and slashes swap ("net.ipv4.conf.eth0/1.rp_filter" names
// "net/ipv4/conf/eth0.1/rp_filter"); the path is simplified and loses a
// leading slash.
func normalizeSysctl(s string) string {
	if i := strings.IndexAny(s, "/."); i >= 0 && s[i] == '.' {
		b := []byte(s)
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '.':
				b[j] = '/'
			case '/':
				b[j] = '.'
			}
		}
		s = string(b)
	}
	s = simplifyPath(s)
	if len(s) > 1 && s[0] == '/' {
		s = s[1:]
	}
	return s
}

// simplifyPath is path_simplify: repeated slashes and "." elements go,
// ".." stays, a trailing slash goes.
func simplifyPath(s string) string {
	abs := strings.HasPrefix(s, "/")
	var keep []string
	for _, el := range strings.Split(s, "/") {
		if el != "" && el != "." {
			keep = append(keep, el)
		}
	}
	out := strings.Join(keep, "/")
	if abs {
		return "/" + out
	}
	if out == "" && s != "" {
		return "."
	}
	return out
}

// matchTest is TEST{MODE}=="path": a relative path is taken as
// "[SUBSYSTEM/KERNEL]path" or else below the device's syspath; "/*/"
// expands; with a mode, some of its bits must be set on the file.
func (e *event) matchTest(t Token, m matcher) (bool, error) {
	p, truncated := e.format(t.Value, PathSize, false)
	if truncated {
		return false, nil
	}
	if !path.IsAbs(p) {
		if sp, ok := e.subsysPath(p); ok {
			p = sp
		} else {
			p = e.dev.Syspath + "/" + p
			if len(p) >= PathSize {
				return false, nil
			}
		}
	}
	p, err := e.substSubdir(p)
	if errors.Is(err, fs.ErrNotExist) {
		return m.op == OpNomatch, nil
	}
	if err != nil {
		return false, e.abortf(err, "Failed to test for the existence of '%s'", p)
	}
	mode, err := e.host.Stat(e.ctx, p)
	if err != nil {
		return m.op == OpNomatch, nil
	}
	if t.Attr == "" {
		return m.op == OpMatch, nil
	}
	want, perr := parseMode(t.Attr)
	if perr != nil {
		return m.op == OpMatch, nil // the loader refuses such a line
	}
	return (unixMode(mode)&want != 0) == (m.op == OpMatch), nil
}

// unixMode is the permission and set-id bits of st_mode.
func unixMode(m fs.FileMode) uint32 {
	u := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		u |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		u |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		u |= 0o1000
	}
	return u
}

// matchProgram is PROGRAM: it runs the command and, when it succeeds,
// keeps its output (up to LineSize-1 bytes, trailing newlines dropped,
// characters outside allowedInput replaced) as RESULT for later keys and
// lines. A failing program clears the result and fails ==.
func (e *event) matchProgram(t Token, m matcher) bool {
	e.programResult = nil
	out, ran, ok := e.runCommand(t, "Failed to execute \"%s\"")
	if !ran || !ok {
		return ran && m.op == OpNomatch
	}
	res := builtin.ReplaceChars(strings.TrimRight(out, "\n"), allowedInput)
	e.programResult = &res
	return m.op == OpMatch
}

// runCommand substitutes and runs the command of PROGRAM or
// IMPORT{program}: ran is false when the substitution was cut short,
// which fails the key whatever its operator; ok is whether it succeeded.
func (e *event) runCommand(t Token, failMsg string) (out string, ran, ok bool) {
	cmd, truncated := e.format(t.Value, LineSize, false)
	if truncated {
		return "", false, false
	}
	out, ok = e.spawn(cmd, failMsg)
	return out, true, ok
}

// spawn is udev_event_spawn with a result buffer: the command split as
// udevd splits it, its output cut at LineSize-1 bytes and at a NUL.
func (e *event) spawn(cmd, failMsg string) (string, bool) {
	argv := programArgv(cmd)
	if len(argv) == 0 || argv[0] == LibexecDir+"/" {
		e.diagf("Invalid command '%s'", cmd)
		return "", false
	}
	out, err := e.host.Program(e.ctx, argv, e.env())
	if err != nil {
		if !errors.Is(err, ErrProgramFailed) {
			e.warnf(failMsg+": %v", cmd, err)
		}
		return "", false
	}
	if len(out) > LineSize-1 {
		out = out[:LineSize-1]
	}
	s := string(out)
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	return s, true
}
