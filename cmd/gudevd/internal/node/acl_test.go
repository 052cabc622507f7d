package node

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// TestSetUaccess: the seat's user gets rw through a named entry and the
// mask; a grant for another user replaces it; a reset removes them; the
// xattr is what the kernel and getfacl read (version 2, sorted).
func TestSetUaccess(t *testing.T) {
	e := newEnv(t)
	e.mknod(t, "/dev/snd/pcm", unix.S_IFCHR|0o660, 116, 2)
	p := e.path("/dev/snd/pcm")
	if err := e.n.SetUaccess("/dev/snd/pcm", true, 1000); err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOTSUP) {
			t.Skipf("no POSIX ACLs on this file system: %v", err)
		}
		t.Fatal(err)
	}
	got, err := readACL(p)
	if err != nil {
		t.Fatal(err)
	}
	want := []aclEntry{{aclUserObj, 6, aclUndefinedID}, {aclUser, 6, 1000}, {aclGroupObj, 6, aclUndefinedID}, {aclMask, 6, aclUndefinedID}, {aclOther, 0, aclUndefinedID}}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(aclEntry{})); diff != "" {
		t.Errorf("ACL after grant to 1000 (-want +got):\n%s", diff)
	}
	if err := e.n.SetUaccess("/dev/snd/pcm", true, 1001); err != nil {
		t.Fatal(err)
	}
	got, _ = readACL(p)
	if got[1] != (aclEntry{aclUser, 6, 1001}) || len(got) != 5 {
		t.Errorf("ACL after grant to 1001: %+v, want 1000 replaced by 1001", got)
	}
	if err := e.n.SetUaccess("/dev/snd/pcm", false, 0); err != nil {
		t.Fatal(err)
	}
	got, _ = readACL(p)
	for _, en := range got {
		if en.tag == aclUser {
			t.Errorf("a named user after the reset: %+v", got)
		}
	}
}

func TestACLRoundTrip(t *testing.T) {
	acl := []aclEntry{{aclUserObj, 7, aclUndefinedID}, {aclUser, 6, 5}, {aclGroupObj, 5, aclUndefinedID}, {aclMask, 7, aclUndefinedID}, {aclOther, 4, aclUndefinedID}}
	got, err := decodeACL(encodeACL(acl))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(acl, got, cmp.AllowUnexported(aclEntry{})); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	for _, bad := range [][]byte{nil, {1, 0, 0, 0}, {2, 0, 0, 0, 1}} {
		if _, err := decodeACL(bad); err == nil {
			t.Errorf("decodeACL(%v) took it", bad)
		}
	}
}
