package builtin

import "strings"

// hwdbLongOptions are the builtin's options, each taking an argument.
var hwdbLongOptions = [...]struct {
	name  string
	short byte
}{{"filter", 'f'}, {"device", 'd'}, {"subsystem", 's'}, {"lookup-prefix", 'p'}}

// parseHwdbArgs reads argv[1:] as glibc's getopt_long does for udevd's
// "f:d:s:p:": options anywhere among the operands (GNU permutes them),
// "--" ending them, a long option by any unambiguous abbreviation, its
// argument after '=' or as the next word, a short one's attached or
// next. udevd ignores what getopt refuses (an unknown option, a missing
// argument), and so does this. The last of a repeated option counts.
func parseHwdbArgs(argv []string) hwdbArgs {
	var a hwdbArgs
	var operands []string
	for i := 1; i < len(argv); i++ {
		arg := argv[i]
		switch {
		case arg == "--":
			operands = append(operands, argv[i+1:]...)
			i = len(argv)
		case strings.HasPrefix(arg, "--"):
			i = a.long(argv, i)
		case len(arg) > 1 && arg[0] == '-':
			i = a.short(argv, i)
		default:
			operands = append(operands, arg)
		}
	}
	if len(operands) > 0 {
		a.lookup = &operands[0]
	}
	return a
}

// long reads the long option at argv[i] and returns the index of the
// last word it used.
func (a *hwdbArgs) long(argv []string, i int) int {
	name, val, hasVal := strings.Cut(argv[i][2:], "=")
	var short byte
	for _, o := range hwdbLongOptions { // no name is another's prefix
		if name != "" && strings.HasPrefix(o.name, name) {
			short = o.short
			break
		}
	}
	if short == 0 {
		return i
	}
	if !hasVal {
		if i+1 >= len(argv) {
			return i
		}
		i++
		val = argv[i]
	}
	a.set(short, val)
	return i
}

// short reads a cluster of short options at argv[i]; every option of
// this builtin takes an argument, so the first known one ends it.
func (a *hwdbArgs) short(argv []string, i int) int {
	arg := argv[i]
	for j := 1; j < len(arg); j++ {
		if !strings.ContainsRune("fdsp", rune(arg[j])) {
			continue // getopt complains and goes on with the next letter
		}
		val := arg[j+1:]
		if val == "" {
			if i+1 >= len(argv) {
				return i
			}
			i++
			val = argv[i]
		}
		a.set(arg[j], val)
		return i
	}
	return i
}

func (a *hwdbArgs) set(short byte, val string) {
	v := &val
	switch short {
	case 'f':
		a.filter = v
	case 'd':
		a.device = v
	case 's':
		a.subsystem = v
	case 'p':
		a.prefix = v
	}
}
