package modalias

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// libkmod compares an index key's literal prefix byte by byte, so a
// backslash before the first wildcard is an ordinary character there.
// internal/fnmatch's tests cover the glob after it.
func TestKmodMatch(t *testing.T) {
	tests := []struct {
		name, pattern, key string
		want               bool
	}{
		{"exact", "fs-ext4", "fs-ext4", true},
		{"exact longer key", "fs-ext4", "fs-ext4x", false},
		{"backslash in prefix is literal", "ab\\c*", "ab\\cd", true},
		{"backslash in prefix is not an escape", "ab\\c*", "abcd", false},
		{"backslash after wildcard escapes", "a*\\c", "axc", true},
		{"prefix then glob", "acpi*:PNP0C0A:*", "acpi:PNP0C0A:", true},
		{"prefix differs", "acpi*:PNP0C0A:*", "acpx:PNP0C0A:", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d := cmp.Diff(tt.want, kmodMatch(tt.pattern, tt.key)); d != "" {
				t.Errorf("kmodMatch(%q, %q) (-want +got):\n%s", tt.pattern, tt.key, d)
			}
		})
	}
}

// FuzzMatch checks the trie walk of patternSet against matching every
// pattern one by one with kmodMatch (whose glob part internal/fnmatch's
// fuzz test checks against a reference matcher).
func FuzzMatch(f *testing.F) {
	f.Add("pci:v00008086d*sv*sd*bc*sc*i*\npci:v*d*sv*sd*bc03sc*i*\nacpi*:PNP0C0A:*", "pci:v00008086d00001234sv0sd0bc03sc00i00")
	f.Add("usb:v0421p0492d04[6-9]*dc*\nusb:v0421p0492d0[5-9]*dc*", "usb:v0421p0492d0470dc00")
	f.Add("a\\*b*\n[!x]?\n[]a]*\n*\\\\", "a*bc")
	f.Add("of:N*T*Cfoo,bar\nof:N*T*Cfoo,barC*", "of:NxTyCfoo,barCz")
	f.Add("gx:a*\\?\\\ngx:a*\\[b\ngx:a*c\ngx:a?c", "gx:a*\\?x")
	f.Fuzz(func(t *testing.T, patterns, key string) {
		if len(patterns) > 400 || len(key) > 32 || strings.IndexByte(patterns, 0) >= 0 || strings.IndexByte(key, 0) >= 0 {
			return
		}
		// libkmod also matches a wildcard in the string against the
		// same byte in a key, which kmodMatch knows nothing of, so
		// such strings are only run for crashes.
		if strings.ContainsAny(key, "*?[") {
			ps := newPatternSet(strings.Split(patterns, "\n"))
			ps.match(key, nil)
			return
		}
		if strings.Count(patterns, "*") > 6 {
			return
		}
		pats := strings.Split(patterns, "\n")
		if slices.Contains(pats, "") {
			return
		}
		ps := newPatternSet(slices.Clone(pats))
		var want []string
		for _, p := range slices.Concat(ps.keys, ps.slow) {
			if kmodMatch(p, key) {
				want = append(want, p)
			}
		}
		var got []string
		for _, v := range ps.match(key, nil) {
			if v.glob == literalPrefixLen(v.key) {
				got = append(got, v.key)
			}
		}
		slices.Sort(want)
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("match(%q) over %q (-want +got):\n%s", key, pats, d)
		}
	})
}
