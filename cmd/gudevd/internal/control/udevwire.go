package control

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// UdevPath is systemd-udevd's control socket, which udevadm control,
// settle and trigger --settle talk to (systemd-udevd-control.socket).
const UdevPath = "/run/udev/control"

// udevMagic is UDEV_CTRL_MAGIC, udev-ctrl.c's check that a message is one.
const udevMagic = 0xdead1dea

// UdevOp is a udev control message's type (udev-ctrl.h's
// UdevCtrlMessageType, a C enum: 4 bytes).
type UdevOp int32

// The message types of systemd 252, in its order: the wire carries the
// number.
const (
	UdevEnd            UdevOp = iota // _UDEV_CTRL_END_MESSAGES: the client is done; close
	UdevSetLogLevel                  // Int: a syslog priority
	UdevStopExecQueue                // hold events
	UdevStartExecQueue               // run them again
	UdevReload                       // reread rules, hwdb and module index
	UdevSetEnv                       // Env: KEY=VALUE, or KEY= to drop KEY
	UdevSetChildrenMax               // Int: workers at once
	UdevPing                         // nothing: the close after UdevEnd is the answer
	UdevExit                         // stop; the client waits for the close
)

func (o UdevOp) String() string {
	names := [...]string{"END_MESSAGES", "SET_LOG_LEVEL", "STOP_EXEC_QUEUE", "START_EXEC_QUEUE", "RELOAD", "SET_ENV", "SET_CHILDREN_MAX", "PING", "EXIT"}
	if o >= 0 && int(o) < len(names) {
		return names[o]
	}
	return fmt.Sprintf("UdevOp(%d)", int32(o))
}

// UdevMessage is one udev control message (UdevCtrlMessageWire: char
// version[16], unsigned magic, the type, and a 256-byte union of an int and
// a string, in native byte order).
type UdevMessage struct {
	Version string // "udev-252" from systemd 252's udevadm; not checked, as udevd does not
	Op      UdevOp
	Int     int32  // UdevSetLogLevel, UdevSetChildrenMax
	Env     string // UdevSetEnv
}

const (
	udevVersionLen  = 16
	udevValueLen    = 256
	udevMessageSize = udevVersionLen + 4 + 4 + udevValueLen
)

// ErrBadUdevMessage is a datagram that is not a udev control message: the
// wrong size, magic or type. It matches EBADMSG.
var ErrBadUdevMessage error = badUdevMessage{}

type badUdevMessage struct{}

func (badUdevMessage) Error() string        { return "not a udev control message" }
func (badUdevMessage) Is(target error) bool { return target == unix.EBADMSG }

// ParseUdevMessage decodes one datagram. udevd reads a short datagram into
// a zeroed struct and judges the magic; a datagram of any size but the
// struct's is refused here, which no udevadm sends.
func ParseUdevMessage(b []byte) (UdevMessage, error) {
	if len(b) != udevMessageSize {
		return UdevMessage{}, fmt.Errorf("%d bytes, want %d: %w", len(b), udevMessageSize, ErrBadUdevMessage)
	}
	if magic := binary.NativeEndian.Uint32(b[16:]); magic != udevMagic {
		return UdevMessage{}, fmt.Errorf("magic %#08x, want %#08x: %w", magic, udevMagic, ErrBadUdevMessage)
	}
	m := UdevMessage{
		Version: cString(b[:udevVersionLen]),
		Op:      UdevOp(int32(binary.NativeEndian.Uint32(b[20:]))),
	}
	value := b[24:]
	switch m.Op {
	case UdevSetLogLevel, UdevSetChildrenMax:
		m.Int = int32(binary.NativeEndian.Uint32(value))
	case UdevSetEnv:
		m.Env = cString(value)
	case UdevEnd, UdevStopExecQueue, UdevStartExecQueue, UdevReload, UdevPing, UdevExit:
	default:
		return UdevMessage{}, fmt.Errorf("type %d: %w", int32(m.Op), ErrBadUdevMessage)
	}
	return m, nil
}

// Marshal encodes m as udevadm does (strscpy: a string too long is cut to
// fit with its NUL).
func (m UdevMessage) Marshal() []byte {
	b := make([]byte, udevMessageSize)
	copy(b[:udevVersionLen-1], m.Version)
	binary.NativeEndian.PutUint32(b[16:], udevMagic)
	binary.NativeEndian.PutUint32(b[20:], uint32(m.Op))
	switch m.Op {
	case UdevSetLogLevel, UdevSetChildrenMax:
		binary.NativeEndian.PutUint32(b[24:], uint32(m.Int))
	case UdevSetEnv:
		copy(b[24:24+udevValueLen-1], m.Env)
	}
	return b
}

// cString is b up to its first NUL.
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// errUdevNoCredentials is a message without SCM_CREDENTIALS, which udevd
// ignores, closing the connection.
var errUdevNoCredentials = errors.New("no sender credentials")
