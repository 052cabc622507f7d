package rules

import "strings"

// LibexecDir is where udevd 252 as Debian bookworm builds it (split-usr,
// rootprefix "/") finds a program named without a path: "ata_id" runs
// /lib/udev/ata_id.
const LibexecDir = "/lib/udev"

// SplitCommand splits a command line as udevd does for programs and
// builtins (extract_first_word with UNQUOTE, RELAX and RETAIN_ESCAPE):
// words are separated by runs of " \t\n\r"; single and double quotes
// group and are removed, an unclosed quote runs to the end; a backslash
// is an ordinary character. `a"b c"d` is one word, "ab cd"; `""` is an
// empty word.
func SplitCommand(s string) []string {
	var words []string
	for {
		s = strings.TrimLeft(s, whitespace)
		if s == "" {
			return words
		}
		var w strings.Builder
		var quote byte
		i := 0
		for ; i < len(s); i++ {
			c := s[i]
			switch {
			case quote != 0 && c == quote:
				quote = 0
			case quote != 0:
				w.WriteByte(c)
			case c == '\'' || c == '"':
				quote = c
			case strings.IndexByte(whitespace, c) >= 0:
				goto done
			default:
				w.WriteByte(c)
			}
		}
	done:
		words = append(words, w.String())
		s = s[i:]
	}
}

// programArgv is the argv udevd executes for a PROGRAM, IMPORT{program}
// or RUN command: argv[0] below LibexecDir unless absolute; nil when the
// command has no first word or an empty one.
func programArgv(cmd string) []string {
	argv := SplitCommand(cmd)
	if len(argv) == 0 || argv[0] == "" {
		return nil
	}
	if !strings.HasPrefix(argv[0], "/") {
		argv[0] = LibexecDir + "/" + argv[0]
	}
	return argv
}

// builtins are udevd 252's builtins in its table's order (the
// UdevBuiltinCommand enum: usb_id before uaccess), and whether each runs
// only once per event (later IMPORT{builtin} of it give the first run's
// outcome). The order decides what a prefix names: "u" is usb_id.
var builtins = []struct {
	name    string
	runOnce bool
}{
	{"blkid", true},
	{"btrfs", false},
	{"hwdb", false},
	{"input_id", false},
	{"keyboard", false},
	{"kmod", false},
	{"net_id", false},
	{"net_setup_link", false},
	{"path_id", true},
	{"usb_id", true},
	{"uaccess", false},
}

// LookupBuiltin is udev_builtin_lookup: the builtin the first word of a
// command names. udevd compares only as many characters as the word has,
// so a prefix ("path") names the first builtin it starts.
func LookupBuiltin(cmd string) (name string, ok bool) {
	w := strings.TrimLeft(cmd, whitespace)
	if i := strings.IndexAny(w, whitespace); i >= 0 {
		w = w[:i]
	}
	for _, b := range builtins {
		if strings.HasPrefix(b.name, w) {
			return b.name, true
		}
	}
	return "", false
}

func builtinRunsOnce(name string) bool {
	for _, b := range builtins {
		if b.name == name {
			return b.runOnce
		}
	}
	return false
}
