package uevent

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strconv"
	"strings"
)

// libudev message header, struct monitor_netlink_header in systemd's
// device-monitor.c: eight 32-bit fields after an 8-byte prefix. magic and the
// filter hashes are big-endian because the kernel's socket filters (BPF
// loads are big-endian) read them; header_size and the properties offset and
// length are in host order.
const (
	libudevPrefix     = "libudev\x00"
	libudevMagic      = 0xfeedcafe
	libudevHeaderSize = 40

	offMagic         = 8
	offHeaderSize    = 12
	offPropertiesOff = 16
	offPropertiesLen = 20
	offSubsystemHash = 24
	offDevtypeHash   = 28
	offTagBloomHi    = 32
	offTagBloomLo    = 36
)

// Parse parses a datagram from a NETLINK_KOBJECT_UEVENT socket in either
// format: libudev's if it starts with the "libudev\0" prefix, the kernel's
// otherwise. On error the event is nil.
func Parse(b []byte) (*Event, error) {
	if bytes.HasPrefix(b, []byte(libudevPrefix)) {
		return ParseLibudev(b)
	}
	return ParseKernel(b)
}

// ParseKernel parses a kernel uevent: a header "ACTION@DEVPATH\0" followed by
// "KEY=VALUE\0" pairs. The header is split at its first '@' and each pair at
// its first '=': device paths may contain '@' and values '='. The header must
// agree with the ACTION and DEVPATH properties. On error the event is nil.
func ParseKernel(b []byte) (*Event, error) {
	end := bytes.IndexByte(b, 0)
	if end < 0 {
		return nil, malformed("kernel uevent of %d bytes has no NUL", len(b))
	}
	header := string(b[:end])
	if header == "" {
		return nil, malformed("kernel uevent has an empty header")
	}
	action, devpath, ok := strings.Cut(header, "@")
	if !ok || action == "" || !strings.HasPrefix(devpath, "/") || len(devpath) < 2 {
		return nil, malformed("kernel uevent header %q is not ACTION@/DEVPATH", header)
	}
	e := &Event{}
	if err := parseProps(e, b[end+1:]); err != nil {
		return nil, err
	}
	if string(e.Action) != action {
		return nil, malformed("kernel uevent header action %q disagrees with ACTION=%q", action, e.Action)
	}
	if e.DevPath != devpath {
		return nil, malformed("kernel uevent header devpath %q disagrees with DEVPATH=%q", devpath, e.DevPath)
	}
	return e, nil
}

// ParseLibudev parses a message a udev daemon broadcast on the udev netlink
// group: a 40-byte header, then properties as "KEY=VALUE\0" at the offset
// and length the header gives. On error the event is nil.
func ParseLibudev(b []byte) (*Event, error) {
	if len(b) < libudevHeaderSize {
		return nil, malformed("libudev message of %d bytes is shorter than its %d-byte header", len(b), libudevHeaderSize)
	}
	if !bytes.HasPrefix(b, []byte(libudevPrefix)) {
		return nil, malformed("libudev message has prefix %q, want %q", b[:len(libudevPrefix)], libudevPrefix)
	}
	if m := binary.BigEndian.Uint32(b[offMagic:]); m != libudevMagic {
		return nil, malformed("libudev message has magic %#x, want %#x", m, libudevMagic)
	}
	off := uint64(binary.NativeEndian.Uint32(b[offPropertiesOff:]))
	n := uint64(binary.NativeEndian.Uint32(b[offPropertiesLen:]))
	if off < libudevHeaderSize || off+n > uint64(len(b)) {
		return nil, malformed("libudev properties at %d+%d lie outside the %d-byte message", off, n, len(b))
	}
	e := &Event{}
	if err := parseProps(e, b[off:off+n]); err != nil {
		return nil, err
	}
	return e, nil
}

// parseProps parses NUL-terminated KEY=VALUE pairs into e and checks that the
// properties every uevent carries are there and well formed.
func parseProps(e *Event, b []byte) error {
	if len(b) == 0 {
		return malformed("uevent has no properties")
	}
	for n := 1; len(b) > 0; n++ {
		end := bytes.IndexByte(b, 0)
		if end < 0 {
			return malformed("property %d %q is not NUL-terminated", n, b)
		}
		pair := b[:end]
		b = b[end+1:]
		// Some drivers end a value with a newline; udev drops it and
		// everything after it, and so do we.
		if i := bytes.IndexAny(pair, "\n\r"); i >= 0 {
			pair = pair[:i]
		}
		key, value, ok := bytes.Cut(pair, []byte("="))
		if !ok {
			return malformed("property %d %q has no '='", n, pair)
		}
		if len(key) == 0 {
			return malformed("property %d %q has an empty key", n, pair)
		}
		e.Set(string(key), string(value))
	}
	return checkRequired(e)
}

// checkRequired enforces what sd-device's device_verify does: every uevent
// has a known ACTION, a DEVPATH, a SUBSYSTEM and a non-zero SEQNUM.
func checkRequired(e *Event) error {
	action, ok := e.Lookup("ACTION")
	if !ok {
		return malformed("uevent has no ACTION")
	}
	if !Action(action).Valid() {
		return malformed("uevent has unknown ACTION=%q", action)
	}
	devpath, ok := e.Lookup("DEVPATH")
	if !ok {
		return malformed("uevent has no DEVPATH")
	}
	if len(devpath) < 2 || devpath[0] != '/' {
		return malformed("uevent has DEVPATH=%q, want an absolute path", devpath)
	}
	if e.Get("SUBSYSTEM") == "" {
		return malformed("uevent has no SUBSYSTEM")
	}
	seqnum, ok := e.Lookup("SEQNUM")
	if !ok {
		return malformed("uevent has no SEQNUM")
	}
	if n, err := strconv.ParseUint(seqnum, 10, 64); err != nil || n == 0 {
		return malformed("uevent has SEQNUM=%q, want a positive decimal number", seqnum)
	}
	return nil
}

// checkConsistent checks an event built by hand before it is marshalled:
// the named fields must agree with the properties, which are what is sent.
func checkConsistent(e *Event) error {
	if e == nil {
		return malformed("nil event")
	}
	if err := checkRequired(e); err != nil {
		return err
	}
	want := Event{}
	for _, p := range e.Props {
		if p.Key == "" || strings.ContainsAny(p.Key, "=\x00\n\r") {
			return malformed("property key %q is empty or contains '=', NUL or a newline", p.Key)
		}
		if strings.ContainsAny(p.Value, "\x00\n\r") {
			return malformed("property %s has a value containing NUL or a newline", p.Key)
		}
		if _, ok := want.Lookup(p.Key); ok {
			return malformed("property %s appears twice", p.Key)
		}
		want.Set(p.Key, p.Value)
	}
	if e.Action != want.Action || e.DevPath != want.DevPath || e.Subsystem != want.Subsystem ||
		e.DevType != want.DevType || e.Seqnum != want.Seqnum || !slices.Equal(e.Tags, want.Tags) {
		return malformed("event fields disagree with its properties (use Event.Set)")
	}
	return nil
}

// appendProps appends the properties as "KEY=VALUE\0".
func appendProps(b []byte, e *Event) []byte {
	for _, p := range e.Props {
		b = append(b, p.Key...)
		b = append(b, '=')
		b = append(b, p.Value...)
		b = append(b, 0)
	}
	return b
}

// MarshalKernel encodes e the way the kernel's kobject_uevent sends it:
// "ACTION@DEVPATH\0" and the properties.
func MarshalKernel(e *Event) ([]byte, error) {
	if err := checkConsistent(e); err != nil {
		return nil, err
	}
	b := make([]byte, 0, 512)
	b = append(b, e.Action...)
	b = append(b, '@')
	b = append(b, e.DevPath...)
	b = append(b, 0)
	return appendProps(b, e), nil
}

// MarshalLibudev encodes e byte for byte as systemd's
// device_monitor_send_device does for the udev netlink group: the header
// with MurmurHash2 filter hashes of SUBSYSTEM and DEVTYPE and the bloom
// filter of the tags, then every property in order as "KEY=VALUE\0".
func MarshalLibudev(e *Event) ([]byte, error) {
	if err := checkConsistent(e); err != nil {
		return nil, err
	}
	b := make([]byte, libudevHeaderSize, 1024)
	copy(b, libudevPrefix)
	binary.BigEndian.PutUint32(b[offMagic:], libudevMagic)
	binary.NativeEndian.PutUint32(b[offHeaderSize:], libudevHeaderSize)
	binary.NativeEndian.PutUint32(b[offPropertiesOff:], libudevHeaderSize)
	binary.BigEndian.PutUint32(b[offSubsystemHash:], murmur2([]byte(e.Subsystem)))
	if devtype, ok := e.Lookup("DEVTYPE"); ok {
		binary.BigEndian.PutUint32(b[offDevtypeHash:], murmur2([]byte(devtype)))
	}
	var bloom uint64
	for _, t := range e.Tags {
		bloom |= tagBloom(t)
	}
	binary.BigEndian.PutUint32(b[offTagBloomHi:], uint32(bloom>>32))
	binary.BigEndian.PutUint32(b[offTagBloomLo:], uint32(bloom))
	b = appendProps(b, e)
	binary.NativeEndian.PutUint32(b[offPropertiesLen:], uint32(len(b)-libudevHeaderSize))
	return b, nil
}

// tagBloom sets four of 64 bits chosen by a tag's hash; a listener's socket
// filter drops messages whose bloom lacks the bits of every tag it wants.
func tagBloom(tag string) uint64 {
	h := murmur2([]byte(tag))
	return 1<<(h&63) | 1<<((h>>6)&63) | 1<<((h>>12)&63) | 1<<((h>>18)&63)
}

// murmur2 is Austin Appleby's 32-bit MurmurHash2 with seed 0, which libudev
// uses for its filter hashes. It reads 4-byte blocks in host order, as the
// C original does.
func murmur2(data []byte) uint32 {
	const m, r = 0x5bd1e995, 24
	h := uint32(len(data))
	for len(data) >= 4 {
		k := binary.NativeEndian.Uint32(data)
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
		data = data[4:]
	}
	switch len(data) {
	case 3:
		h ^= uint32(data[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(data[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(data[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}
