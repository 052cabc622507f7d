package modalias

import (
	"encoding/binary"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"unsafe"

	"github.com/gudevd/gudevd/internal/fnmatch"
	"golang.org/x/sys/unix"
)

// depmod's binary indexes (modules.dep.bin, modules.alias.bin,
// modules.symbols.bin, modules.builtin.bin, modules.builtin.alias.bin) are
// what libkmod reads (libkmod-index.c). Each is a radix trie over 7-bit
// ASCII keys, every integer a big-endian uint32:
//
//	magic 0xB007F457, version 0x00020001, root node offset
//
// A node offset's high nibble says which parts the node has, its low 28
// bits where it starts (0: no node):
//
//	INDEX_NODE_PREFIX  0x80000000  prefix, NUL-terminated: the bytes of
//	                               the key after the edge into the node
//	INDEX_NODE_CHILDS  0x20000000  first, last (bytes), then one child
//	                               offset for each byte first..last
//	INDEX_NODE_VALUES  0x40000000  count, then count times a priority and
//	                               a NUL-terminated value
//
// A node with values ends a key; its values are sorted by priority (depmod
// inserts a value in front of those of equal priority). depmod writes the
// trie in post-order, so every child starts before its parent: the reader
// insists on it, which makes a cycle in a damaged file impossible.
const (
	binMagic      = 0xB007F457
	binVersionMaj = 0x0002
	binHeaderLen  = 12
	nodePrefix    = 0x80000000
	nodeValues    = 0x40000000
	nodeChilds    = 0x20000000
	nodeMask      = 0x0FFFFFFF
	childMax      = 128 // INDEX_CHILDMAX: keys are 7-bit ASCII
)

// binIndex is one .bin index, mapped or in memory, read lazily: a lookup
// reads only the nodes along its walk.
type binIndex struct {
	file  string // for errors: the file's name in the modules directory
	data  []byte
	root  uint32
	unmap bool // data is an mmap to release in close
}

// binValue is one value of a node.
type binValue struct {
	priority uint32
	value    string
}

// corrupt is the error for a damaged index file.
func corrupt(file string, format string, args ...any) error {
	return &FileError{File: file, Err: fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrCorrupt)}
}

// parseBinIndex checks the header as libkmod's index_mm_open does: the
// magic and the major version; the root offset is checked when read. A
// file past 256 MiB could not address its end with 28-bit offsets.
func parseBinIndex(file string, data []byte) (*binIndex, error) {
	if len(data) < binHeaderLen || len(data) > nodeMask {
		return nil, corrupt(file, "%d bytes, not between the header's and the largest node offset", len(data))
	}
	if m := binary.BigEndian.Uint32(data); m != binMagic {
		return nil, corrupt(file, "magic %#x, want %#x", m, binMagic)
	}
	if v := binary.BigEndian.Uint32(data[4:]); v>>16 != binVersionMaj {
		return nil, corrupt(file, "version %#x, want major %#x", v, binVersionMaj)
	}
	return &binIndex{file: file, data: data, root: binary.BigEndian.Uint32(data[8:])}, nil
}

// openBinIndex opens name in fsys. A file of an os.DirFS (an *os.File) is
// mapped read-only and closed at once, as libkmod does; any other fs.FS is
// read into memory.
func openBinIndex(fsys fs.FS, name string) (*binIndex, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, &FileError{File: name, Err: err}
	}
	defer f.Close()
	osf, ok := f.(*os.File)
	if !ok {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, &FileError{File: name, Err: err}
		}
		return parseBinIndex(name, data)
	}
	data, err := mapFile(osf)
	if err != nil {
		return nil, &FileError{File: name, Err: err}
	}
	bi, err := parseBinIndex(name, data)
	if err != nil {
		unix.Munmap(data)
		return nil, err
	}
	bi.unmap = true
	return bi, nil
}

// mapFile maps f read-only and private (libkmod's mmap flags).
func mapFile(f *os.File) ([]byte, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() < binHeaderLen || st.Size() > nodeMask {
		return nil, fmt.Errorf("size %d: %w", st.Size(), ErrCorrupt)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var data []byte
	var merr error
	if err := rc.Control(func(fd uintptr) {
		data, merr = unix.Mmap(int(fd), 0, int(st.Size()), unix.PROT_READ, unix.MAP_PRIVATE)
	}); err != nil {
		return nil, err
	}
	if merr != nil {
		return nil, fmt.Errorf("mmap: %w", merr)
	}
	return data, nil
}

// close releases the mapping. The index must not be used afterwards.
func (bi *binIndex) close() error {
	if bi == nil || !bi.unmap {
		return nil
	}
	bi.unmap = false
	data := bi.data
	bi.data = nil
	return unix.Munmap(data)
}

// binNode is one node read in place: its slices point into the index.
type binNode struct {
	pos         uint32 // where it starts
	prefix      []byte
	first, last byte   // children's range; last < first when none
	children    []byte // 4 bytes per child, first..last
	nvalues     uint32
	values      []byte // the value records and whatever follows them
}

// readNode parses the node at off (with its flags); ok is false for offset
// 0, no node. limit is where the node must start before: its parent's
// position, or past the end for the root.
func (bi *binIndex) readNode(off uint32, limit uint32) (n binNode, ok bool, err error) {
	pos := off & nodeMask
	if pos == 0 {
		return n, false, nil
	}
	if pos < binHeaderLen || pos >= limit || int(pos) > len(bi.data) {
		return n, false, corrupt(bi.file, "node offset %#x out of place", off)
	}
	n = binNode{pos: pos, first: 1}
	p := bi.data[pos:]
	if off&nodePrefix != 0 {
		i := strings.IndexByte(unsafeString(p), 0)
		if i < 0 {
			return n, false, corrupt(bi.file, "node %#x: unterminated prefix", pos)
		}
		n.prefix, p = p[:i], p[i+1:]
	}
	if off&nodeChilds != 0 {
		if len(p) < 2 || p[0] > p[1] || p[1] >= childMax {
			return n, false, corrupt(bi.file, "node %#x: bad child range", pos)
		}
		n.first, n.last = p[0], p[1]
		c := 4 * (int(n.last) - int(n.first) + 1)
		if len(p) < 2+c {
			return n, false, corrupt(bi.file, "node %#x: truncated children", pos)
		}
		n.children, p = p[2:2+c], p[2+c:]
	}
	if off&nodeValues != 0 {
		if len(p) < 4 {
			return n, false, corrupt(bi.file, "node %#x: truncated value count", pos)
		}
		n.nvalues, n.values = binary.BigEndian.Uint32(p), p[4:]
		if uint64(n.nvalues)*5 > uint64(len(n.values)) {
			return n, false, corrupt(bi.file, "node %#x: %d values do not fit", pos, n.nvalues)
		}
	}
	return n, true, nil
}

// root reads the root node.
func (bi *binIndex) rootNode() (binNode, bool, error) {
	return bi.readNode(bi.root, uint32(len(bi.data))+1)
}

// child reads n's child for byte ch (index_mm_readchild). libkmod passes
// the key's byte as a C char, so a byte >= 0x80 never has a child.
func (bi *binIndex) child(n *binNode, ch byte) (binNode, bool, error) {
	if ch >= childMax || ch < n.first || ch > n.last {
		return binNode{}, false, nil
	}
	i := 4 * int(ch-n.first)
	return bi.readNode(binary.BigEndian.Uint32(n.children[i:]), n.pos)
}

// eachValue calls f for each of n's values in file order.
func (bi *binIndex) eachValue(n *binNode, f func(priority uint32, value []byte)) error {
	p := n.values
	for range n.nvalues {
		if len(p) < 5 {
			return corrupt(bi.file, "node %#x: truncated values", n.pos)
		}
		prio := binary.BigEndian.Uint32(p)
		i := strings.IndexByte(unsafeString(p[4:]), 0)
		if i < 0 {
			return corrupt(bi.file, "node %#x: unterminated value", n.pos)
		}
		f(prio, p[4:4+i])
		p = p[5+i:]
	}
	return nil
}

// cKey is a lookup key as libkmod sees it, a C string: it ends at a NUL.
func cKey(key string) string {
	if i := strings.IndexByte(key, 0); i >= 0 {
		return key[:i]
	}
	return key
}

// search is libkmod's index_mm_search: the first value of the node the key
// ends at exactly, no wildcards. ok is false when there is none.
func (bi *binIndex) search(key string) (value string, ok bool, err error) {
	key = cKey(key)
	n, ok, err := bi.rootNode()
	for i := 0; ok && err == nil; i++ {
		for j, c := range n.prefix {
			if c != at(key, i+j) {
				return "", false, nil
			}
		}
		i += len(n.prefix)
		if i == len(key) {
			if n.nvalues == 0 {
				return "", false, nil
			}
			found := false
			err = bi.eachValue(&n, func(_ uint32, v []byte) {
				if !found {
					value, found = string(v), true
				}
			})
			return value, found && err == nil, err
		}
		n, ok, err = bi.child(&n, key[i])
	}
	return "", false, err
}

// wildWalk is one index_mm_searchwild: the key, the buffer of the index
// key from its first wildcard on, the values found so far (sorted as
// libkmod's add_value keeps them) and a bound on the nodes it may read,
// which only a damaged file can exceed.
type wildWalk struct {
	bi     *binIndex
	key    string
	buf    []byte
	out    []binValue
	budget int
}

// searchWild is libkmod's index_mm_searchwild: every value of every index
// key that matches key, with libkmod's wildcard rules (see walk), ordered
// by priority; among equal priorities a later match comes first, as
// add_value inserts each value in front of those of its priority.
func (bi *binIndex) searchWild(key string) ([]binValue, error) {
	key = cKey(key)
	w := wildWalk{bi: bi, key: key, budget: (len(key) + 2) * (len(bi.data) + 1)}
	n, ok, err := bi.rootNode()
	if ok {
		err = w.node(n, 0)
	}
	if err != nil {
		return nil, err
	}
	return w.out, nil
}

// node descends the trie along the key from node n, the key's first i
// bytes consumed (index_mm_searchwild_node). Prefix bytes compare
// literally until one is '*', '?' or '[', where the rest of the subtree
// is matched with fnmatch; at each node the '*', '?' and '[' children are
// matched that way first, then the walk follows the child for the key's
// next byte, which may itself be a wildcard byte.
func (w *wildWalk) node(n binNode, i int) error {
	for {
		if err := w.spend(); err != nil {
			return err
		}
		for j, c := range n.prefix {
			if c == '*' || c == '?' || c == '[' {
				return w.all(n, j, i+j)
			}
			if c != at(w.key, i+j) {
				return nil
			}
		}
		i += len(n.prefix)
		for _, c := range []byte{'*', '?', '['} {
			if err := w.wildChild(&n, c, i); err != nil {
				return err
			}
		}
		if i == len(w.key) {
			return w.values(&n)
		}
		child, ok, err := w.bi.child(&n, w.key[i])
		if !ok || err != nil {
			return err
		}
		n, i = child, i+1
	}
}

// wildChild matches the subtree under n's child c, a wildcard byte,
// against the key from i.
func (w *wildWalk) wildChild(n *binNode, c byte, i int) error {
	child, ok, err := w.bi.child(n, c)
	if !ok || err != nil {
		return err
	}
	w.buf = append(w.buf[:0], c)
	err = w.all(child, 0, i)
	w.buf = w.buf[:0]
	return err
}

// all is index_mm_searchwild_all: n's prefix from j on joins the buffer,
// the children are visited in byte order, and then, if n ends a key, the
// buffer is matched by fnmatch against the key from i.
func (w *wildWalk) all(n binNode, j, i int) error {
	if err := w.spend(); err != nil {
		return err
	}
	mark := len(w.buf)
	w.buf = append(w.buf, n.prefix[j:]...)
	for ch := int(n.first); ch <= int(n.last); ch++ {
		child, ok, err := w.bi.child(&n, byte(ch))
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		w.buf = append(w.buf, byte(ch))
		if err := w.all(child, 0, i); err != nil {
			return err
		}
		w.buf = w.buf[:len(w.buf)-1]
	}
	if n.nvalues > 0 && fnmatch.Match(unsafeString(w.buf), w.key[i:]) {
		if err := w.values(&n); err != nil {
			return err
		}
	}
	w.buf = w.buf[:mark]
	return nil
}

// values adds n's values as libkmod's add_value does: each goes in front
// of the first value found so far whose priority is not lower.
func (w *wildWalk) values(n *binNode) error {
	return w.bi.eachValue(n, func(prio uint32, v []byte) {
		i := 0
		for i < len(w.out) && w.out[i].priority < prio {
			i++
		}
		w.out = append(w.out, binValue{})
		copy(w.out[i+1:], w.out[i:])
		w.out[i] = binValue{prio, string(v)}
	})
}

// spend counts one node read against the walk's budget.
func (w *wildWalk) spend() error {
	if w.budget--; w.budget < 0 {
		return corrupt(w.bi.file, "walk for %q reads more nodes than the file can hold", clip(w.key))
	}
	return nil
}

// unsafeString views b as a string for a call that does not keep it
// (strings.IndexByte, fnmatch.Match): the bytes may be a mapping that
// Close releases, or a buffer the walk overwrites.
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}
