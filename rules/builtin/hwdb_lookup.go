package builtin

import (
	"strings"

	"github.com/gudevd/gudevd/internal/fnmatch"
)

// Lookup returns the properties hwdb.bin gives modalias, in the order
// sd_hwdb_enumerate returns them after sd_hwdb_seek: each key once, at
// the place where the first match set it, with the value of the match
// that wins (see hwdbProps.add). Keys have lost the leading space
// systemd-hwdb stores them with; entries without one are skipped, as
// sd-hwdb reserves other prefixes for extensions.
//
// The walk is sd-hwdb's trie_search_f: literal bytes follow the trie's
// children, and at every node the children '*', '?' and '[' start a
// fnmatch(3) of every pattern below them against the rest of modalias.
// sd-hwdb builds those patterns in a LINE_MAX (2048) buffer and misbehaves
// past it; no pattern systemd-hwdb accepts from a hwdb.d line comes near,
// and here a longer one is matched whole.
func (db *HWDB) Lookup(modalias string) []Prop {
	if db == nil || db.data == nil {
		return nil // closed
	}
	if i := strings.IndexByte(modalias, 0); i >= 0 {
		modalias = modalias[:i] // sd-hwdb takes a C string
	}
	s := hwdbSearch{db: db, props: hwdbProps{db: db, index: map[string]int{}}}
	s.search(modalias)
	return s.props.list()
}

type hwdbSearch struct {
	db      *HWDB
	props   hwdbProps
	pattern []byte // the pattern a glob walk has built so far
}

// search follows modalias down the trie from the root.
func (s *hwdbSearch) search(modalias string) {
	n := s.db.node(s.db.hdr.rootOff)
	i := 0
	for {
		// sd-hwdb treats prefix offset 0 as no prefix.
		if n.prefixOff != 0 {
			prefix := s.db.str(n.prefixOff)
			for p, c := range prefix {
				if c == '*' || c == '?' || c == '[' {
					s.pattern = s.pattern[:0]
					s.glob(n, p, modalias[i+p:])
					return
				}
				if i+p >= len(modalias) || c != modalias[i+p] {
					return
				}
			}
			i += len(prefix)
		}
		for _, c := range []byte("*?[") {
			if child, ok := s.db.lookupChild(n, c); ok {
				s.pattern = append(s.pattern[:0], c)
				s.glob(s.db.node(child), 0, modalias[i:])
			}
		}
		if i == len(modalias) {
			s.addValues(n)
			return
		}
		child, ok := s.db.lookupChild(n, modalias[i])
		if !ok {
			return
		}
		n = s.db.node(child)
		i++
	}
}

// glob is trie_fnmatch_f: it appends the node's prefix from p to the
// pattern, descends into every child in byte order, then adds the node's
// values if the whole pattern matches rest.
func (s *hwdbSearch) glob(n hwdbNode, p int, rest string) {
	base := len(s.pattern)
	s.pattern = append(s.pattern, s.db.str(n.prefixOff)[p:]...)
	for i := range n.children {
		c, child := s.db.child(n, i)
		s.pattern = append(s.pattern, c)
		s.glob(s.db.node(child), 0, rest)
		s.pattern = s.pattern[:len(s.pattern)-1]
	}
	if n.values > 0 && fnmatch.Match(cString(s.pattern), rest) {
		s.addValues(n)
	}
	s.pattern = s.pattern[:base]
}

// cString is the pattern as C reads it: a child byte 0 in a corrupt file
// ends it there.
func cString(b []byte) string {
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

func (s *hwdbSearch) addValues(n hwdbNode) {
	for i := range n.values {
		s.props.add(s.db.value(n, i))
	}
}

// lookupChild finds the child of n for byte c; checkTrie made sure the
// children are sorted.
func (db *HWDB) lookupChild(n hwdbNode, c byte) (uint64, bool) {
	lo, hi := 0, n.children
	for lo < hi {
		mid := (lo + hi) / 2
		mc, off := db.child(n, mid)
		switch {
		case mc == c:
			return off, true
		case mc < c:
			lo = mid + 1
		default:
			hi = mid
		}
	}
	return 0, false
}

// hwdbProps is sd-hwdb's ordered hashmap of matched properties.
type hwdbProps struct {
	db      *HWDB
	entries []hwdbValue
	keys    []string
	index   map[string]int // key → position in entries
}

// add is hwdb_add_property. A later match replaces the value of a key
// already set, keeping its place, unless it is lower: of a file with
// lower priority, or the same priority and an earlier line. A value
// written with priority 0 (a v2 file, before priorities) compares by
// file name offset instead, which follows the order systemd-hwdb read
// the files in. v1 entries carry neither, and the last match wins.
func (p *hwdbProps) add(v hwdbValue) {
	key := p.db.str(v.keyOff)
	if len(key) == 0 || key[0] != ' ' {
		return
	}
	k := string(key[1:])
	at, ok := p.index[k]
	if !ok {
		p.index[k] = len(p.entries)
		p.entries = append(p.entries, v)
		p.keys = append(p.keys, k)
		return
	}
	if p.db.v2() && lowerThan(v, p.entries[at]) {
		return
	}
	p.entries[at] = v
}

func lowerThan(v, old hwdbValue) bool {
	if v.priority == 0 {
		return v.filenameOff < old.filenameOff || (v.filenameOff == old.filenameOff && v.line < old.line)
	}
	return v.priority < old.priority || (v.priority == old.priority && v.line < old.line)
}

func (p *hwdbProps) list() []Prop {
	if len(p.entries) == 0 {
		return nil
	}
	out := make([]Prop, len(p.entries))
	for i, v := range p.entries {
		out[i] = Prop{Key: p.keys[i], Value: string(p.db.str(v.valueOff))}
	}
	return out
}
