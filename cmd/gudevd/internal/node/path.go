package node

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"path/filepath"
	"strings"
)

// nameMax is NAME_MAX, the longest file name.
const nameMax = 255

// devRel returns p's path below /dev, "disk/by-id/x" of "/dev/disk/by-id/x",
// after udevd's path_simplify (repeated slashes, "." components and a
// trailing slash dropped), refusing what path_is_normalized and
// path_startswith(p, "/dev") refuse: a relative path, a ".." component, a
// component longer than NAME_MAX, /dev itself or a path outside it.
func devRel(p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("%w: %q is relative", ErrInvalidPath, p)
	}
	var parts []string
	for _, c := range strings.Split(p, "/") {
		switch {
		case c == "" || c == ".":
		case c == ".." || len(c) > nameMax:
			return "", fmt.Errorf("%w: %q", ErrInvalidPath, p)
		default:
			parts = append(parts, c)
		}
	}
	if len(parts) < 2 || parts[0] != "dev" {
		return "", fmt.Errorf("%w: %q", ErrInvalidPath, p)
	}
	return strings.Join(parts[1:], "/"), nil
}

// host maps a "/dev/..." path to the directory standing for /dev.
func (n *Nodes) host(p string) (string, error) {
	rel, err := devRel(p)
	if err != nil {
		return "", err
	}
	return n.dev + "/" + rel, nil
}

// stackDir is stack_directory_get_name: the stack directory of a link,
// below Links, named by the link's path below /dev, escaped.
func (n *Nodes) stackDir(link string) (string, error) {
	rel, err := devRel(link)
	if err != nil {
		return "", err
	}
	return filepath.Join(n.links, escapePath(rel)), nil
}

// hashKey is udev-node.c's UDEV_NODE_HASH_KEY, the SipHash key of the
// names too long to escape.
var hashKey = [16]byte{0xb9, 0x6a, 0xf1, 0xce, 0x40, 0x31, 0x44, 0x1a, 0x9e, 0x19, 0xec, 0x8b, 0xae, 0xf3, 0xe3, 0x2f}

// escapePath is udev_node_escape_path with a NAME_MAX+1 buffer: '/' becomes
// \x2f and '\' becomes \x5c, so that a whole path is one file name. A
// name that would grow past 244 bytes is cut there and ends in 11
// characters of URL-safe base64 of the SipHash-2-4 of src (with its NUL
// byte, as siphash24_string hashes), 255 bytes in all, so that distinct
// long links still get distinct directories.
//
// When the cut falls inside an escape, udevd leaves the bytes between the
// last whole character and the hash uninitialized; escapePath fills them
// with the start of that escape, so those rare names differ from udevd's
// (which are themselves unpredictable).
func escapePath(src string) string {
	const limit = nameMax + 1 - 12 // 244 bytes before the hash
	var b strings.Builder
	for i := 0; i < len(src); i++ {
		e := src[i : i+1]
		switch src[i] {
		case '/':
			e = `\x2f`
		case '\\':
			e = `\x5c`
		}
		if b.Len()+len(e) > limit {
			return hashed(b.String(), e, src)
		}
		b.WriteString(e)
	}
	return b.String()
}

// hashed ends a name too long to escape: prefix, padded to 244 bytes with
// the start of the escape that did not fit, then the hash of src.
func hashed(prefix, next, src string) string {
	const limit = nameMax + 1 - 12
	const table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	buf := []byte(prefix + next)[:limit]
	h := sipHash24(hashKey, append([]byte(src), 0))
	var tail [11]byte
	for k := range 11 {
		tail[10-k] = table[(h>>(6*k))&63]
	}
	return string(append(buf, tail[:]...))
}

// sipHash24 is SipHash-2-4 as systemd's siphash24 computes it: the key as
// two little-endian words, the message in little-endian words with its
// length in the top byte of the last.
func sipHash24(key [16]byte, msg []byte) uint64 {
	k0 := binary.LittleEndian.Uint64(key[:8])
	k1 := binary.LittleEndian.Uint64(key[8:])
	v := [4]uint64{0x736f6d6570736575 ^ k0, 0x646f72616e646f6d ^ k1, 0x6c7967656e657261 ^ k0, 0x7465646279746573 ^ k1}
	n := len(msg)
	for len(msg) >= 8 {
		v = sipCompress(v, binary.LittleEndian.Uint64(msg))
		msg = msg[8:]
	}
	var last [8]byte
	copy(last[:], msg)
	last[7] = byte(n)
	v = sipCompress(v, binary.LittleEndian.Uint64(last[:]))
	v[2] ^= 0xff
	for range 4 {
		v = sipRound(v)
	}
	return v[0] ^ v[1] ^ v[2] ^ v[3]
}

// sipCompress takes one message word with SipHash-2-4's two rounds.
func sipCompress(v [4]uint64, m uint64) [4]uint64 {
	v[3] ^= m
	v = sipRound(sipRound(v))
	v[0] ^= m
	return v
}

// sipRound is one SipRound.
func sipRound(v [4]uint64) [4]uint64 {
	v[0] += v[1]
	v[1] = bits.RotateLeft64(v[1], 13)
	v[1] ^= v[0]
	v[0] = bits.RotateLeft64(v[0], 32)
	v[2] += v[3]
	v[3] = bits.RotateLeft64(v[3], 16)
	v[3] ^= v[2]
	v[0] += v[3]
	v[3] = bits.RotateLeft64(v[3], 21)
	v[3] ^= v[0]
	v[2] += v[1]
	v[1] = bits.RotateLeft64(v[1], 17)
	v[1] ^= v[2]
	v[2] = bits.RotateLeft64(v[2], 32)
	return v
}
