package builtin

import (
	"fmt"
	"strings"
)

// blkidOption is one of the builtin's getopt_long options.
type blkidOption struct {
	long   string
	short  byte
	hasArg bool
}

// blkidOptions are udevd's "o:H:R" and their long names.
var blkidOptions = [...]blkidOption{
	{"offset", 'o', true}, {"hint", 'H', true}, {"noraid", 'R', false},
}

// parseBlkidArgs reads argv[1:] as glibc's getopt_long reads udevd's
// options: anywhere among the operands, up to "--", long ones by any
// unambiguous abbreviation with "=VALUE" or the next word, short ones
// clustered ("-Ro0") with their argument attached or next. What getopt
// refuses (unknown option, missing or unwanted argument) udevd ignores,
// and operands too. A bad offset fails, as in udevd, when its option is
// read.
func parseBlkidArgs(argv []string) (BlkidRequest, error) {
	var req BlkidRequest
	for i := 1; i < len(argv); i++ {
		arg := argv[i]
		var opts []blkidArg
		switch {
		case arg == "--":
			return req, nil
		case strings.HasPrefix(arg, "--"):
			opts, i = blkidLong(argv, i)
		case len(arg) > 1 && arg[0] == '-':
			opts, i = blkidShort(argv, i)
		}
		for _, o := range opts {
			if err := req.set(o); err != nil {
				return req, err
			}
		}
	}
	return req, nil
}

// blkidArg is one option getopt returned, with its argument.
type blkidArg struct {
	short byte
	val   string
}

// blkidLong reads the long option at argv[i]; it returns what getopt
// accepted and the index of the last word used.
func blkidLong(argv []string, i int) ([]blkidArg, int) {
	name, val, hasVal := strings.Cut(argv[i][2:], "=")
	var match []blkidOption
	for _, o := range blkidOptions {
		if o.long == name {
			match = []blkidOption{o}
			break
		}
		if name != "" && strings.HasPrefix(o.long, name) {
			match = append(match, o)
		}
	}
	if len(match) != 1 {
		return nil, i // unknown or ambiguous
	}
	o := match[0]
	switch {
	case !o.hasArg && hasVal:
		return nil, i
	case !o.hasArg:
		return []blkidArg{{short: o.short}}, i
	case hasVal:
		return []blkidArg{{o.short, val}}, i
	case i+1 < len(argv):
		return []blkidArg{{o.short, argv[i+1]}}, i + 1
	}
	return nil, i
}

// blkidShort reads the cluster of short options at argv[i].
func blkidShort(argv []string, i int) ([]blkidArg, int) {
	arg := argv[i]
	var out []blkidArg
	for j := 1; j < len(arg); j++ {
		var o *blkidOption
		for k := range blkidOptions {
			if blkidOptions[k].short == arg[j] {
				o = &blkidOptions[k]
			}
		}
		switch {
		case o == nil:
			continue // getopt complains and goes on with the next letter
		case !o.hasArg:
			out = append(out, blkidArg{short: o.short})
			continue
		case j+1 < len(arg):
			return append(out, blkidArg{o.short, arg[j+1:]}), i
		case i+1 < len(argv):
			return append(out, blkidArg{o.short, argv[i+1]}), i + 1
		}
		return out, i
	}
	return out, i
}

// set applies one option. libblkid 2.38 has blkid_probe_set_hint, so
// udevd 252 passes --hint to libblkid rather than reading its value as an
// offset.
func (r *BlkidRequest) set(o blkidArg) error {
	switch o.short {
	case 'R':
		r.NoRaid = true
	case 'H':
		r.Hint = o.val
	case 'o':
		off, err := parseAtoi64(o.val)
		if err != nil {
			return fmt.Errorf("%w: %q: %w", ErrBlkidOffset, o.val, err)
		}
		if off < 0 {
			return fmt.Errorf("%w: %d is negative", ErrBlkidOffset, off)
		}
		r.Offset = off
	}
	return nil
}

// parseAtoi64 is systemd's safe_atoi64 (safe_atolli): leading
// whitespace, systemd's "0b" and "0o" and C's "0x" and leading-zero octal
// prefixes, a sign, nothing after the digits, strtoll's range.
func parseAtoi64(s string) (int64, error) {
	s = strings.TrimLeft(s, " \t\n\r")
	s, base := mangleBase(s, 0)
	mag, neg, ok := strtoull(s, base)
	switch {
	case !ok:
		return 0, ErrBadNumber
	case neg && mag <= 1<<63:
		return -int64(mag), nil
	case !neg && mag < 1<<63:
		return int64(mag), nil
	}
	return 0, fmt.Errorf("%w: out of range", ErrBadNumber)
}
