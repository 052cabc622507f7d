package node

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// longName builds the names of systemd's test-udev-node.c: a prefix, then
// 'a' up to n bytes, then tail.
func longName(prefix string, n int, tail string) string {
	return prefix + strings.Repeat("a", n-len(prefix)) + tail
}

// TestEscapePath runs the cases of systemd 252's test-udev-node.c, whose
// expected hashes come from udevd itself, plus the shapes udevd writes.
func TestEscapePath(t *testing.T) {
	const in, out = "/disk/by-id/", `\x2fdisk\x2fby-id\x2f`
	tests := []struct {
		name, src, want string
	}{
		{"by-id", "disk/by-id/ata-X", `disk\x2fby-id\x2fata-X`},
		{"backslash", `disk/by-label/a\x20b`, `disk\x2fby-label\x2fa\x5cx20b`},
		{"nvme", "/disk/by-id/nvme-eui.1922908022470001001b448b44ccb9d6-part1",
			`\x2fdisk\x2fby-id\x2fnvme-eui.1922908022470001001b448b44ccb9d6-part1`},
		{"colon", "/disk/by-id/usb-Generic-_SD_MMC_20120501030900000-0:0",
			`\x2fdisk\x2fby-id\x2fusb-Generic-_SD_MMC_20120501030900000-0:0`},
		{"255 bytes", longName(in, 255, ""), longName(out, 244, "N3YhcCqFeID")},
		{"246 bytes", longName(in, 235, "N3YhcCqFeID"), longName(out, 244, "L1oK9iKWdmi")},
		{"one byte too long", longName(in, 236, ""), longName(out, 244, "A7oaHBRuuZq")},
		{"longest unhashed", longName(in, 235, ""), longName(out, 244, "")},
		{"escape cut", longName(in, 232, "/b"), longName(out, 241, `\x2`) + hashTail(longName(in, 232, "/b"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, escapePath(tt.src)); diff != "" {
				t.Errorf("escapePath(%q) (-want +got):\n%s", tt.src, diff)
			}
		})
	}
}

// hashTail is the 11 hash characters escapePath ends a long name with.
func hashTail(src string) string {
	return hashed("", strings.Repeat("x", 244), src)[244:]
}

// TestSipHash24 checks the reference vectors of the SipHash paper
// (key 00..0f, messages 00..n-1), covering a partial and a whole word.
func TestSipHash24(t *testing.T) {
	var key [16]byte
	for i := range key {
		key[i] = byte(i)
	}
	msg := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i)
		}
		return b
	}
	tests := []struct {
		name string
		n    int
		want uint64
	}{
		{"empty", 0, 0x726fdb47dd0e0e31},
		{"15 bytes", 15, 0xa129ca6149be45e5},
		{"8 bytes", 8, 0x93f5f5799a932462},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sipHash24(key, msg(tt.n)); got != tt.want {
				t.Errorf("sipHash24 = %#x, want %#x", got, tt.want)
			}
		})
	}
}

func TestDevRel(t *testing.T) {
	tests := []struct {
		name, in, want string
		err            error
	}{
		{"plain", "/dev/disk/by-id/x", "disk/by-id/x", nil},
		{"simplified", "//dev//disk/./by-id/x/", "disk/by-id/x", nil},
		{"dot dot", "/dev/disk/../sda", "", ErrInvalidPath},
		{"outside", "/tmp/x", "", ErrInvalidPath},
		{"prefix only", "/devices/x", "", ErrInvalidPath},
		{"dev itself", "/dev/", "", ErrInvalidPath},
		{"relative", "dev/sda", "", ErrInvalidPath},
		{"long component", "/dev/" + strings.Repeat("x", 256), "", ErrInvalidPath},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := devRel(tt.in)
			if !errors.Is(err, tt.err) {
				t.Fatalf("devRel(%q) error = %v, want %v", tt.in, err, tt.err)
			}
			if got != tt.want {
				t.Errorf("devRel(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
