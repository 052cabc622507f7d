package rules

import (
	"errors"
	"strconv"
	"strings"

	"github.com/gudevd/gudevd/rules/builtin"
)

// allowedInput are the characters udevd keeps, besides letters, digits
// and "#+-.:=@_", in attribute values and PROGRAM results
// (UDEV_ALLOWED_CHARS_INPUT).
const allowedInput = "/ $%?,"

// format is udev_event_apply_format: src with its substitutions applied
// once (a substituted value is never read again for '$' or '%'), cut to
// size-1 bytes; truncated reports the cut. With replaceWS, whitespace in
// substituted values (not in %c, which handles it itself) is trimmed and
// each run becomes one '_'. An invalid substitution ends the output there
// with a warning, as udevd's does.
func (e *event) format(src string, size int, replaceWS bool) (string, bool) {
	var out strings.Builder
	truncated := false
	for s := src; s != ""; {
		tok, err := parseSubst(s, false)
		if err != nil {
			e.warnf("Invalid format string, ignoring: %s", src)
			break
		}
		s = tok.rest
		if tok.literal {
			if size-out.Len() < 2 {
				truncated = true
				break
			}
			out.WriteByte(tok.char)
			continue
		}
		val, ok := e.substValue(tok.typ, tok.attr, &truncated)
		if !ok {
			name, c := substNames(tok.typ)
			e.warnf("Failed to substitute variable '$%s' or apply format '%%%c', ignoring", name, c)
			break
		}
		if room := size - out.Len() - 1; len(val) > room {
			val, truncated = val[:room], true
		}
		if replaceWS && tok.typ != substResult {
			val = builtin.ReplaceWhitespace(val, len(val))
		}
		out.WriteString(val)
	}
	return out.String(), truncated
}

// substValue is udev_event_subst_format for one substitution; ok is false
// where udevd fails it. A value udevd cuts on its own way sets *truncated.
func (e *event) substValue(typ substType, attr string, truncated *bool) (string, bool) {
	d := e.dev
	switch typ {
	case substDevpath:
		return d.Devpath(), true
	case substKernel:
		return d.Sysname(), true
	case substNumber:
		return d.Sysnum(), true
	case substID:
		if e.devParent == nil {
			return "", true
		}
		return e.devParent.Sysname(), true
	case substDriver:
		if e.devParent == nil {
			return "", true
		}
		return e.devParent.Driver, true
	case substMajor, substMinor:
		return e.devnumPart(typ), true
	case substResult:
		return e.resultPart(attr)
	case substAttr:
		return e.attrValue(attr, truncated)
	case substParent:
		return e.parentName()
	case substDevnode:
		return d.Devname, true
	case substName:
		return e.nameValue(), true
	case substLinks:
		return strings.Join(e.linksNoDev(), " "), true
	case substRoot:
		return "/dev", true
	case substSys:
		return "/sys", true
	case substEnv:
		if attr == "" {
			return "", false
		}
		v, _ := e.getProp(attr)
		return v, true
	}
	return "", false
}

// devnumPart is %M or %m: 0 for a device without a number.
func (e *event) devnumPart(typ substType) string {
	if !e.dev.hasDevnum() {
		return "0"
	}
	if typ == substMajor {
		return strconv.FormatUint(uint64(e.dev.Major), 10)
	}
	return strconv.FormatUint(uint64(e.dev.Minor), 10)
}

// resultPart is %c, %c{N} (the Nth whitespace-separated word of the
// PROGRAM result) and %c{N+} (from the Nth word to the end).
func (e *event) resultPart(attr string) (string, bool) {
	if e.programResult == nil {
		return "", true
	}
	res := *e.programResult
	idx, plus := 0, false
	if attr != "" {
		var err error
		if idx, plus, err = parseResultIndex(attr); err != nil {
			return "", false
		}
	}
	if idx == 0 {
		return res, true
	}
	p := strings.TrimLeft(res, whitespace)
	i := 1
	for ; i < idx; i++ {
		p = strings.TrimLeft(p[len(firstWord(p)):], whitespace)
		if p == "" {
			break
		}
	}
	if i != idx {
		return "", true // "requested part of result string not found"
	}
	if plus {
		return p, true
	}
	return firstWord(p), true
}

// firstWord is s up to its first whitespace.
func firstWord(s string) string {
	if j := strings.IndexAny(s, whitespace); j >= 0 {
		s = s[:j]
	}
	return s
}

// attrValue is $attr{FILE}: "[SUBSYSTEM/KERNEL]attr" of another device,
// else the device's own attribute, else the one of the device the parents
// walk stopped at; trailing whitespace dropped and characters outside
// allowedInput replaced by '_'. udevd holds it in a NAME_SIZE buffer.
func (e *event) attrValue(attr string, truncated *bool) (string, bool) {
	if attr == "" {
		return "", false
	}
	val, found := e.subsysAttr(attr)
	if !found {
		var err error
		val, err = e.sysattr(e.dev, attr)
		found = err == nil
	}
	if !found && e.devParent != nil && e.devParent != e.dev {
		var err error
		val, err = e.sysattr(e.devParent, attr)
		found = err == nil
	}
	if !found {
		return "", true
	}
	if len(val) > NameSize-1 {
		val, *truncated = val[:NameSize-1], true
	}
	return builtin.ReplaceChars(strings.TrimRight(val, whitespace), allowedInput), true
}

// parentName is $parent: the node of the device's parent without "/dev/".
func (e *event) parentName() (string, bool) {
	p, err := e.parent(e.dev)
	if errors.Is(err, builtin.ErrNoDevice) {
		return "", true
	}
	if err != nil {
		return "", false
	}
	return strings.TrimPrefix(p.Devname, "/dev/"), true
}

// nameValue is $name: the NAME= so far, else the node without "/dev/",
// else the kernel name.
func (e *event) nameValue() string {
	switch {
	case e.res.Name != "":
		return e.res.Name
	case e.dev.Devname != "":
		return strings.TrimPrefix(e.dev.Devname, "/dev/")
	}
	return e.dev.Sysname()
}

func (e *event) linksNoDev() []string {
	var out []string
	for _, l := range e.devlinks.list {
		out = append(out, strings.TrimPrefix(l, "/dev/"))
	}
	return out
}

// replaceIfname is udev_replace_ifname (naming schemes with
// REPLACE_STRICTLY, Debian's v252): bytes outside 33..126 and ':' '/' '%'
// become '_'.
func replaceIfname(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c <= 32 || c >= 127 || c == ':' || c == '/' || c == '%' {
			b[i] = '_'
		}
	}
	return string(b)
}
