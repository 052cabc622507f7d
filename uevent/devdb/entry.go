package devdb

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
)

// LatestVersion is the V: udevd 252 writes (LATEST_UDEV_DATABASE_VERSION):
// from version 1 (systemd 247) on, Q: lines list the current tags.
const LatestVersion = 1

// Property is one E: line, KEY=VALUE.
type Property struct{ Key, Value string }

// Entry is one file of the database as sd-device holds it after
// device_read_db.
type Entry struct {
	// Devlinks are absolute ("/dev/disk/by-id/x"); S: lines store them
	// without "/dev/".
	Devlinks     []string
	LinkPriority int    // L:
	Usec         uint64 // I:, USEC_INITIALIZED (CLOCK_MONOTONIC µs); 0 for none
	Props        []Property
	// Tags are every tag ever set (G:; a Q: tag is one too); CurrentTags
	// are the Q: lines as written. An entry before V:1 has no Q: lines
	// and sd-device then takes Tags for current: see Current.
	Tags, CurrentTags []string
	Version           int // V:
}

// Current is what sd_device_get_current_tag_first iterates: the Q: tags,
// or every tag when the entry predates V:1 (device_database_supports_current_tags).
// The CURRENT_TAGS property is built from the Q: tags alone.
func (e Entry) Current() []string {
	if e.Version < 1 {
		return e.Tags
	}
	return e.CurrentTags
}

// HasInfo is device_has_info: whether the entry holds anything besides
// USEC_INITIALIZED. udevd writes an empty file for a device without info
// that has a device number or an ifindex, and deletes the file for the
// rest (Content).
func HasInfo(e Entry) bool {
	return len(e.Devlinks) > 0 || e.LinkPriority != 0 || len(e.Props) > 0 ||
		len(e.Tags) > 0 || len(e.CurrentTags) > 0
}

// Format writes the lines of e in device_update_db's order: S: for each
// link, L: when not 0, I: when set, E:, G:, Q:, and V: when Version is
// set. It writes what e holds; which of it a device's file gets (no S: or
// L: without a device number, nothing without info, always V:1) is
// Content's decision, because it depends on the device id.
func Format(e Entry) []byte {
	var b bytes.Buffer
	for _, l := range e.Devlinks {
		line(&b, 'S', strings.TrimPrefix(l, "/dev/"))
	}
	if e.LinkPriority != 0 {
		line(&b, 'L', strconv.Itoa(e.LinkPriority))
	}
	if e.Usec != 0 {
		line(&b, 'I', strconv.FormatUint(e.Usec, 10))
	}
	for _, p := range e.Props {
		line(&b, 'E', p.Key+"="+p.Value)
	}
	for _, t := range e.Tags {
		line(&b, 'G', t)
	}
	for _, t := range e.CurrentTags {
		line(&b, 'Q', t)
	}
	if e.Version != 0 {
		line(&b, 'V', strconv.Itoa(e.Version))
	}
	return b.Bytes()
}

func line(b *bytes.Buffer, key byte, v string) {
	b.WriteByte(key)
	b.WriteByte(':')
	b.WriteString(v)
	b.WriteByte('\n')
}

// Content is the file device_update_db writes for the device of id, and
// false when it removes the file instead: a device without info (HasInfo)
// keeps an empty file only when it has a device number or an ifindex,
// which its id tells ("b"/"c" and "n" ids). Links and their priority are
// written only for a device with a device number; an entry with info gets
// V:1 whatever its Version, and I: only with info.
func Content(id string, e Entry) ([]byte, bool) {
	if !HasInfo(e) {
		return []byte{}, hasDevnum(id) || strings.HasPrefix(id, "n")
	}
	if !hasDevnum(id) {
		e.Devlinks, e.LinkPriority = nil, 0
	}
	e.Version = LatestVersion
	return Format(e), true
}

// hasDevnum: ids of devices with a device number are "b<maj>:<min>" and
// "c<maj>:<min>"; the others start with "n" or "+".
func hasDevnum(id string) bool {
	return len(id) > 1 && (id[0] == 'b' || id[0] == 'c') && id[1] >= '0' && id[1] <= '9'
}

// setProp is device_add_property_aux on properties_db, an ordered map: a
// replaced key keeps its place, an empty value removes the key.
func (e *Entry) setProp(k, v string) {
	i := slices.IndexFunc(e.Props, func(p Property) bool { return p.Key == k })
	switch {
	case i >= 0 && v == "":
		e.Props = slices.Delete(e.Props, i, i+1)
		if len(e.Props) == 0 {
			e.Props = nil
		}
	case i >= 0:
		e.Props[i].Value = v
	case v != "":
		e.Props = append(e.Props, Property{Key: k, Value: v})
	}
}

func addOnce(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}
