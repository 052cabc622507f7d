package rules

import (
	"errors"
	"strings"
)

// LineSize is UDEV_LINE_SIZE: the longest rule line udevd reads, in bytes
// with the terminating NUL.
const LineSize = 16384

// whitespace is systemd's WHITESPACE: what skip_leading_chars skips,
// what separates the words of a command and of a PROGRAM result.
const whitespace = " \t\n\r"

// errBadPair is parse_line's -EINVAL.
var errBadPair = errors.New("invalid key/value pair")

// physLine is one physical line as read_line returns it.
type physLine struct {
	text    string
	tooLong bool // read_line's -ENOBUFS: this line and the rest are lost
}

// physLines splits data as read_line does: \n, \r and \0 end a line, and
// so does any combination of them in which none repeats, a \0 closing it
// (\r\n, \n\r, \n\0, \r\n\0 ... are one end of line; \n\n is two).
func physLines(data []byte) []physLine {
	var out []physLine
	for len(data) > 0 {
		n, end := 0, 0
		for n < len(data) && eolKind(data[n]) == 0 {
			n++
		}
		// read_line checks its limit before each byte it reads, the end
		// of the line included.
		if n >= LineSize {
			return append(out, physLine{tooLong: true})
		}
		end = n
		var seen byte
		for end < len(data) {
			k := eolKind(data[end])
			if k == 0 || seen&k != 0 || seen&eolNUL != 0 {
				break
			}
			seen |= k
			end++
		}
		out = append(out, physLine{text: string(data[:n])})
		data = data[end:]
	}
	return out
}

const (
	eolLF byte = 1 << iota
	eolCR
	eolNUL
)

func eolKind(c byte) byte {
	switch c {
	case '\n':
		return eolLF
	case '\r':
		return eolCR
	case 0:
		return eolNUL
	}
	return 0
}

// logicalLine is a rule line after comments are skipped and continuations
// joined, numbered by its last physical line as udevd reports it.
type logicalLine struct {
	text    string
	number  int
	tooLong bool // "Line is too long, ignored"
}

// logicalLines joins continued lines as udev_rules_parse_file does.
// Leading whitespace is skipped on every physical line and a line starting
// with '#' is skipped even in the middle of a continuation. A line ending
// in a backslash continues on the next; once the joined text would reach
// LineSize, the rest of the continued line is read and the whole ignored.
// It returns the line number read_line failed at, 0 if none did.
func logicalLines(data []byte) (lines []logicalLine, failedAt int) {
	var cont strings.Builder
	inCont, ignore := false, false
	nr := 0
	for _, pl := range physLines(data) {
		if pl.tooLong {
			return lines, nr + 1
		}
		nr++
		line := strings.TrimLeft(pl.text, whitespace)
		if strings.HasPrefix(line, "#") {
			continue
		}
		if inCont && !ignore {
			if cont.Len()+len(line) >= LineSize {
				ignore = true
			}
			cont.WriteString(line)
			if !ignore {
				line = cont.String()
			}
		}
		if strings.HasSuffix(line, `\`) {
			if ignore {
				continue
			}
			if !inCont {
				inCont = true
				cont.WriteString(line[:len(line)-1])
			} else {
				s := cont.String()
				cont.Reset()
				cont.WriteString(s[:len(s)-1])
			}
			continue
		}
		switch {
		case ignore:
			lines = append(lines, logicalLine{number: nr, tooLong: true})
		case line != "":
			lines = append(lines, logicalLine{text: line, number: nr})
		}
		cont.Reset()
		inCont, ignore = false, false
	}
	return lines, 0
}

// pair is one KEY{ATTR}OP"VALUE" as parse_line splits it.
type pair struct {
	key     string
	attr    string
	hasAttr bool // {…} was given, perhaps empty
	op      Op
	value   string
}

// nextPair is parse_line: it skips whitespace and commas, reads the key up
// to whitespace, '=', '{' or an operator, the {attribute} up to the first
// '}', whitespace, the operator, whitespace and the quoted value. It
// returns ok false at the end of the line.
func nextPair(s string) (p pair, rest string, ok bool, err error) {
	s = strings.TrimLeft(s, whitespace+",")
	if s == "" {
		return p, "", false, nil
	}
	end := 0
	for ; ; end++ {
		if end == len(s) {
			return p, "", false, errBadPair
		}
		c := s[end]
		if strings.IndexByte(whitespace+"={", c) >= 0 {
			break
		}
		if strings.IndexByte("+-!:", c) >= 0 && end+1 < len(s) && s[end+1] == '=' {
			break
		}
	}
	p.key, s = s[:end], s[end:]
	if strings.HasPrefix(s, "{") {
		close := strings.IndexByte(s, '}')
		if close < 0 {
			return p, "", false, errBadPair
		}
		p.attr, p.hasAttr, s = s[1:close], true, s[close+1:]
	}
	s = strings.TrimLeft(s, whitespace)
	var n int
	p.op, n = lexOperator(s)
	if p.op == OpInvalid {
		return p, "", false, errBadPair
	}
	s = strings.TrimLeft(s[n:], whitespace)
	p.value, rest, err = lexValue(s)
	if err != nil {
		return p, "", false, err
	}
	return p, rest, true, nil
}

// lexOperator is parse_operator, with the operator's length.
func lexOperator(s string) (Op, int) {
	for _, o := range []struct {
		text string
		op   Op
	}{{"==", OpMatch}, {"!=", OpNomatch}, {"+=", OpAdd}, {"-=", OpRemove}, {"=", OpAssign}, {":=", OpAssignFinal}} {
		if strings.HasPrefix(s, o.text) {
			return o.op, len(o.text)
		}
	}
	return OpInvalid, 0
}

// lexValue is udev_rule_parse_value: a double-quoted value in which \"
// stands for a quote and every other backslash is itself, or e"…" with C
// escapes. The rest of the line follows the closing quote.
func lexValue(s string) (value, rest string, err error) {
	escaped := strings.HasPrefix(s, "e")
	if escaped {
		s = s[1:]
	}
	if !strings.HasPrefix(s, `"`) {
		return "", "", errBadPair
	}
	s = s[1:]
	if !escaped {
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			switch {
			case s[i] == '"':
				return b.String(), s[i+1:], nil
			case s[i] == '\\' && i+1 < len(s) && s[i+1] == '"':
				i++
			}
			b.WriteByte(s[i])
		}
		return "", "", errBadPair
	}
	// A backslash hides the next byte from the search for the end.
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			v, err := cUnescape(s[:i])
			return v, s[i+1:], err
		case '\\':
			i++
		}
	}
	return "", "", errBadPair
}
