package builtin

import (
	"fmt"
	"strings"
)

// The kernel prints an input device's capability bitmaps
// (capabilities/key, capabilities/ev, properties...) as hex longs, the
// most significant first, separated by spaces, leading zero longs left
// out: "120013" or "10000 0 0 0 0 7 ff9f207a c14057ff febeffdf ffefffff
// ffffffff fffffffe". udevd 252 (64-bit) reads them into fixed arrays of
// unsigned long, so this assumes 64-bit longs as on amd64 and arm64.

// bitsPerLong is the width of the kernel's and udevd's unsigned long.
const bitsPerLong = 64

// capBitmap is a capability bitmap, long 0 holding bits 0-63.
type capBitmap []uint64

// words is how many longs udevd's array for bits 0..max has (NBITS).
func words(max int) int { return (max-1)/bitsPerLong + 1 }

// has reports whether bit is set; bits past the array are clear.
func (m capBitmap) has(bit int) bool {
	w := bit / bitsPerLong
	return w < len(m) && m[w]>>(bit%bitsPerLong)&1 == 1
}

// parseCapBitmap reads a bitmap as udevd's get_cap_mask does, into n
// longs: words are taken from the right, the last one being long 0. A
// word that does not parse as hex leaves its long 0 but still counts, and
// words beyond n are dropped.
func parseCapBitmap(s string, n int) capBitmap {
	m := make(capBitmap, n)
	for i := 0; ; i++ {
		j := strings.LastIndexByte(s, ' ')
		if v, ok := safeAtou(s[j+1:], 16, 64); ok && i < n {
			m[i] = v
		}
		if j < 0 {
			return m
		}
		s = s[:j]
	}
}

// String prints the bitmap as the kernel does (input_print_bitmap).
func (m capBitmap) String() string {
	top := len(m) - 1
	for top > 0 && m[top] == 0 {
		top--
	}
	if top < 0 {
		return "0"
	}
	var b strings.Builder
	for i := top; i >= 0; i-- {
		fmt.Fprintf(&b, "%x", m[i])
		if i > 0 {
			b.WriteByte(' ')
		}
	}
	return b.String()
}
