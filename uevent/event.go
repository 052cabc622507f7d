package uevent

import (
	"strconv"
	"strings"
)

// Action is a uevent's ACTION, the verb the kernel's kobject_uevent sent.
type Action string

// The actions of the kernel's kobject_actions table (lib/kobject_uevent.c).
// Anything else is rejected by the parsers, as sd-device does.
const (
	ActionAdd     Action = "add"
	ActionRemove  Action = "remove"
	ActionChange  Action = "change"
	ActionMove    Action = "move"
	ActionOnline  Action = "online"
	ActionOffline Action = "offline"
	ActionBind    Action = "bind"
	ActionUnbind  Action = "unbind"
)

// Valid reports whether a is one of the kernel's actions.
func (a Action) Valid() bool {
	switch a {
	case ActionAdd, ActionRemove, ActionChange, ActionMove,
		ActionOnline, ActionOffline, ActionBind, ActionUnbind:
		return true
	}
	return false
}

// Property is one KEY=VALUE pair of a uevent.
type Property struct {
	Key   string
	Value string
}

// Event is one uevent, from the kernel or rebroadcast by a udev daemon.
//
// Props holds every property in the order it was received, including ACTION,
// DEVPATH, SUBSYSTEM and SEQNUM; the named fields are copies of the
// corresponding properties for convenience. Use Set to change a property so
// both stay in step. Keys are unique: a repeated key replaces the earlier
// value in place, as sd-device does.
type Event struct {
	Action    Action
	DevPath   string // DEVPATH, relative to the sysfs mount, e.g. /devices/pci0000:00/...
	Subsystem string
	DevType   string
	Seqnum    uint64

	Props []Property

	// Tags are the udev tags of a libudev message, from its TAGS property
	// (":tag1:tag2:"); the kernel sends none.
	Tags []string
}

// Lookup returns the value of the property key and whether it is present.
func (e *Event) Lookup(key string) (string, bool) {
	for _, p := range e.Props {
		if p.Key == key {
			return p.Value, true
		}
	}
	return "", false
}

// Get returns the value of the property key, or "" if it is absent.
func (e *Event) Get(key string) string {
	v, _ := e.Lookup(key)
	return v
}

// Set sets the property key to value, replacing it in place if present and
// appending it otherwise, and keeps the named fields in step. It does not
// validate: an event made invalid by Set fails to marshal.
func (e *Event) Set(key, value string) {
	e.setProp(key, value)
	e.setField(key, value)
}

func (e *Event) setProp(key, value string) {
	for i := range e.Props {
		if e.Props[i].Key == key {
			e.Props[i].Value = value
			return
		}
	}
	e.Props = append(e.Props, Property{Key: key, Value: value})
}

// setField mirrors a property into the named fields; a SEQNUM that does not
// parse leaves Seqnum zero, which the parsers and MarshalLibudev reject.
func (e *Event) setField(key, value string) {
	switch key {
	case "ACTION":
		e.Action = Action(value)
	case "DEVPATH":
		e.DevPath = value
	case "SUBSYSTEM":
		e.Subsystem = value
	case "DEVTYPE":
		e.DevType = value
	case "SEQNUM":
		e.Seqnum, _ = strconv.ParseUint(value, 10, 64)
	case "TAGS":
		e.Tags = splitTags(value)
	}
}

// splitTags splits udev's ":a:b:" tag list; empty words between colons are
// not tags.
func splitTags(s string) []string {
	var tags []string
	for t := range strings.SplitSeq(s, ":") {
		if t != "" {
			tags = append(tags, t)
		}
	}
	return tags
}

// joinTags formats tags the way udev writes TAGS=.
func joinTags(tags []string) string {
	return ":" + strings.Join(tags, ":") + ":"
}
