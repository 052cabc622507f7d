package node

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"golang.org/x/sys/unix"
)

// The POSIX ACL extended attribute (system.posix_acl_access) as the
// kernel stores it (include/uapi/linux/posix_acl_xattr.h): a little-endian
// version 2 header, then one entry per ACL entry, sorted by tag and then
// id.
const (
	aclXattr   = "system.posix_acl_access"
	aclVersion = 2

	aclUserObj  = 0x01
	aclUser     = 0x02
	aclGroupObj = 0x04
	aclGroup    = 0x08
	aclMask     = 0x10
	aclOther    = 0x20

	aclUndefinedID = 0xffffffff
)

type aclEntry struct {
	tag  uint16
	perm uint16
	id   uint32
}

// SetUaccess is the effect of udevd's uaccess builtin (devnode_acl with
// flush): every named-user entry of the node's access ACL goes, then, when
// grant is set, the user uid gets read and write, and the mask is
// recomputed. logind's active user of a seat so reaches its sound, video
// and input nodes. The node is changed only when its ACL changes.
func (n *Nodes) SetUaccess(devnode string, grant bool, uid uint32) error {
	p, err := n.host(devnode)
	if err != nil {
		return err
	}
	acl, err := readACL(p)
	if err != nil {
		return err
	}
	next := slices.DeleteFunc(slices.Clone(acl), func(e aclEntry) bool { return e.tag == aclUser })
	if grant && uid > 0 {
		next = append(next, aclEntry{tag: aclUser, perm: 6, id: uid})
	}
	next = withMask(next)
	if slices.Equal(next, acl) {
		return nil
	}
	if err := unix.Setxattr(p, aclXattr, encodeACL(next), 0); err != nil {
		return fmt.Errorf("set ACL of %s: %w", devnode, err)
	}
	return nil
}

// readACL is the node's access ACL; a node without one has the three
// entries its mode stands for.
func readACL(p string) ([]aclEntry, error) {
	buf := make([]byte, 4+8*32)
	sz, err := unix.Getxattr(p, aclXattr, buf)
	if errors.Is(err, unix.ENODATA) {
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			return nil, fmt.Errorf("stat %s: %w", p, err)
		}
		m := uint16(st.Mode)
		return []aclEntry{{aclUserObj, m >> 6 & 7, aclUndefinedID}, {aclGroupObj, m >> 3 & 7, aclUndefinedID}, {aclOther, m & 7, aclUndefinedID}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read ACL of %s: %w", p, err)
	}
	return decodeACL(buf[:sz])
}

func decodeACL(b []byte) ([]aclEntry, error) {
	if len(b) < 4 || binary.LittleEndian.Uint32(b) != aclVersion || (len(b)-4)%8 != 0 {
		return nil, fmt.Errorf("ACL of %d bytes: not a version %d POSIX ACL", len(b), aclVersion)
	}
	var out []aclEntry
	for b = b[4:]; len(b) > 0; b = b[8:] {
		out = append(out, aclEntry{binary.LittleEndian.Uint16(b), binary.LittleEndian.Uint16(b[2:]), binary.LittleEndian.Uint32(b[4:])})
	}
	return out, nil
}

func encodeACL(acl []aclEntry) []byte {
	b := binary.LittleEndian.AppendUint32(nil, aclVersion)
	for _, e := range acl {
		b = binary.LittleEndian.AppendUint16(b, e.tag)
		b = binary.LittleEndian.AppendUint16(b, e.perm)
		b = binary.LittleEndian.AppendUint32(b, e.id)
	}
	return b
}

// withMask is acl_calc_mask and the kernel's order: the mask is the union
// of the group class (the owning group and every named entry), present
// only when there are named entries; entries sorted by tag, then id.
func withMask(acl []aclEntry) []aclEntry {
	acl = slices.DeleteFunc(acl, func(e aclEntry) bool { return e.tag == aclMask })
	var mask uint16
	named := false
	for _, e := range acl {
		switch e.tag {
		case aclUser, aclGroup:
			named = true
			mask |= e.perm
		case aclGroupObj:
			mask |= e.perm
		}
	}
	if named {
		acl = append(acl, aclEntry{tag: aclMask, perm: mask, id: aclUndefinedID})
	}
	slices.SortFunc(acl, func(a, b aclEntry) int {
		if a.tag != b.tag {
			return int(a.tag) - int(b.tag)
		}
		return int(int64(a.id) - int64(b.id))
	})
	return acl
}
