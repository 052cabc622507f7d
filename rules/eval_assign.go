package rules

import (
	"context"
	"errors"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/gudevd/gudevd/rules/builtin"
)

// applyAssign is udevd's handling of the assignment tokens. None fails
// the line; what udevd refuses is a diagnostic.
func (e *event) applyAssign(t Token) error {
	r := e.res
	switch t.Type {
	case TypeAOptionsStringEscapeNone:
		e.esc = escNone
	case TypeAOptionsStringEscapeReplace:
		e.esc = escReplace
	case TypeAOptionsDBPersist:
		r.DBPersist = true
	case TypeAOptionsInotifyWatch:
		if !r.WatchFinal {
			r.WatchFinal = t.Op == OpAssignFinal
			r.Watch = t.Value == "1"
		}
	case TypeAOptionsDevlinkPriority:
		e.linkPriority, _ = strconv.Atoi(t.Value)
	case TypeAOptionsLogLevel:
		r.LogLevel = t.Value
	case TypeAOwner, TypeAGroup, TypeAMode:
		e.assignPerm(t)
	case TypeAOwnerID, TypeAGroupID, TypeAModeID:
		e.assignPermID(t)
	case TypeATag:
		e.assignTag(t)
	case TypeAOptionsStaticNode:
		// static_node is applied when the rules load, not per event.
	case TypeASeclabel:
		e.assignSeclabel(t)
	case TypeAEnv:
		e.assignEnv(t)
	case TypeAName:
		e.assignName(t)
	case TypeADevlink:
		e.assignDevlink(t)
	case TypeAAttr:
		e.assignAttr(t)
	case TypeASysctl:
		e.assignSysctl(t)
	case TypeARunBuiltin, TypeARunProgram:
		e.assignRun(t)
	}
	return nil
}

// final applies udevd's ":=": once a key is final, later assignments to
// it are ignored; a ":=" makes it final (before the value is known, so
// a refused value still makes it final).
func final(isFinal *bool, op Op) (skip bool) {
	if *isFinal {
		return true
	}
	if op == OpAssignFinal {
		*isFinal = true
	}
	return false
}

// assignPerm is OWNER, GROUP and MODE with substitutions, resolved now.
func (e *event) assignPerm(t Token) {
	r := e.res
	switch t.Type {
	case TypeAOwner:
		if v, ok := e.formatPerm(t, &r.OwnerFinal, "The user name '%s' is truncated while substituting into '%s', refusing to apply the OWNER key."); ok {
			r.UID, r.UIDSet = e.resolveID(v, "user", e.host.LookupUser, r.UID, r.UIDSet)
		}
	case TypeAGroup:
		if v, ok := e.formatPerm(t, &r.GroupFinal, "The group name '%s' is truncated while substituting into '%s', refusing to apply the GROUP key."); ok {
			r.GID, r.GIDSet = e.resolveID(v, "group", e.host.LookupGroup, r.GID, r.GIDSet)
		}
	case TypeAMode:
		v, ok := e.formatPerm(t, &r.ModeFinal, "The mode '%s' is truncated while substituting into %s, refusing to apply the MODE key.")
		if !ok {
			return
		}
		m, err := parseMode(v)
		if err != nil {
			e.diagf("Failed to parse mode '%s', ignoring: %s", v, errText(err))
			return
		}
		r.Mode, r.ModeSet = m, true
	}
}

// formatPerm substitutes an OWNER, GROUP or MODE value unless the key is
// final; ok is false when it is or when the value was cut short.
func (e *event) formatPerm(t Token, isFinal *bool, truncMsg string) (string, bool) {
	if final(isFinal, t.Op) {
		return "", false
	}
	v, truncated := e.format(t.Value, NameSize, false)
	if truncated {
		e.warnf(truncMsg, v, t.Value)
		return "", false
	}
	return v, true
}

// resolveID is get_user_creds / get_group_creds: "root" and decimal ids
// need no lookup. On failure the earlier id stays.
func (e *event) resolveID(name, what string, lookup func(context.Context, string) (uint32, error), old uint32, oldSet bool) (uint32, bool) {
	if name == "root" {
		return 0, true
	}
	if id, ok := parseUID(name); ok {
		return id, true
	}
	id, err := lookup(e.ctx, name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		e.diagf("Unknown %s '%s', ignoring", what, name)
		return old, oldSet
	case err != nil:
		e.diagf("Failed to resolve %s '%s', ignoring: %v", what, name, err)
		return old, oldSet
	}
	return id, true
}

// assignPermID is OWNER, GROUP and MODE resolved when the rules loaded.
// An id of 4294967295 is UID_INVALID/GID_INVALID, what the loader keeps
// for a name it could not resolve: it takes back an earlier OWNER or
// GROUP, so the node keeps its default.
func (e *event) assignPermID(t Token) {
	r := e.res
	switch t.Type {
	case TypeAOwnerID:
		if !final(&r.OwnerFinal, t.Op) {
			r.UID, r.UIDSet = parsePermID(t.Value)
		}
	case TypeAGroupID:
		if !final(&r.GroupFinal, t.Op) {
			r.GID, r.GIDSet = parsePermID(t.Value)
		}
	case TypeAModeID:
		if final(&r.ModeFinal, t.Op) {
			return
		}
		if m, err := strconv.ParseUint(t.Value, 8, 32); err == nil {
			r.Mode, r.ModeSet = uint32(m), true
		}
	}
}

func parsePermID(v string) (uint32, bool) {
	id, err := strconv.ParseUint(v, 10, 32)
	if err != nil || id == invalidID {
		return 0, false
	}
	return uint32(id), true
}

// assignTag is TAG= (all tags dropped first, the earlier database's too),
// TAG+= and TAG-= (which drops only the current tag). A tag holds letters,
// digits, '-' and '_' only.
func (e *event) assignTag(t Token) {
	verb := "add"
	if t.Op == OpRemove {
		verb = "remove"
	}
	tag, truncated := e.format(t.Value, PathSize, false)
	if truncated {
		e.warnf("The tag name '%s' is truncated while substituting into '%s',refusing to %s the tag.", tag, t.Value, verb)
		return
	}
	if t.Op == OpAssign {
		e.allTags.clear()
		e.curTags.clear()
		e.tagsOutdated = true
	}
	if strings.TrimLeft(tag, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != "" {
		e.diagf("Invalid tag name '%s', ignoring", tag)
		return
	}
	if t.Op == OpRemove {
		e.curTags.remove(tag)
		e.tagsOutdated = true
		return
	}
	e.addTag(tag)
}

// assignSeclabel is SECLABEL{MODULE}: = drops the earlier labels; an
// empty substitution keeps the unsubstituted value.
func (e *event) assignSeclabel(t Token) {
	label, truncated := e.format(t.Value, LineSize, false)
	if truncated {
		e.warnf("The security label '%s' is truncated while substituting into '%s', refusing to apply the SECLABEL key.", label, t.Value)
		return
	}
	if label == "" {
		label = t.Value
	}
	if t.Op == OpAssign {
		e.res.Seclabels = nil
	}
	e.res.Seclabels = append(e.res.Seclabels, Seclabel{Module: t.Attr, Label: label})
}

// assignEnv is ENV{KEY}: an empty value unsets (ENV{KEY}+="" does
// nothing); += appends after a space; with string_escape=replace the new
// part has its unsafe characters replaced. The value must fit NAME_SIZE.
func (e *event) assignEnv(t Token) {
	key := t.Attr
	if t.Value == "" {
		if t.Op != OpAdd {
			e.unsetProp(key)
		}
		return
	}
	prefix := ""
	if old, ok := e.getProp(key); ok && t.Op == OpAdd {
		prefix = old + " "
		if len(prefix) > NameSize-1 {
			e.warnf("The buffer for the property '%s' is full, refusing to append the new value '%s'.", key, t.Value)
			return
		}
	}
	v, truncated := e.format(t.Value, NameSize-len(prefix), false)
	if truncated {
		e.warnf("The property value '%s' is truncated while substituting into '%s', refusing to add property '%s'.", v, t.Value, key)
		return
	}
	if e.esc == escReplace {
		v = builtin.ReplaceChars(v, "")
	}
	e.setProp(key, prefix+v)
}

// assignName is NAME=, for network interfaces only; unless
// string_escape=none the name's invalid characters become '_'.
func (e *event) assignName(t Token) {
	r := e.res
	if final(&r.NameFinal, t.Op) {
		return
	}
	if !e.dev.hasIfindex() {
		e.diagf("Only network interfaces can be renamed, ignoring NAME=\"%s\".", t.Value)
		return
	}
	name, truncated := e.format(t.Value, PathSize, false)
	if truncated {
		e.warnf("The network interface name '%s' is truncated while substituting into '%s', refusing to set the name.", name, t.Value)
		return
	}
	if e.esc != escNone {
		name = replaceIfname(name)
	}
	r.Name = name
}

// assignDevlink is SYMLINK= += :=, for devices with a node: the value is
// split at spaces into links below /dev. Substituted whitespace becomes
// '_' (unless string_escape=none); then unsafe characters become '_',
// except that without string_escape the rule's own spaces separate links
// and with string_escape=replace they become '_' too.
func (e *event) assignDevlink(t Token) {
	r := e.res
	if r.DevlinkFinal || !e.dev.hasDevnum() {
		return
	}
	final(&r.DevlinkFinal, t.Op)
	if t.Op == OpAssign || t.Op == OpAssignFinal {
		e.devlinks.clear()
		e.linksOutdated = true
	}
	v, truncated := e.format(t.Value, PathSize, e.esc != escNone)
	if truncated {
		e.warnf("The symbolic link path '%s' is truncated while substituting into '%s', refusing to add the device symbolic link.", v, t.Value)
		return
	}
	switch e.esc {
	case escUnset:
		v = builtin.ReplaceChars(v, "/ ")
	case escReplace:
		v = builtin.ReplaceChars(v, "/")
	}
	for _, l := range splitLinks(v) {
		if len("/dev/"+l) < PathSize {
			e.devlinks.add("/dev/" + l)
			e.linksOutdated = true
		}
	}
}

// splitLinks splits at ' ', skipping whitespace before each link.
func splitLinks(v string) []string {
	var out []string
	p := strings.TrimLeft(v, whitespace)
	for p != "" {
		l, next, found := strings.Cut(p, " ")
		out = append(out, l)
		if !found {
			break
		}
		p = strings.TrimLeft(next, whitespace)
	}
	return out
}

// assignAttr is ATTR{FILE}=: the file, never substituted, is below the
// device's syspath or "[SUBSYSTEM/KERNEL]file"; "/*/" expands. The write
// is recorded, not done; one that would leave /sys is refused.
func (e *event) assignAttr(t Token) {
	p, ok := e.subsysPath(t.Attr)
	if !ok {
		p = e.dev.Syspath + "/" + t.Attr
		if len(p) >= PathSize {
			e.warnf("The path to the attribute '%s/%s' is too long, refusing to set the attribute.", e.dev.Syspath, t.Attr)
			return
		}
	}
	p, err := e.substSubdir(p)
	if err != nil {
		e.diagf("Could not find file matches '%s', ignoring: %v", p, err)
		return
	}
	v, truncated := e.format(t.Value, NameSize, false)
	if truncated {
		e.warnf("The attribute value '%s' is truncated while substituting into '%s', refusing to set the attribute '%s'", v, t.Value, p)
		return
	}
	if c := path.Clean(p); !strings.HasPrefix(c, "/sys/") {
		e.diagf("ATTR{%s} resolves to '%s', outside /sys, refusing to write it", t.Attr, c)
		return
	}
	e.res.AttrWrites = append(e.res.AttrWrites, e.write(path.Clean(p), v))
}

func (e *event) write(p, v string) Write {
	return Write{Path: p, Value: v, File: e.line.File, Line: e.line.Number}
}

// assignSysctl is SYSCTL{KEY}=, key and value substituted, the key
// normalized; a key that would leave /proc/sys is refused as udevd's
// sysctl_write refuses it.
func (e *event) assignSysctl(t Token) {
	key, truncated := e.format(t.Attr, PathSize, false)
	if truncated {
		e.warnf("The sysctl entry name '%s' is truncated while substituting into '%s', refusing to set the sysctl entry.", key, t.Attr)
		return
	}
	v, truncated := e.format(t.Value, NameSize, false)
	if truncated {
		e.warnf("The sysctl value '%s' is truncated while substituting into '%s', refusing to set the sysctl entry '%s'", v, t.Value, key)
		return
	}
	key = normalizeSysctl(key)
	full := simplifyPath("/proc/sys/" + key)
	if strings.Contains("/"+full+"/", "/../") {
		e.diagf("Failed to write SYSCTL{%s}='%s', ignoring: invalid argument", key, v)
		return
	}
	e.res.SysctlWrites = append(e.res.SysctlWrites, e.write(strings.TrimPrefix(full, "/proc/sys/"), v))
}

// assignRun is RUN{program} and RUN{builtin}: = and := drop the earlier
// entries (of both kinds); := makes the list final. udevd keys its list
// by the string's address, so the same command may appear twice.
func (e *event) assignRun(t Token) {
	r := e.res
	if final(&r.RunFinal, t.Op) {
		return
	}
	if t.Op == OpAssign || t.Op == OpAssignFinal {
		r.Run = nil
	}
	cmd, truncated := e.format(t.Value, LineSize, false)
	if truncated {
		e.warnf("The command '%s' is truncated while substituting into '%s', refusing to invoke the command.", cmd, t.Value)
		return
	}
	run := Run{Command: cmd}
	if t.Type == TypeARunBuiltin {
		name, ok := LookupBuiltin(t.Value)
		if !ok {
			// The loader refuses such a line ("Unknown builtin command").
			e.diagf("Unknown builtin command '%s', ignoring", t.Value)
			return
		}
		run.Builtin, run.Argv = name, SplitCommand(cmd)
	} else {
		run.Argv = programArgv(cmd)
	}
	r.Run = append(r.Run, run)
}
