package workers

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"syscall"
)

// The wire format between the daemon and a worker, in both directions, is a
// stream of frames:
//
//	uint32  length of everything after this field (big endian)
//	uint8   kind: 1 job, 2 result, 3 error
//	uint64  job id, chosen by the daemon, echoed by the worker
//	...     job and result: the payload
//	        error: uint32 errno (0: none), then the message
//
// A stream socket keeps frame boundaries only because of the length prefix,
// so a reader never trusts it beyond MaxFrame: a corrupted or hostile length
// costs an error, not an allocation.

// MaxFrame is the largest frame body (everything after the length field)
// either side accepts. Jobs and results are module names and short messages;
// a megabyte is far beyond any real one.
const MaxFrame = 1 << 20

// MaxPayload is the largest job or result payload that fits in a frame.
const MaxPayload = MaxFrame - frameHeader

const (
	lengthSize  = 4
	frameHeader = 1 + 8 // kind, id
	errnoSize   = 4
)

type frameKind uint8

const (
	kindJob frameKind = iota + 1
	kindResult
	kindError
)

func (k frameKind) String() string {
	switch k {
	case kindJob:
		return "job"
	case kindResult:
		return "result"
	case kindError:
		return "error"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// A frame is one decoded message. For kindError, payload is the message and
// errno the handler's errno, if it had one.
type frame struct {
	kind    frameKind
	id      uint64
	errno   syscall.Errno
	payload []byte
}

// ErrFrameTooLarge reports a frame whose length field exceeds MaxFrame, or a
// payload too large to send. It matches EMSGSIZE.
var ErrFrameTooLarge error = &errnoError{msg: "frame too large", errno: syscall.EMSGSIZE}

// errBadFrame reports a frame that is complete but malformed.
var errBadFrame = errors.New("malformed frame")

// appendFrame appends f's encoding to b.
func appendFrame(b []byte, f frame) ([]byte, error) {
	n := frameHeader + len(f.payload)
	if f.kind == kindError {
		n += errnoSize
	}
	if n > MaxFrame {
		return b, fmt.Errorf("encode %v frame of %d bytes: %w", f.kind, n, ErrFrameTooLarge)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	b = append(b, byte(f.kind))
	b = binary.BigEndian.AppendUint64(b, f.id)
	if f.kind == kindError {
		b = binary.BigEndian.AppendUint32(b, uint32(f.errno))
	}
	return append(b, f.payload...), nil
}

// readFrame reads one frame from r. A stream that ends cleanly before the
// first byte of a frame returns io.EOF; one that ends inside a frame returns
// io.ErrUnexpectedEOF.
func readFrame(r io.Reader) (frame, error) {
	var l [lengthSize]byte
	if _, err := io.ReadFull(r, l[:]); err != nil {
		return frame{}, err
	}
	n := binary.BigEndian.Uint32(l[:])
	if n > MaxFrame {
		return frame{}, fmt.Errorf("read frame of %d bytes: %w", n, ErrFrameTooLarge)
	}
	if n < frameHeader {
		return frame{}, fmt.Errorf("read frame of %d bytes, want at least %d: %w", n, frameHeader, errBadFrame)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return frame{}, fmt.Errorf("read frame body: %w", err)
	}
	return decodeFrame(body)
}

// decodeFrame decodes a frame body, the bytes after the length field.
func decodeFrame(body []byte) (frame, error) {
	if len(body) < frameHeader {
		return frame{}, fmt.Errorf("decode frame of %d bytes: %w", len(body), errBadFrame)
	}
	f := frame{
		kind: frameKind(body[0]),
		id:   binary.BigEndian.Uint64(body[1:frameHeader]),
	}
	rest := body[frameHeader:]
	switch f.kind {
	case kindJob, kindResult:
	case kindError:
		if len(rest) < errnoSize {
			return frame{}, fmt.Errorf("decode error frame without errno: %w", errBadFrame)
		}
		f.errno = syscall.Errno(binary.BigEndian.Uint32(rest))
		rest = rest[errnoSize:]
	default:
		return frame{}, fmt.Errorf("decode frame of unknown %v: %w", f.kind, errBadFrame)
	}
	f.payload = rest
	return f, nil
}

// writeFrame writes f to w in one Write call, so a frame is never
// interleaved with another writer's bytes on a shared stream.
func writeFrame(w io.Writer, f frame) error {
	b, err := appendFrame(make([]byte, 0, lengthSize+frameHeader+errnoSize+len(f.payload)), f)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
