package builtin

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// linkDirs are 252's NETWORK_DIRS as Debian bookworm builds it (split
// /usr: its 99-default.link is /lib/systemd/network's), highest priority
// first, relative to the root file system.
var linkDirs = [...]string{
	"etc/systemd/network",
	"run/systemd/network",
	"usr/local/lib/systemd/network",
	"usr/lib/systemd/network",
	"lib/systemd/network",
}

// LinkDirs returns where udevd looks for .link files, highest priority
// first, without the leading slash.
func LinkDirs() []string {
	return append([]string(nil), linkDirs[:]...)
}

// ErrLinkSyntax: a .link file has a section header without its ']'
// (conf-parser refuses the whole file for it).
var ErrLinkSyntax = errors.New("invalid .link file")

// LinkConfig is one .link file with its drop-ins, as link_load_one keeps
// it.
type LinkConfig struct {
	// Filename is the file's absolute path, what ID_NET_LINK_FILE shows.
	Filename string
	// Dropins are the drop-in files parsed after it, in order.
	Dropins []string
	Match   LinkMatch
	// Conditions are Host=, Virtualization=, KernelCommandLine=,
	// KernelVersion=, Credential=, Architecture= and Firmware= of [Match];
	// the last of each kind counts.
	Conditions []LinkCondition
	Link       LinkSettings
}

// LinkMatch is [Match] without the conditions. Each pattern list is
// fnmatch globs, a leading '!' negating one (a '!' before a whole
// assignment negates each of its words).
type LinkMatch struct {
	MACAddress          [][]byte
	PermanentMACAddress [][]byte
	Path                []string
	Driver              []string
	Type                []string
	Kind                []string
	OriginalName        []string
	// Property is "KEY=glob" words.
	Property []string
}

// LinkCondition is one condition of [Match], tested against the system
// once when the file is loaded.
type LinkCondition struct {
	Kind   string // "Host", "Virtualization", ...
	Value  string
	Negate bool
}

// LinkSettings is what of [Link] decides the name and addresses. Other
// keys (ethtool and rtnl settings) are kept as written in Other.
type LinkSettings struct {
	// NamePolicy is nil when not set, empty when set to nothing.
	NamePolicy             []string
	Name                   string
	AlternativeNamesPolicy []string
	AlternativeName        []string
	// MACAddressPolicy is "persistent", "random" or "none" (the default).
	MACAddressPolicy string
	MACAddress       []byte
	Description      string
	Other            map[string]string
}

// ConditionTest tells whether the system meets a condition, its Negate
// left aside; net_setup_link's callers know the host, its
// virtualization, kernel command line and architecture.
type ConditionTest func(c LinkCondition) bool

// LoadLinkConfigs reads the .link files of root's LinkDirs as
// link_config_load does: a file name found in a higher-priority directory
// hides the same name in lower ones, the files go in name order, an empty
// file (or a link to /dev/null) masks the name and is skipped, as is one
// whose [Match] is empty or whose conditions test does not pass (a nil
// test passes none). Files that fail to parse are skipped too, as udevd
// skips them after a warning; their errors are returned joined beside
// the configs.
func LoadLinkConfigs(ctx context.Context, root fs.FS, test ConditionTest) ([]*LinkConfig, error) {
	var configs []*LinkConfig
	var errs []error
	files, _ := ConfFiles(root, linkDirs[:], ".link") // an unreadable directory holds no files for udevd either
	for _, file := range files {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("load .link files: %w", err)
		}
		c, err := loadLinkFile(root, file)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if c != nil && c.conditionsMet(test) {
			configs = append(configs, c)
		}
	}
	return configs, errors.Join(errs...)
}

// loadLinkFile parses one .link file and its drop-ins
// (<name>.d/*.conf in every LinkDirs directory); nil for a masked or
// match-less file.
func loadLinkFile(root fs.FS, file string) (*LinkConfig, error) {
	main, err := fs.ReadFile(root, strings.TrimPrefix(file, "/"))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	if len(main) == 0 {
		return nil, nil // masked
	}
	c := &LinkConfig{Filename: file, Link: LinkSettings{MACAddressPolicy: "none"}}
	if err := c.parse(file, main); err != nil {
		return nil, err
	}
	dropinDirs := make([]string, len(linkDirs))
	for i, d := range linkDirs {
		dropinDirs[i] = path.Join(d, path.Base(file)+".d")
	}
	dropins, _ := ConfFiles(root, dropinDirs, ".conf")
	for _, d := range dropins {
		b, err := fs.ReadFile(root, strings.TrimPrefix(d, "/"))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", d, err)
		}
		if len(b) == 0 {
			continue
		}
		if err := c.parse(d, b); err != nil {
			return nil, err
		}
		c.Dropins = append(c.Dropins, d)
	}
	if c.Match.empty() && len(c.Conditions) == 0 {
		// udevd: "To match all interfaces, add OriginalName=*".
		return nil, nil
	}
	return c, nil
}

func (m LinkMatch) empty() bool {
	return len(m.MACAddress) == 0 && len(m.PermanentMACAddress) == 0 && len(m.Path) == 0 &&
		len(m.Driver) == 0 && len(m.Type) == 0 && len(m.Kind) == 0 && len(m.OriginalName) == 0 &&
		len(m.Property) == 0
}

// conditionsMet is condition_test_list for conditions without triggers:
// all must hold.
func (c *LinkConfig) conditionsMet(test ConditionTest) bool {
	for _, cond := range c.Conditions {
		if test == nil || test(cond) == cond.Negate {
			return false
		}
	}
	return true
}

// ParseLinkConfig parses one .link file's text (no drop-ins) into a
// config named file, for tests and tools.
func ParseLinkConfig(file string, text []byte) (*LinkConfig, error) {
	c := &LinkConfig{Filename: file, Link: LinkSettings{MACAddressPolicy: "none"}}
	if err := c.parse(file, text); err != nil {
		return nil, err
	}
	return c, nil
}

// parse reads the lines of a file as conf-parser does: "[Section]",
// "Key=Value" with white space trimmed, '#' and ';' comment lines (also
// inside a continuation), an unescaped backslash ending a line joining
// the next one in its place. Sections other than Match, Link and SR-IOV,
// unknown keys, invalid values and lines without '=' are ignored, as
// udevd ignores them after a warning.
func (c *LinkConfig) parse(file string, text []byte) error {
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(text))
	lineNo, cont := 0, ""
	for sc.Scan() {
		lineNo++
		raw := sc.Text()
		if t := strings.TrimLeft(raw, " \t\n\r"); t != "" && (t[0] == '#' || t[0] == ';') {
			continue
		}
		line := cont + raw
		if endsEscaped(line) {
			cont = line[:len(line)-1] + " "
			continue
		}
		cont = ""
		if err := c.parseLine(file, lineNo, &section, line); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", file, err)
	}
	if cont != "" {
		return c.parseLine(file, lineNo+1, &section, cont)
	}
	return nil
}

// endsEscaped reports whether the line ends in a backslash that is not
// itself escaped.
func endsEscaped(s string) bool {
	escaped := false
	for i := 0; i < len(s); i++ {
		escaped = !escaped && s[i] == '\\'
	}
	return escaped
}

// parseLine is parse_line for one logical line.
func (c *LinkConfig) parseLine(file string, lineNo int, section *string, line string) error {
	line = strings.Trim(line, " \t\n\r")
	switch {
	case line == "":
	case line[0] == '[':
		if !strings.HasSuffix(line, "]") {
			return fmt.Errorf("%w: %s:%d: bad section header", ErrLinkSyntax, file, lineNo)
		}
		*section = line[1 : len(line)-1]
	default:
		// A line without '=' or without a key is only warned about.
		if key, value, ok := strings.Cut(line, "="); ok && key != "" {
			c.assign(*section, strings.Trim(key, " \t\n\r"), strings.Trim(value, " \t\n\r"))
		}
	}
	return nil
}

// assign stores one assignment; an empty value resets a list.
func (c *LinkConfig) assign(section, key, value string) {
	switch section {
	case "Match":
		c.assignMatch(key, value)
	case "Link":
		c.assignLink(key, value)
	}
}

// linkConditionKinds are the conditions [Match] takes.
var linkConditionKinds = map[string]bool{
	"Host": true, "Virtualization": true, "KernelCommandLine": true, "KernelVersion": true,
	"Credential": true, "Architecture": true, "Firmware": true,
}

func (c *LinkConfig) assignMatch(key, value string) {
	m := &c.Match
	switch key {
	case "MACAddress":
		m.MACAddress = appendHWAddrs(m.MACAddress, value)
	case "PermanentMACAddress":
		m.PermanentMACAddress = appendHWAddrs(m.PermanentMACAddress, value)
	case "Path":
		m.Path = appendPatterns(m.Path, value, wordUnquote|wordRetainEscape, nil)
	case "Driver":
		m.Driver = appendPatterns(m.Driver, value, wordUnquote|wordRetainEscape, nil)
	case "Type":
		m.Type = appendPatterns(m.Type, value, wordUnquote|wordRetainEscape, nil)
	case "Kind":
		m.Kind = appendPatterns(m.Kind, value, wordUnquote|wordRetainEscape, nil)
	case "OriginalName":
		m.OriginalName = appendPatterns(m.OriginalName, value, 0, func(w string) bool { return ifnameValid(w, false) })
	case "Property":
		m.Property = appendPatterns(m.Property, value, wordUnquote|wordCUnescape, validAssignment)
	default:
		if linkConditionKinds[key] {
			c.setCondition(key, value)
		}
	}
}

// setCondition keeps the last condition of a kind; an empty value drops
// it.
func (c *LinkConfig) setCondition(kind, value string) {
	kept := c.Conditions[:0]
	for _, x := range c.Conditions {
		if x.Kind != kind {
			kept = append(kept, x)
		}
	}
	c.Conditions = kept
	if value == "" {
		return
	}
	neg := value[0] == '!'
	if neg {
		value = value[1:]
	}
	c.Conditions = append(c.Conditions, LinkCondition{Kind: kind, Value: value, Negate: neg})
}

func (c *LinkConfig) assignLink(key, value string) {
	l := &c.Link
	switch key {
	case "NamePolicy":
		l.NamePolicy = parsePolicies(value, namePolicies)
	case "AlternativeNamesPolicy":
		l.AlternativeNamesPolicy = parsePolicies(value, alternativeNamesPolicies)
	case "Name":
		if value == "" || ifnameValid(value, false) {
			l.Name = value
		}
	case "AlternativeName":
		if value == "" {
			l.AlternativeName = nil
			return
		}
		for _, w := range splitWords(value, 0) {
			if ifnameValid(w, true) && !contains(l.AlternativeName, w) {
				l.AlternativeName = append(l.AlternativeName, w)
			}
		}
	case "MACAddressPolicy":
		switch value {
		case "":
			l.MACAddressPolicy = "none"
		case "persistent", "random", "none":
			l.MACAddressPolicy = value
		}
	case "MACAddress":
		if a, ok := parseHWAddr(value); ok || value == "" {
			l.MACAddress = a
		}
	case "Description":
		l.Description = value
	default:
		if l.Other == nil {
			l.Other = map[string]string{}
		}
		l.Other[key] = value
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
