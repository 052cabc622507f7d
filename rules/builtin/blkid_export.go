package builtin

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"
)

// ErrBlkidExport: a line of blkid's export output is not NAME=value.
var ErrBlkidExport = errors.New("malformed blkid export line")

// blkid(8)'s exit codes in its low-level mode.
const (
	blkidExitNotFound = 2 // nothing detected, or the node not opened
	blkidExitAmbival  = 8 // blkid_do_safeprobe's -2
)

// BlkidCommand is the util-linux command line whose probe is udevd's:
//
//	blkid -p -o export [-u noraid] [-O OFFSET] [-H HINT] -- NODE
//
// -p is blkid's low-level mode, which sets the superblock flags udevd sets
// (LABEL, UUID, TYPE, SECTYPE, USAGE, VERSION), enables partitions and,
// as udevd's probe_superblocks, probes a small partitioned whole disk for
// its table only and otherwise asks for the partition entry details (so
// no -D, --no-part-details) before blkid_do_safeprobe. -u noraid is
// udevd's --noraid filter (BLKID_FLTR_NOTIN of BLKID_USAGE_RAID), -O the
// offset given to blkid_probe_set_device with size 0 (no -S), -H the hint
// given to blkid_probe_set_hint; -n would filter by type, which udevd
// does not. -o export prints each value as NAME=value after a DEVNAME
// line, escaped by safe_print (ParseBlkidExport). Run it with LC_ALL=C
// so that its messages are the ones BlkidResult reads.
func BlkidCommand(req BlkidRequest) []string {
	argv := []string{"blkid", "-p", "-o", "export"}
	if req.NoRaid {
		argv = append(argv, "-u", "noraid")
	}
	if req.Offset != 0 {
		argv = append(argv, "-O", strconv.FormatInt(req.Offset, 10))
	}
	if req.Hint != "" {
		argv = append(argv, "-H", req.Hint)
	}
	return append(argv, "--", req.Node)
}

// BlkidResult reads a run of BlkidCommand: its stdout, stderr and exit
// status. It returns libblkid's values without blkid's DEVNAME line.
// Exit 2 with nothing on stderr is nothing found (blkid also exits so,
// silently, when the node does not exist); with a message it is the
// open's error, ErrBlkidDeviceAbsent for ENOENT, ENODEV, ENXIO. Exit 8 is
// ErrBlkidAmbivalent, anything else but 0 ErrBlkidFailed.
func BlkidResult(stdout, stderr []byte, exit int) ([]Prop, error) {
	msg := strings.TrimSpace(string(stderr))
	switch {
	case exit == blkidExitNotFound && msg == "":
		return nil, nil
	case exit == blkidExitNotFound && blkidAbsentMessage(msg):
		return nil, fmt.Errorf("%w: %s", ErrBlkidDeviceAbsent, msg)
	case exit == blkidExitAmbival:
		return nil, fmt.Errorf("%w: %s", ErrBlkidAmbivalent, msg)
	case exit != 0:
		return nil, fmt.Errorf("%w: exit status %d: %s", ErrBlkidFailed, exit, msg)
	}
	values, err := ParseBlkidExport(stdout)
	if err != nil {
		return nil, err
	}
	if len(values) > 0 && values[0].Key == "DEVNAME" {
		values = values[1:]
	}
	return values, nil
}

// blkidAbsentMessage: blkid's warn() ends the message with strerror's
// text of the open's errno.
func blkidAbsentMessage(msg string) bool {
	for _, e := range []syscall.Errno{syscall.ENOENT, syscall.ENODEV, syscall.ENXIO} {
		if strings.HasSuffix(strings.ToLower(msg), ": "+strings.ToLower(e.Error())) {
			return true
		}
	}
	return false
}

// blkidExportEscaped are the characters safe_print puts a backslash
// before in export output.
const blkidExportEscaped = " \\\"'$`<>"

// ParseBlkidExport parses blkid's -o export output: NAME=value lines, an
// empty line between devices, the value written by safe_print: a byte of
// 128 or more as "M-" and the byte less 128, a control character as '^'
// and the character xor 0x40 ("^?" for DEL), and the characters of
// " \"'$`<>" and the backslash after a backslash. safe_print escapes
// neither a literal "M-" nor a literal '^', so its output is ambiguous;
// this reads "M-" followed by a character always as the high bit, '^'
// followed by one of "A".."_" or '?' as a control character ("^@" only
// after "M-": a C string holds no NUL; "^\\" by the parity of the
// backslashes that follow), a backslash as an escape only before one of
// the escaped characters. A libblkid value holding "M-x", "^A" or '^'
// before a byte of 128 or more therefore reads back wrongly. The
// DEVNAME line blkid prints first is not escaped; in the values a byte
// safe_print would have escaped is malformed. (blkid -d
// would print raw bytes, but a newline in a value would then break the
// lines.)
func ParseBlkidExport(out []byte) ([]Prop, error) {
	var props []Prop
	for _, line := range bytes.Split(out, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		name, val, ok := bytes.Cut(line, []byte("="))
		if !ok || len(name) == 0 || bytes.IndexByte(line, 0) >= 0 { // C strings hold no NUL
			return nil, fmt.Errorf("%w: %q", ErrBlkidExport, line)
		}
		if len(props) == 0 && string(name) == "DEVNAME" { // printed as it is
			props = append(props, Prop{string(name), string(val)})
			continue
		}
		if bytes.ContainsFunc(val, func(r rune) bool { return r < 0x20 || r >= 0x7f }) {
			return nil, fmt.Errorf("%w: unescaped byte in %q", ErrBlkidExport, line)
		}
		props = append(props, Prop{string(name), unescapeBlkid(val)})
	}
	return props, nil
}

// unescapeBlkid undoes safe_print, reading its tokens left to right.
func unescapeBlkid(v []byte) string {
	out := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		var high byte
		if v[i] == 'M' && i+2 < len(v) && v[i+1] == '-' {
			high, i = 0x80, i+2
		}
		c := v[i]
		if i+1 < len(v) {
			next := v[i+1]
			switch {
			case c == '^' && next == '\\' && !caretBeforeEscape(v[i+1:]):
			case c == '^' && (next > '@' && next <= '_' || next == '?' || next == '@' && high != 0):
				c, i = next^0x40, i+1
			case c == '\\' && strings.IndexByte(blkidExportEscaped, next) >= 0:
				c, i = next, i+1
			}
		}
		out = append(out, c|high)
	}
	return string(out)
}

// caretBeforeEscape tells, for a '^' followed by the backslashes that
// start rest, whether it is "^\\" (the control character 0x1c) rather
// than a literal '^' before an escape. safe_print writes backslashes in
// pairs, or one before an escaped character, so the parity of the run
// and what ends it decide.
func caretBeforeEscape(rest []byte) bool {
	n := 0
	for n < len(rest) && rest[n] == '\\' {
		n++
	}
	escapedEnd := n < len(rest) && strings.IndexByte(blkidExportEscaped, rest[n]) >= 0
	return (n-1)%2 == 1 == escapedEnd
}

// FormatBlkidExport writes values as blkid -o export does, the inverse
// of ParseBlkidExport: a leading DEVNAME as it is, the rest escaped.
func FormatBlkidExport(values []Prop) []byte {
	var b bytes.Buffer
	for i, p := range values {
		b.WriteString(p.Key)
		b.WriteByte('=')
		if i == 0 && p.Key == "DEVNAME" {
			b.WriteString(p.Value)
		} else {
			escapeBlkid(&b, p.Value)
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// escapeBlkid is safe_print with the export format's escaped characters.
func escapeBlkid(b *bytes.Buffer, v string) {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c >= 0x80 {
			b.WriteString("M-")
			c -= 0x80
		}
		switch {
		case c < 0x20 || c == 0x7f:
			b.WriteByte('^')
			c ^= 0x40
		case strings.IndexByte(blkidExportEscaped, c) >= 0:
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
}
