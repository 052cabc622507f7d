package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Static is one static node of the rules (OPTIONS+="static_node=NAME"):
// a node kmod's static-nodes made at boot (/dev/net/tun, /dev/fuse,
// /dev/snd/seq) before any device exists, its module loading only when
// the node is first opened.
type Static struct {
	Name  string // below /dev, "net/tun"
	Perms Perms
	Tags  []string
}

// ApplyStatic is static_node_apply_permissions, which udevd runs for every
// static node when its rules load: the tags are exported as symlinks
// /run/udev/static_node-tags/TAG/NAME-ESCAPED -> /dev/NAME (so that
// logind's uaccess finds a node no device event will ever name), then
// the permissions are applied. A node that does not exist is skipped, one
// that is not a device node is skipped with a warning.
func (n *Nodes) ApplyStatic(ctx context.Context, tagsDir string, s Static) error {
	if !s.Perms.UIDSet && !s.Perms.GIDSet && !s.Perms.ModeSet && len(s.Tags) == 0 {
		return nil
	}
	devnode := "/dev/" + s.Name
	path, err := n.host(devnode)
	if err != nil {
		return err
	}
	fd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open %s: %w", devnode, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("stat %s: %w", devnode, err)
	}
	if f := st.Mode & unix.S_IFMT; f != unix.S_IFCHR && f != unix.S_IFBLK {
		n.log.Warn("static node is neither block nor character device, ignoring", "node", devnode)
		return nil
	}
	for _, t := range s.Tags {
		if err := staticTag(tagsDir, t, s.Name, devnode); err != nil {
			return err
		}
	}
	n.setPerms(ctx, n.log, fd, &st, s.Perms)
	return nil
}

// staticTag makes the tag's symlink, named by the node's path with '/'
// and '.' escaped as systemd's xescape(name, "/.") does ("\x2f", "\x2e").
func staticTag(dir, tag, name, devnode string) error {
	p := filepath.Join(dir, tag, xescape(name, "/."))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("static node tag: %w", err)
	}
	if err := os.Symlink(devnode, p); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("static node tag: %w", err)
	}
	return nil
}

// xescape is systemd's xescape: every byte in bad, a backslash, and every
// byte below ' ' or from 0x7f up becomes \xNN.
func xescape(s, bad string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < ' ' || c >= 0x7f || c == '\\' || strings.IndexByte(bad, c) >= 0 {
			fmt.Fprintf(&b, "\\x%02x", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
