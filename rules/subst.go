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
			val = replaceWhitespace(val)
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
	return replaceChars(strings.TrimRight(val, whitespace), allowedInput), true
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

// replaceWhitespace is udev_replace_whitespace: leading and trailing
// whitespace dropped, each inner run made one '_'.
func replaceWhitespace(s string) string {
	var b strings.Builder
	space := false
	s = strings.TrimLeft(s, whitespace)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isSpace(c) {
			space = true
			continue
		}
		if space {
			b.WriteByte('_')
			space = false
		}
		b.WriteByte(c)
	}
	return b.String()
}

// isSpace is C's isspace in the C locale.
func isSpace(c byte) bool {
	return c == ' ' || c >= '\t' && c <= '\r'
}

// replaceChars is udev_replace_chars: letters, digits, "#+-.:=@_", the
// allowed characters, "\x" escapes and valid UTF-8 stay; whitespace
// becomes ' ' when ' ' is allowed; anything else becomes '_'.
func replaceChars(s, allow string) string {
	b := []byte(s)
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case isDevnodeChar(c) || strings.IndexByte(allow, c) >= 0:
			i++
		case c == '\\' && i+1 < len(b) && b[i+1] == 'x':
			i += 2
		case utf8Len(b[i:]) > 1:
			i += utf8Len(b[i:])
		case isSpace(c) && strings.IndexByte(allow, ' ') >= 0:
			b[i] = ' '
			i++
		default:
			b[i] = '_'
			i++
		}
	}
	return string(b)
}

func isDevnodeChar(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' ||
		strings.IndexByte("#+-.:=@_", c) >= 0
}

// utf8Len is utf8_encoded_valid_unichar: the length of the character
// starting b, or 0 when it is not valid by udevd's checks (which only
// require the high bit of each continuation byte, allow up to six bytes
// by the lead byte and reject non-shortest forms, surrogates, values past
// U+10FFFF, U+FDD0..U+FDEF and U+xFFFE/U+xFFFF).
func utf8Len(b []byte) int {
	n := utf8ExpectedLen(b[0])
	if n <= 1 {
		return n
	}
	if n > len(b) {
		return 0
	}
	u := rune(b[0]) & (0x7f >> n)
	for i := 1; i < n; i++ {
		if b[i]&0x80 == 0 {
			return 0
		}
		u = u<<6 | rune(b[i])&0x3f
	}
	if encodedLen(u) != n || !validUnichar(u) {
		return 0
	}
	return n
}

func utf8ExpectedLen(c byte) int {
	switch {
	case c < 0x80:
		return 1
	case c&0xe0 == 0xc0:
		return 2
	case c&0xf0 == 0xe0:
		return 3
	case c&0xf8 == 0xf0:
		return 4
	case c&0xfc == 0xf8:
		return 5
	case c&0xfe == 0xfc:
		return 6
	}
	return 0
}

func encodedLen(u rune) int {
	switch {
	case u < 0x80:
		return 1
	case u < 0x800:
		return 2
	case u < 0x10000:
		return 3
	case u < 0x200000:
		return 4
	case u < 0x4000000:
		return 5
	}
	return 6
}

func validUnichar(u rune) bool {
	return u < 0x110000 && u&^0x7ff != 0xd800 && !(u >= 0xfdd0 && u <= 0xfdef) && u&0xfffe != 0xfffe
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
