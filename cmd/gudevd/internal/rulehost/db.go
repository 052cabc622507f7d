package rulehost

import (
	"bytes"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/gudevd/gudevd/rules"
)

// DBEntry is one file of udevd's database, /run/udev/data/<device id>, as
// device_read_db reads it.
type DBEntry struct {
	rules.DB
	// Usec is USEC_INITIALIZED (I:), the CLOCK_MONOTONIC time the device
	// was first initialized; 0 when the entry has none.
	Usec uint64
	// Version is V:; entries before V:1 (systemd 247) had no Q: lines
	// and their G: tags count as current too.
	Version int
}

// ParseDB reads a database entry. Each line is a one-letter key, ':' and
// the value; udevd skips a line of an unknown key (W:, N:, M: of older
// versions) and a malformed one, and so does this. Links are kept with
// "/dev/" prepended, as sd-device keeps them; an E: line without '=' is
// skipped and one with an empty value unsets the key; an empty link and an invalid tag (empty, or with
// ':' or a space) are skipped as sd-device refuses them.
func ParseDB(data []byte) DBEntry {
	var e DBEntry
	var current []string
	for line := range bytes.Lines(data) {
		line = bytes.TrimSuffix(line, []byte("\n"))
		if len(line) < 2 || line[1] != ':' {
			continue
		}
		e.parseLine(line[0], string(line[2:]), &current)
	}
	if e.Version < 1 {
		current = slices.Clone(e.Tags)
	}
	e.CurrentTags = current
	return e
}

func (e *DBEntry) parseLine(key byte, v string, current *[]string) {
	switch key {
	case 'S':
		if v != "" {
			e.Devlinks = addOnce(e.Devlinks, "/dev/"+v)
		}
	case 'L':
		if n, err := strconv.Atoi(v); err == nil {
			e.LinkPriority = n
		}
	case 'I':
		if n, err := strconv.ParseUint(v, 10, 64); err == nil {
			e.Usec = n
		}
	case 'E':
		if k, val, ok := strings.Cut(v, "="); ok && k != "" {
			e.setProp(k, val)
		}
	case 'G':
		if validTag(v) {
			e.Tags = addOnce(e.Tags, v)
		}
	case 'Q':
		if validTag(v) {
			*current = addOnce(*current, v)
		}
	case 'V':
		if n, err := strconv.ParseUint(v, 10, 31); err == nil {
			e.Version = int(n)
		}
	}
}

// setProp replaces a key in place, as sd-device's ordered properties do;
// an empty value removes it.
func (e *DBEntry) setProp(k, v string) {
	i := slices.IndexFunc(e.Props, func(p rules.Property) bool { return p.Key == k })
	switch {
	case i >= 0 && v == "":
		e.Props = slices.Delete(e.Props, i, i+1)
		if len(e.Props) == 0 {
			e.Props = nil
		}
	case i >= 0:
		e.Props[i].Value = v
	case v != "":
		e.Props = append(e.Props, rules.Property{Key: k, Value: v})
	}
}

// validTag is sd-device's tag check.
func validTag(t string) bool { return t != "" && !strings.ContainsAny(t, ": \n") }

func addOnce(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// FormatDB writes an entry as device_update_db does: S:, L: (when not 0),
// I: (when set), E:, G:, Q: and V:1 (when Version says so).
func FormatDB(e DBEntry) []byte {
	var b bytes.Buffer
	for _, l := range e.Devlinks {
		b.WriteString("S:" + strings.TrimPrefix(l, "/dev/") + "\n")
	}
	if e.LinkPriority != 0 {
		b.WriteString("L:" + strconv.Itoa(e.LinkPriority) + "\n")
	}
	if e.Usec != 0 {
		b.WriteString("I:" + strconv.FormatUint(e.Usec, 10) + "\n")
	}
	for _, p := range e.Props {
		b.WriteString("E:" + p.Key + "=" + p.Value + "\n")
	}
	for _, t := range e.Tags {
		b.WriteString("G:" + t + "\n")
	}
	for _, t := range e.CurrentTags {
		b.WriteString("Q:" + t + "\n")
	}
	if e.Version > 0 {
		b.WriteString("V:" + strconv.Itoa(e.Version) + "\n")
	}
	return b.Bytes()
}

// DeviceID is the name of a device's database file (device_get_device_id):
// "b8:0" or "c13:64" for a device with a number, "n2" for a network
// interface, "+drivers:SUBSYSTEM:NAME" for a driver and "+SUBSYSTEM:NAME"
// for the rest; "" for a device without a subsystem, which has none.
func DeviceID(dev *rules.Device) string {
	switch {
	case dev.Subsystem == "":
		return ""
	case dev.Major > 0 && dev.Subsystem == "block":
		return "b" + strconv.FormatUint(uint64(dev.Major), 10) + ":" + strconv.FormatUint(uint64(dev.Minor), 10)
	case dev.Major > 0:
		return "c" + strconv.FormatUint(uint64(dev.Major), 10) + ":" + strconv.FormatUint(uint64(dev.Minor), 10)
	case dev.Ifindex > 0:
		return "n" + strconv.Itoa(dev.Ifindex)
	case dev.Subsystem == "drivers":
		// A driver's directory is bus/SUBSYSTEM/drivers/NAME.
		return "+drivers:" + path.Base(path.Dir(path.Dir(dev.Syspath))) + ":" + dev.Sysname()
	}
	return "+" + dev.Subsystem + ":" + dev.Sysname()
}
