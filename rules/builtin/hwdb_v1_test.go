package builtin

import (
	"encoding/binary"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// asV1 rewrites a database in the version-1 layout, value entries of key
// and value offsets only, as systemd-hwdb wrote before 219 (252 writes
// v2 only, so no captured v1 file exists): the old bytes stay where they
// are, strings included, and a new trie is appended after them.
func asV1(t *testing.T, data []byte) []byte {
	t.Helper()
	db, err := ParseHWDB(data)
	if err != nil {
		t.Fatal(err)
	}
	out := append([]byte(nil), data...)
	le := binary.LittleEndian
	var write func(off uint64) uint64
	write = func(off uint64) uint64 {
		n := db.node(off)
		children := make([]uint64, n.children)
		for i := range n.children {
			_, c := db.child(n, i)
			children[i] = write(c)
		}
		at := uint64(len(out))
		out = le.AppendUint64(out, n.prefixOff)
		out = append(out, byte(n.children), 0, 0, 0, 0, 0, 0, 0)
		out = le.AppendUint64(out, n.values)
		for i := range n.children {
			c, _ := db.child(n, i)
			out = append(out, c, 0, 0, 0, 0, 0, 0, 0)
			out = le.AppendUint64(out, children[i])
		}
		for i := range n.values {
			v := db.value(n, i)
			out = le.AppendUint64(out, v.keyOff)
			out = le.AppendUint64(out, v.valueOff)
		}
		return at
	}
	root := write(db.hdr.rootOff)
	le.PutUint64(out[16:], uint64(len(out)))
	le.PutUint64(out[40:], hwdbChildMin)
	le.PutUint64(out[48:], hwdbValueMin)
	le.PutUint64(out[hwdbRootOffField:], root)
	return out
}

// TestHWDBLookupV1: without file priorities and line numbers, the last
// match the walk meets sets a key's value (the key keeps its first
// place), where v2 lets the higher priority and later line win.
func TestHWDBLookupV1(t *testing.T) {
	db, err := ParseHWDB(asV1(t, readSmallBin(t)))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		lookup string
		want   []Prop
	}{
		{"lit:exact2", []Prop{{"LIT", "exact2"}, {"LIT2", "only-exact2"}}},
		// "line:x*" meets first, then "line:xy" (an earlier line of a
		// higher-priority file in v2, which wins there too).
		{"line:xy", []Prop{{"LINE", "override-early-line"}}},
		// "line2:x*" (later line, wins in v2) then the literal "line2:xy".
		{"line2:xy", []Prop{{"LINE2", "early-literal"}}},
		// The glob "pri:*" first, then "pri:ab?", then the literal.
		{"pri:abc", []Prop{
			{"PRI_HIGH_GLOB", "base"}, {"PRI_HIGH_LIT", "override"}, {"PRI_LOW_GLOB", "override"},
			{"ETC_EARLY", "yes"}, {"PRI_LOW_LIT", "base"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.lookup, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, db.Lookup(tc.lookup)); diff != "" {
				t.Errorf("Lookup(%q) (-want +got):\n%s", tc.lookup, diff)
			}
		})
	}
}
