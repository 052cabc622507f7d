package node

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestApplyStatic: a static node gets its permissions and its tags'
// symlinks, named as udevd names them; a missing node and a regular file
// are skipped.
func TestApplyStatic(t *testing.T) {
	e := newEnv(t)
	tags := filepath.Join(t.TempDir(), "static_node-tags")
	if err := os.MkdirAll(e.path("/dev/snd"), 0o755); err != nil {
		t.Fatal(err)
	}
	e.mknod(t, "/dev/snd/seq", unix.S_IFCHR|0o600, 116, 1)
	if err := os.WriteFile(e.path("/dev/not-a-node"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s := Static{Name: "snd/seq", Perms: Perms{GID: 29, GIDSet: true}, Tags: []string{"uaccess"}}
	if err := e.n.ApplyStatic(ctx, tags, s); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(e.path("/dev/snd/seq"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Gid != 29 || st.Mode&0o777 != 0o660 {
		t.Errorf("snd/seq: gid %d mode %o, want 29 and 660 (a group without a mode)", st.Gid, st.Mode&0o777)
	}
	if got, err := os.Readlink(filepath.Join(tags, "uaccess", `snd\x2fseq`)); err != nil || got != "/dev/snd/seq" {
		t.Errorf("tag link: %q, %v; want /dev/snd/seq", got, err)
	}
	for _, name := range []string{"missing", "not-a-node"} {
		if err := e.n.ApplyStatic(ctx, tags, Static{Name: name, Perms: Perms{Mode: 0o666, ModeSet: true}}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if fi, err := os.Stat(e.path("/dev/not-a-node")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("regular file changed: %v %v", fi.Mode(), err)
	}
}
