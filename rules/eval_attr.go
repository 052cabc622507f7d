package rules

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// splitSubsysKernel reads "[SUBSYSTEM/KERNEL]attr" (one '/' after ']'
// is dropped); ok is false for anything else.
func splitSubsysKernel(s string) (subsys, sysname, attr string, ok bool) {
	rest, ok := strings.CutPrefix(s, "[")
	if !ok {
		return "", "", "", false
	}
	subsys, rest, ok = strings.Cut(rest, "/")
	if !ok {
		return "", "", "", false
	}
	sysname, rest, ok = strings.Cut(rest, "]")
	if !ok {
		return "", "", "", false
	}
	return subsys, sysname, strings.TrimPrefix(rest, "/"), true
}

// subsysAttr is udev_resolve_subsys_kernel reading a value: the
// attribute of the device named by "[SUBSYSTEM/KERNEL]attr", "" when the
// attribute is missing or unreadable for permissions; ok is false when
// s is not of that form, names no attribute or no device, or the read
// fails otherwise.
func (e *event) subsysAttr(s string) (string, bool) {
	subsys, sysname, attr, ok := splitSubsysKernel(s)
	if !ok || attr == "" {
		return "", false
	}
	d, err := e.host.LookupDevice(e.ctx, subsys, sysname)
	if err != nil || d == nil {
		return "", false
	}
	v, err := e.sysattr(d, attr)
	switch {
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission):
		return "", true
	case err != nil:
		return "", false
	}
	if len(v) > NameSize-1 {
		v = v[:NameSize-1]
	}
	return v, true
}

// subsysPath is udev_resolve_subsys_kernel giving a path: the syspath of
// the named device, with "/attr" when an attribute is named.
func (e *event) subsysPath(s string) (string, bool) {
	subsys, sysname, attr, ok := splitSubsysKernel(s)
	if !ok {
		return "", false
	}
	d, err := e.host.LookupDevice(e.ctx, subsys, sysname)
	if err != nil || d == nil {
		return "", false
	}
	if attr == "" {
		return d.Syspath, true
	}
	return d.Syspath + "/" + attr, true
}

// matchAttr is token_match_attr for ATTR{} on the device and ATTRS{} on
// a parent. The name is "[SUBSYSTEM/KERNEL]attr" (no substitution), or
// is substituted when it holds '%' or '$' (a truncated name fails). The
// value loses its trailing whitespace unless the rule's value (its first
// alternative) itself ends in whitespace.
func (e *event) matchAttr(t Token, d *Device) bool {
	var val string
	name := t.Attr
	if strings.HasPrefix(name, "[") {
		v, ok := e.subsysAttr(name)
		if !ok {
			return false
		}
		val = v
	} else {
		if strings.ContainsAny(name, "%$") {
			n, truncated := e.format(name, NameSize, false)
			if truncated {
				return false
			}
			name = n
		}
		v, err := e.sysattr(d, name)
		if err != nil {
			return false
		}
		val = v
	}
	if fa := firstAlternative(t); fa != "" && strings.IndexByte(cSpace, fa[len(fa)-1]) < 0 {
		if len(val) > NameSize-1 {
			val = val[:NameSize-1]
		}
		val = strings.TrimRight(val, whitespace)
	}
	return compileMatch(t).matches(val)
}

// substSubdir is attr_subst_subdir: the first "/*/" of p stands for any
// entry of that directory (not starting with '.') under which the rest
// of p exists, the first found in directory order. Without "/*/" p is
// returned as it is.
func (e *event) substSubdir(p string) (string, error) {
	i := strings.Index(p, "/*/")
	if i < 0 {
		return p, nil
	}
	dir, tail := p[:i+1], p[i+2:]
	if len(dir) >= PathSize {
		return "", fmt.Errorf("%s: %w", p, fs.ErrNotExist)
	}
	d := strings.TrimSuffix(dir, "/")
	if d == "" {
		d = "/"
	}
	names, err := e.host.ReadDir(e.ctx, d)
	if err != nil {
		return "", err
	}
	for _, n := range names {
		c := dir + n + tail
		if strings.HasPrefix(n, ".") || len(c) >= PathSize {
			continue
		}
		if _, err := e.host.Stat(e.ctx, c); err == nil {
			return c, nil
		}
	}
	return "", fmt.Errorf("%s: %w", p, fs.ErrNotExist)
}
