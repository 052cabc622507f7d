package builtin

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestSafeAto: numbers parse as systemd's safe_ato* over strtoul read
// them.
func TestSafeAto(t *testing.T) {
	type result struct {
		V  int64
		OK bool
	}
	u := func(s string, base, bits int) result { v, ok := safeAtou(s, base, bits); return result{int64(v), ok} }
	i := func(s string) result { v, ok := safeAtoi(s); return result{int64(v), ok} }
	for _, tc := range []struct {
		name string
		got  result
		want result
	}{
		{"hex", u("1f", 16, 32), result{31, true}},
		{"hex with 0x", u("0x1f", 16, 32), result{31, true}},
		{"0x without digits", u("0x", 16, 32), result{0, false}},
		{"leading white space", u(" \t7", 10, 32), result{7, true}},
		{"trailing white space refused", u("7 ", 10, 32), result{0, false}},
		{"plus sign", u("+7", 10, 32), result{7, true}},
		{"minus zero", u("-0", 10, 32), result{0, true}},
		{"negative refused", u("-1", 10, 32), result{0, false}},
		{"empty refused", u("", 16, 64), result{0, false}},
		{"too big for 16 bits", u("10000", 16, 16), result{0, false}},
		{"largest of 64 bits", u("ffffffffffffffff", 16, 64), result{-1, true}},
		{"overflow of 64 bits", u("10000000000000000", 16, 64), result{0, false}},
		{"base 0: octal", u("010", 0, 32), result{8, true}},
		{"base 0: systemd's 0b", u("0b101", 0, 32), result{5, true}},
		{"atoi: octal, as bInterfaceSubClass 06 reads", i("06"), result{6, true}},
		{"atoi: 08 is no octal", i("08"), result{0, false}},
		{"atoi: negative", i("-5"), result{-5, true}},
		{"atoi: past int", i("2147483648"), result{0, false}},
		{"atoi: least int", i("-2147483648"), result{-2147483648, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestScanInts: sscanf's "%d:%d:%d:%d", stopping at the first mismatch.
func TestScanInts(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []int64
	}{
		{"SCSI address", "0:0:1:0", []int64{0, 0, 1, 0}},
		{"trailing text ignored", "2:3:0:0x", []int64{2, 3, 0, 0}},
		{"stops at a mismatch", "7:0:x:0", []int64{7, 0}},
		{"signs", "-1:+2:0:0", []int64{-1, 2, 0, 0}},
		{"no number", "host0", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, scanInts(tc.in, ':', 4)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
