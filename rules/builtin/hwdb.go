package builtin

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"syscall"
)

// ErrCorrupt is wrapped by every error OpenHWDB and ParseHWDB return for
// a file that is not a well-formed hwdb.bin: a wrong signature, a size
// that disagrees with the header, or an offset that points outside the
// file.
var ErrCorrupt = errors.New("corrupt hwdb.bin")

// HWDB is a compiled hardware database, the hwdb.bin systemd-hwdb update
// writes, as sd-hwdb reads it: a trie of match patterns whose nodes hold
// key/value properties. OpenHWDB maps the file read-only and shared, as
// sd-hwdb does, so the daemon's heap does not carry the ~10 MB of a full
// database; ParseHWDB reads one from memory. The whole trie is checked
// when it is opened, so Lookup trusts every offset it follows.
//
// A HWDB is safe for concurrent lookups; Close must not run during one.
// systemd-hwdb update replaces hwdb.bin by renaming a new file over it, so
// the mapped file is never truncated under a running lookup.
type HWDB struct {
	data  []byte
	hdr   hwdbHeader
	unmap func() error
}

// The fixed layout of hwdb.bin (systemd's hwdb-internal.h), all
// little-endian. The header's size fields let the structures grow: a
// reader steps by the sizes the file declares and reads only the fields
// it knows.
const (
	hwdbSignature    = "KSLPHHRH"
	hwdbHeaderMin    = 80 // up to and including strings_len
	hwdbNodeMin      = 24 // prefix_off, children_count, padding, values_count
	hwdbChildMin     = 16 // c, padding, child_off
	hwdbValueMin     = 16 // key_off, value_off (v1)
	hwdbValueV2      = 32 // + filename_off, line_number, file_priority, padding
	hwdbRootOffField = 56
)

type hwdbHeader struct {
	nodeSize, childSize, valueSize uint64
	rootOff                        uint64
}

// hwdbDefaultPaths are the files sd_hwdb_new tries, in order, on Debian's
// split-/usr build of systemd 252 (the list is compiled into
// libsystemd-shared; /usr/lib/udev/hwdb.bin is where a merged-/usr system
// without the /lib link keeps udev's file).
func hwdbDefaultPaths() []string {
	return []string{
		"/etc/systemd/hwdb/hwdb.bin",
		"/etc/udev/hwdb.bin",
		"/usr/lib/systemd/hwdb/hwdb.bin",
		"/lib/systemd/hwdb/hwdb.bin",
		"/lib/udev/hwdb.bin",
		"/usr/lib/udev/hwdb.bin",
	}
}

// OpenDefaultHWDB opens the first hwdb.bin of sd_hwdb_new's search list
// that exists below root ("" or "/" for the running system). Like
// sd_hwdb_new it goes on past a missing file only: an unreadable or
// corrupt one is an error, not a reason to take the next.
func OpenDefaultHWDB(root string) (*HWDB, error) {
	for _, p := range hwdbDefaultPaths() {
		db, err := OpenHWDB(filepath.Join(root, p))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		return db, err
	}
	return nil, fmt.Errorf("open hwdb: no hwdb.bin below %q, run 'systemd-hwdb update': %w", root, fs.ErrNotExist)
}

// OpenHWDB maps and checks the hwdb.bin at path. The file descriptor is
// closed before it returns (the mapping outlives it); Close unmaps.
func OpenHWDB(path string) (*HWDB, error) {
	f, err := os.Open(path) // O_CLOEXEC, as Go opens every file
	if err != nil {
		return nil, fmt.Errorf("open hwdb: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("open hwdb: %w", err)
	}
	size := st.Size()
	if size < hwdbHeaderMin {
		return nil, fmt.Errorf("open hwdb %s: %d bytes, shorter than a header: %w", path, size, ErrCorrupt)
	}
	if size > math.MaxInt32 {
		return nil, fmt.Errorf("open hwdb %s: %d bytes is too large: %w", path, size, ErrCorrupt)
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("open hwdb %s: mmap: %w", path, err)
	}
	db, err := ParseHWDB(data)
	if err != nil {
		syscall.Munmap(data)
		return nil, fmt.Errorf("open hwdb %s: %w", path, err)
	}
	db.unmap = func() error { return syscall.Munmap(data) }
	return db, nil
}

// Close releases the mapping of a HWDB from OpenHWDB; the Props its
// lookups returned stay valid, and later lookups find nothing.
func (db *HWDB) Close() error {
	if db == nil || db.unmap == nil {
		return nil
	}
	unmap := db.unmap
	db.unmap, db.data = nil, nil
	if err := unmap(); err != nil {
		return fmt.Errorf("close hwdb: %w", err)
	}
	return nil
}

// ParseHWDB checks data as a hwdb.bin and returns a HWDB reading it in
// place; data must not change while the HWDB is in use.
func ParseHWDB(data []byte) (*HWDB, error) {
	hdr, err := parseHWDBHeader(data)
	if err != nil {
		return nil, err
	}
	db := &HWDB{data: data, hdr: hdr}
	if err := db.checkTrie(); err != nil {
		return nil, err
	}
	return db, nil
}

// parseHWDBHeader checks what sd-hwdb checks (the signature and that the
// file is as long as the header says) and, beyond it, that the structure
// sizes are at least those of the version-1 layout and the root node lies
// in the file, since sd-hwdb trusts those blindly.
func parseHWDBHeader(data []byte) (hwdbHeader, error) {
	if len(data) < hwdbHeaderMin {
		return hwdbHeader{}, fmt.Errorf("%d bytes, shorter than a header: %w", len(data), ErrCorrupt)
	}
	if string(data[:8]) != hwdbSignature {
		return hwdbHeader{}, fmt.Errorf("signature %q is not %q: %w", data[:8], hwdbSignature, ErrCorrupt)
	}
	u64 := func(off int) uint64 { return binary.LittleEndian.Uint64(data[off:]) }
	if fileSize := u64(16); fileSize != uint64(len(data)) {
		return hwdbHeader{}, fmt.Errorf("header says %d bytes, file has %d: %w", fileSize, len(data), ErrCorrupt)
	}
	h := hwdbHeader{nodeSize: u64(32), childSize: u64(40), valueSize: u64(48), rootOff: u64(hwdbRootOffField)}
	switch {
	case u64(24) < hwdbHeaderMin || u64(24) > uint64(len(data)):
		return hwdbHeader{}, fmt.Errorf("header size %d: %w", u64(24), ErrCorrupt)
	case h.nodeSize < hwdbNodeMin || h.nodeSize > uint64(len(data)):
		return hwdbHeader{}, fmt.Errorf("node size %d: %w", h.nodeSize, ErrCorrupt)
	case h.childSize < hwdbChildMin || h.childSize > uint64(len(data)):
		return hwdbHeader{}, fmt.Errorf("child entry size %d: %w", h.childSize, ErrCorrupt)
	case h.valueSize < hwdbValueMin || h.valueSize > uint64(len(data)):
		return hwdbHeader{}, fmt.Errorf("value entry size %d: %w", h.valueSize, ErrCorrupt)
	}
	return h, nil
}

// hwdbNode is one trie node as read from the file.
type hwdbNode struct {
	off       uint64 // of the node record
	prefixOff uint64
	children  int
	values    uint64
}

// node reads the node record at off, which checkTrie has vouched for.
func (db *HWDB) node(off uint64) hwdbNode {
	d := db.data[off:]
	return hwdbNode{
		off:       off,
		prefixOff: binary.LittleEndian.Uint64(d),
		children:  int(d[8]),
		values:    binary.LittleEndian.Uint64(d[16:]),
	}
}

// child returns the byte and node offset of a node's i-th child entry.
func (db *HWDB) child(n hwdbNode, i int) (byte, uint64) {
	off := n.off + db.hdr.nodeSize + uint64(i)*db.hdr.childSize
	return db.data[off], binary.LittleEndian.Uint64(db.data[off+8:])
}

// hwdbValue is one value entry; a v1 file has no filename, line or
// priority and reads them as zero.
type hwdbValue struct {
	keyOff, valueOff, filenameOff uint64
	line                          uint32
	priority                      uint16
}

func (db *HWDB) value(n hwdbNode, i uint64) hwdbValue {
	off := n.off + db.hdr.nodeSize + uint64(n.children)*db.hdr.childSize + i*db.hdr.valueSize
	d := db.data[off:]
	v := hwdbValue{keyOff: binary.LittleEndian.Uint64(d), valueOff: binary.LittleEndian.Uint64(d[8:])}
	if db.v2() {
		v.filenameOff = binary.LittleEndian.Uint64(d[16:])
		v.line = binary.LittleEndian.Uint32(d[24:])
		v.priority = binary.LittleEndian.Uint16(d[28:])
	}
	return v
}

// v2 tells whether value entries carry filename, line and priority,
// which decide between two values of one key (hwdb_add_property).
func (db *HWDB) v2() bool { return db.hdr.valueSize >= hwdbValueV2 }

// str returns the NUL-terminated string at off, as sd-hwdb reads every
// string: the header is part of the string space too (offset 0 reads
// the signature).
func (db *HWDB) str(off uint64) []byte {
	d := db.data[off:]
	return d[:bytes.IndexByte(d, 0)]
}

// checkTrie walks every node from the root and checks each offset and
// count before a lookup follows it: records and arrays inside the file,
// strings ending in a NUL inside it, children sorted by byte (sd-hwdb
// bisects them) and each child written before its parent, as
// systemd-hwdb's post-order writer does. That order rules out cycles, and
// refusing a node reached twice keeps the trie a tree, so a lookup's
// walk is bounded by the file's size.
func (db *HWDB) checkTrie() error {
	lastNUL := uint64(bytes.LastIndexByte(db.data, 0))
	if bytes.LastIndexByte(db.data, 0) < 0 {
		return fmt.Errorf("no string in the file: %w", ErrCorrupt)
	}
	strOK := func(off uint64) bool { return off <= lastNUL }
	seen := make([]uint64, len(db.data)/64+1)
	stack := []uint64{db.hdr.rootOff}
	for len(stack) > 0 {
		off := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if err := db.checkNode(off, strOK); err != nil {
			return err
		}
		if seen[off/64]&(1<<(off%64)) != 0 {
			return fmt.Errorf("node at %d reached twice: %w", off, ErrCorrupt)
		}
		seen[off/64] |= 1 << (off % 64)
		n := db.node(off)
		prev := -1
		for i := range n.children {
			c, childOff := db.child(n, i)
			if int(c) <= prev {
				return fmt.Errorf("node at %d: children not sorted at %q: %w", off, c, ErrCorrupt)
			}
			if childOff >= off {
				return fmt.Errorf("node at %d: child %q at %d not before its parent: %w", off, c, childOff, ErrCorrupt)
			}
			prev = int(c)
			stack = append(stack, childOff)
		}
	}
	return nil
}

// checkNode checks that the node record at off, its child and value
// arrays and the strings its prefix and values name lie in the file.
func (db *HWDB) checkNode(off uint64, strOK func(uint64) bool) error {
	size := uint64(len(db.data))
	if off > size || size-off < db.hdr.nodeSize {
		return fmt.Errorf("node at %d outside the file: %w", off, ErrCorrupt)
	}
	n := db.node(off)
	rest := size - off - db.hdr.nodeSize
	if uint64(n.children) > rest/db.hdr.childSize {
		return fmt.Errorf("node at %d: %d children overrun the file: %w", off, n.children, ErrCorrupt)
	}
	rest -= uint64(n.children) * db.hdr.childSize
	if n.values > rest/db.hdr.valueSize {
		return fmt.Errorf("node at %d: %d values overrun the file: %w", off, n.values, ErrCorrupt)
	}
	if !strOK(n.prefixOff) {
		return fmt.Errorf("node at %d: prefix at %d: %w", off, n.prefixOff, ErrCorrupt)
	}
	for i := range n.values {
		v := db.value(n, i)
		if !strOK(v.keyOff) || !strOK(v.valueOff) {
			return fmt.Errorf("node at %d: value %d names strings at %d and %d: %w", off, i, v.keyOff, v.valueOff, ErrCorrupt)
		}
	}
	return nil
}
