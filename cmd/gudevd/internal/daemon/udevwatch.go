package daemon

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gudevd/gudevd/cmd/gudevd/internal/rulehost"
)

// watcher is udevd's OPTIONS+="watch" (udev-watch.c): the node of a device
// whose rules asked for it is watched with inotify for IN_CLOSE_WRITE, and
// a close after writing makes a "change" event for it, so that what a tool
// wrote (mkfs, fdisk, wipefs) reaches the rules: blkid probes again and the
// /dev/disk/by-uuid links follow. Debian's 60-block.rules watches every
// disk. An event ends its device's watch while it runs and the rules
// decide again at its end.
type watcher struct {
	f     *os.File // the inotify fd, non-blocking on Go's poller
	fd    int      // the same fd for inotify_add_watch: f.Fd() would make f blocking
	dev   string   // the directory that stands for /dev
	sysfs string   // the sysfs mount, where "change" is written

	wg sync.WaitGroup // runWatcher

	mu     sync.Mutex
	byWD   map[int32]watched
	byPath map[string]int32 // devpath -> wd
}

// watched is what a watch descriptor stands for.
type watched struct {
	devpath string // "/devices/.../block/sda"
	devnode string // "/dev/sda"
	disk    bool   // DEVTYPE=disk: its partitions change with it
}

func newWatcher(dev, sysfs string) (*watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, os.NewSyscallError("inotify_init1", err)
	}
	return &watcher{f: os.NewFile(uintptr(fd), "inotify"), fd: fd, dev: dev, sysfs: sysfs,
		byWD: map[int32]watched{}, byPath: map[string]int32{}}, nil
}

// nodePath maps "/dev/sda" below the directory standing for /dev.
func (w *watcher) nodePath(devnode string) string {
	return filepath.Join(w.dev, strings.TrimPrefix(devnode, "/dev"))
}

// begin watches a device's node (udev_watch_begin).
func (w *watcher) begin(x watched) error {
	wd, err := unix.InotifyAddWatch(w.fd, w.nodePath(x.devnode), unix.IN_CLOSE_WRITE)
	if err != nil {
		return os.NewSyscallError("inotify_add_watch "+x.devnode, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.byWD[int32(wd)] = x
	w.byPath[x.devpath] = int32(wd)
	return nil
}

// end stops watching a device (udev_watch_end); one not watched is fine.
func (w *watcher) end(devpath string) {
	w.mu.Lock()
	wd, ok := w.byPath[devpath]
	if ok {
		delete(w.byPath, devpath)
		delete(w.byWD, wd)
	}
	w.mu.Unlock()
	if ok {
		unix.InotifyRmWatch(w.fd, uint32(wd))
	}
}

// startWatcher opens the inotify fd of OPTIONS+="watch" and reads it in a
// goroutine of its own; stopWatcher, called once no event runs (an event
// adds watches on the fd), closes the fd and waits for it.
func (d *Daemon) startWatcher(ctx context.Context) error {
	if d.udev.cfg.Dev == "" {
		return nil
	}
	w, err := newWatcher(d.udev.cfg.Dev, d.cfg.Sysfs)
	if err != nil {
		return err
	}
	d.udev.watch = w
	w.wg.Go(func() { d.runWatcher(ctx, w) })
	return nil
}

// stopWatcher closes the inotify fd, which ends runWatcher's read, and
// waits for it.
func (d *Daemon) stopWatcher() {
	if d.udev != nil && d.udev.watch != nil {
		d.udev.watch.f.Close()
		d.udev.watch.wg.Wait()
	}
}

// runWatcher reads inotify events until ctx ends (Close unblocks the read) and
// makes the change events; errors are logged by onErr.
func (d *Daemon) runWatcher(ctx context.Context, w *watcher) {
	buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
	for ctx.Err() == nil {
		n, err := w.f.Read(buf)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, fs.ErrClosed) {
				d.log.Warn("read inotify", "err", err)
			}
			return
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			off += unix.SizeofInotifyEvent + int(ev.Len)
			if ev.Mask&unix.IN_CLOSE_WRITE == 0 {
				continue
			}
			w.mu.Lock()
			x, ok := w.byWD[ev.Wd]
			w.mu.Unlock()
			if ok {
				d.synthesizeChange(x)
			}
		}
	}
}

// synthesizeChange is udevd's synthesize_change: a partition or a
// device-mapper disk gets a "change"; a whole disk has its partition
// table read again (BLKRRPART), and when that worked and it has
// partitions the kernel's own events say the rest; otherwise the disk and
// each partition get a "change".
func (d *Daemon) synthesizeChange(x watched) {
	w := d.udev.watch
	if !x.disk || strings.HasPrefix(path.Base(x.devpath), "dm-") {
		d.writeChange(x.devpath)
		return
	}
	reread := rereadPartitions(w.nodePath(x.devnode)) == nil
	parts := partitions(w.sysfs, x.devpath)
	if reread && len(parts) > 0 {
		return
	}
	d.writeChange(x.devpath)
	for _, p := range parts {
		d.writeChange(p)
	}
}

func (d *Daemon) writeChange(devpath string) {
	p := filepath.Join(d.udev.watch.sysfs, devpath, "uevent")
	if err := rulehost.WriteExisting(p, "change"); err != nil {
		d.log.Debug("synthesize change", "devpath", devpath, "err", err)
	}
}

// rereadPartitions is blockdev_reread_partition_table: BLKRRPART on the
// node, which fails (EBUSY) while a partition is in use.
func rereadPartitions(node string) error {
	fd, err := unix.Open(node, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	const blkrrpart = 0x125f // _IO(0x12, 95)
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), blkrrpart, 0)
	if e != 0 {
		return e
	}
	return nil
}

// partitions lists the devpaths of a disk's partitions: its sysfs
// subdirectories with a "partition" file.
func partitions(sysfs, devpath string) []string {
	ents, err := os.ReadDir(filepath.Join(sysfs, devpath))
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if _, err := os.Stat(filepath.Join(sysfs, devpath, e.Name(), "partition")); err == nil {
			out = append(out, path.Join(devpath, e.Name()))
		}
	}
	return out
}
