package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// linkUpdate is udevd's link_update: with the stack directory's .lock
// held, it writes or removes this device's entry, finds the claimant of
// the highest priority and points the link at its node, or removes the
// link when no claimant is left. The lock makes the three steps one for
// every udev-compatible process, so that the link ends up at the winner
// whatever the order in which claimants come and go.
func (n *Nodes) linkUpdate(ctx context.Context, log *slog.Logger, dev Device, link string, prio int, add bool) error {
	if done, err := n.linkDiskseq(log, dev, link, add); done || err != nil {
		return err
	}
	dir, err := n.stackDir(link)
	if err != nil {
		return err
	}
	dirfd, err := openStack(n.links, dir)
	if err != nil {
		return err
	}
	defer unix.Close(dirfd)
	lockfd, err := lockStack(ctx, dirfd)
	if err != nil {
		return fmt.Errorf("lock stack directory %s: %w", dir, err)
	}
	defer unix.Close(lockfd) // releases the flock
	if err := updateEntry(dirfd, dev.ID, entryData(prio, dev.Devnode), add); err != nil {
		return fmt.Errorf("update stack directory %s: %w", dir, err)
	}
	devnode, err := n.prioritized(log, dir, dev, prio, add)
	if err != nil {
		return fmt.Errorf("find device node of the highest priority for %s: %w", link, err)
	}
	if devnode != "" {
		return n.nodeSymlink(log, devnode, link)
	}
	log.Debug("no reference left, removing", "link", link)
	if err := n.removeLink(link); err != nil {
		log.Debug("failed to remove link, ignoring", "link", link, "err", err)
	}
	return nil
}

// entryData is the target of a stack entry: "<prio>:<devnode>".
func entryData(prio int, devnode string) string {
	return strconv.Itoa(prio) + ":" + devnode
}

// openStack is stack_directory_open: the stack directory, created 0755
// with its parents, opened as a directory without following a symlink.
func openStack(root, dir string) (int, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return -1, err
	}
	if err := unix.Mkdir(dir, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
		return -1, fmt.Errorf("mkdir %s: %w", dir, err)
	}
	fd, err := unix.Open(dir, unix.O_CLOEXEC|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_RDONLY, 0)
	if err != nil {
		return -1, fmt.Errorf("open %s: %w", dir, err)
	}
	return fd, nil
}

// lockStack is stack_directory_lock: an exclusive flock on the stack
// directory's .lock, created 0600. udevd blocks in flock; lockStack polls
// with LOCK_NB, pausing 50µs growing to 1ms, so that ctx can end the wait. flock
// locks belong to the open file, so goroutines of one process exclude each
// other just as processes do.
func lockStack(ctx context.Context, dirfd int) (int, error) {
	fd, err := unix.Openat(dirfd, ".lock", unix.O_CLOEXEC|unix.O_NOFOLLOW|unix.O_RDONLY|unix.O_CREAT, 0o600)
	if err != nil {
		return -1, fmt.Errorf("open .lock: %w", err)
	}
	pause := 50 * time.Microsecond
	for {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return fd, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			unix.Close(fd)
			return -1, fmt.Errorf("flock: %w", err)
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			unix.Close(fd)
			return -1, ctx.Err()
		case <-t.C:
		}
		pause = min(2*pause, time.Millisecond)
	}
}

// updateEntry is stack_directory_update: on add the entry named id is made
// a symlink to data unless it already is one; otherwise it is removed.
func updateEntry(dirfd int, id, data string, add bool) error {
	if !add {
		if err := unix.Unlinkat(dirfd, id, 0); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("unlink %s: %w", id, err)
		}
		return nil
	}
	if old, err := readlinkat(dirfd, id); err == nil && old == data {
		return nil
	}
	_ = unix.Unlinkat(dirfd, id, 0) // absent is fine; a failure shows in symlinkat
	if err := unix.Symlinkat(data, dirfd, id); err != nil {
		return fmt.Errorf("symlink %s: %w", id, err)
	}
	return nil
}

// readlinkat reads a symlink relative to a directory fd.
func readlinkat(dirfd int, name string) (string, error) {
	buf := make([]byte, unix.PathMax)
	k, err := unix.Readlinkat(dirfd, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:k]), nil
}

// prioritized is stack_directory_find_prioritized_devnode: the node of
// the claimant of the highest priority, "" when there is none. On add the
// device itself is the first candidate, so it wins a tie; every other
// entry must have a strictly higher priority to win. On remove the device
// is left out and the first readable entry is the first candidate; udevd
// takes entries in readdir order, which differs between kernels, and
// prioritized in name order, so that a tie on remove always goes to the
// same claimant.
func (n *Nodes) prioritized(log *slog.Logger, dir string, dev Device, prio int, add bool) (string, error) {
	best, bestPrio := "", 0
	if add {
		best, bestPrio = dev.Devnode, prio
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || name == dev.ID {
			continue
		}
		if e.Type()&os.ModeSymlink == 0 {
			log.Debug("stack entry is not a symlink, ignoring", "entry", filepath.Join(dir, name))
			continue
		}
		devnode, p, err := n.readEntry(filepath.Join(dir, name))
		if err != nil {
			log.Debug("failed to read stack entry, ignoring", "entry", filepath.Join(dir, name), "err", err)
			continue
		}
		if best == "" || p > bestPrio {
			best, bestPrio = devnode, p
		}
	}
	return best, nil
}

// readEntry is stack_directory_read_one for a symlink entry: the devnode
// and priority of "<prio>:<devnode>", refused when the node does not
// exist, so that a link is not pointed at a node already gone (its
// remove event will drop the entry).
func (n *Nodes) readEntry(path string) (string, int, error) {
	data, err := os.Readlink(path)
	if err != nil {
		return "", 0, err
	}
	prio, devnode, ok := strings.Cut(data, ":")
	if !ok || prio == "" {
		return "", 0, fmt.Errorf("%q: %w", data, unix.EINVAL)
	}
	host, err := n.host(devnode)
	if err != nil {
		return "", 0, err
	}
	if err := unix.Access(host, unix.F_OK); err != nil {
		return "", 0, fmt.Errorf("%s: %w", devnode, err)
	}
	p, err := strconv.ParseInt(prio, 10, 32)
	if err != nil {
		return "", 0, err
	}
	return devnode, int(p), nil
}

// nodeSymlink is node_symlink: link, below Dev, made an atomically
// replaced symlink to devnode, relative as udevd makes it
// ("../../sda" for /dev/disk/by-id/x), with its parents created 0755.
// An inode at link that is not a symlink is left alone (ErrConflict).
func (n *Nodes) nodeSymlink(log *slog.Logger, devnode, link string) error {
	host, err := n.host(link)
	if err != nil {
		return err
	}
	target, err := relTarget(link, devnode)
	if err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Lstat(host, &st); err == nil && st.Mode&unix.S_IFMT != unix.S_IFLNK {
		return fmt.Errorf("%w: %s is not a symlink, symlink to %s not created", ErrConflict, link, devnode)
	} else if err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("lstat %s: %w", link, err)
	}
	// The parent may vanish between MkdirAll and the symlink when the
	// event of another link in it removes it as empty (each link has its
	// own lock); udevd then fails the link, nodeSymlink tries again.
	for try := 0; ; try++ {
		if err := os.MkdirAll(filepath.Dir(host), 0o755); err != nil {
			return fmt.Errorf("create parent directory of %s: %w", link, err)
		}
		err := symlinkAtomic(target, host)
		if errors.Is(err, unix.ENOENT) && try < 3 {
			continue
		}
		if err != nil {
			return fmt.Errorf("symlink %s to %s: %w", link, devnode, err)
		}
		log.Debug("created symlink", "link", link, "target", target)
		return nil
	}
}

// relTarget is path_make_relative_parent: devnode relative to the
// directory holding link, both in their /dev form.
func relTarget(link, devnode string) (string, error) {
	l, err := devRel(link)
	if err != nil {
		return "", err
	}
	d, err := devRel(devnode)
	if err != nil {
		return "", err
	}
	return filepath.Rel(filepath.Dir("/dev/"+l), "/dev/"+d)
}

// symlinkAtomic is symlinkat_atomic_full: a symlink made under the
// temporary name tempfn_random gives (".#<name><16 hex digits>" beside
// it) and renamed over path, so that readers always find the old or the
// new link, never none.
func symlinkAtomic(target, path string) error {
	tmp := filepath.Join(filepath.Dir(path), fmt.Sprintf(".#%s%016x", filepath.Base(path), rand.Uint64()))
	if err := unix.Symlink(target, tmp); err != nil {
		return err
	}
	if err := unix.Rename(tmp, path); err != nil {
		_ = unix.Unlink(tmp)
		return err
	}
	return nil
}

// removeLink removes a link that no device claims any more and then
// every parent directory below Dev it leaves empty, as udevd's
// rmdir_parents(slink, "/dev") does. Unlike udevd, which unlinks whatever
// is there, it removes only a symlink: an inode it refused to replace is
// not its to remove.
func (n *Nodes) removeLink(link string) error {
	host, err := n.host(link)
	if err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Lstat(host, &st); err == nil && st.Mode&unix.S_IFMT != unix.S_IFLNK {
		err = fmt.Errorf("%w: %s is not a symlink, not removed", ErrConflict, link)
		n.rmdirParents(host)
		return err
	}
	if err := unix.Unlink(host); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unlink %s: %w", link, err)
	}
	n.rmdirParents(host)
	return nil
}

// rmdirParents removes the parents of path up to, not including, Dev,
// stopping at the first that is not empty.
func (n *Nodes) rmdirParents(path string) {
	for dir := filepath.Dir(path); strings.HasPrefix(dir, n.dev+"/"); dir = filepath.Dir(dir) {
		if err := unix.Rmdir(dir); err != nil && !errors.Is(err, unix.ENOENT) {
			return
		}
	}
}

// unlink removes a "/dev/..." path below Dev; a missing one is fine.
func (n *Nodes) unlink(p string) error {
	host, err := n.host(p)
	if err != nil {
		return err
	}
	if err := unix.Unlink(host); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unlink %s: %w", p, err)
	}
	return nil
}

// linkDiskseq is link_update_diskseq. A block device's link
// /dev/disk/by-diskseq/<digits> (with "-part<sysnum>" for a partition)
// names one disk sequence number, which the kernel never reuses, so only
// one device can ever own it: udevd points it directly at the device's
// node when it names the device's DISKSEQ and removes it on remove, with
// no stack directory. done says the link is handled; a link of another
// shape goes through the stack directory as any other.
func (n *Nodes) linkDiskseq(log *slog.Logger, dev Device, link string, add bool) (done bool, err error) {
	rel, err := devRel(link)
	if !dev.Block || err != nil {
		return false, nil // an invalid link fails in stackDir
	}
	seq, ok := strings.CutPrefix(rel, "disk/by-diskseq/")
	if !ok {
		return false, nil
	}
	if dev.Partition {
		if dev.Sysnum == "" {
			log.Debug("no sysnum, but by-diskseq symlink is requested, using the stack directory", "link", link)
			return false, nil
		}
		if seq, ok = strings.CutSuffix(seq, "-part"+dev.Sysnum); !ok {
			log.Debug("unexpected by-diskseq symlink is requested, proceeding anyway", "link", link)
			return false, nil
		}
	}
	if strings.Trim(seq, "0123456789") != "" {
		log.Debug("unexpected by-diskseq symlink is requested, proceeding anyway", "link", link)
		return false, nil
	}
	if !add {
		// On remove the disk sequence number cannot be checked.
		return true, n.removeLink(link)
	}
	if dev.DiskSeq == "" || seq != dev.DiskSeq {
		log.Debug("by-diskseq symlink does not name DISKSEQ, proceeding anyway", "link", link, "DISKSEQ", dev.DiskSeq)
		return false, nil
	}
	return true, n.nodeSymlink(log, dev.Devnode, link)
}
