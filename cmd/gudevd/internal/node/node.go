package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
)

// ErrInvalidPath means a link or device node name is not a normalized
// absolute path strictly below /dev (udevd's stack_directory_get_name
// refuses the same names with EINVAL: "..", a relative path, /dev itself,
// anything outside /dev).
var ErrInvalidPath = errors.New("not a normalized path below /dev")

// ErrConflict means a link's path holds an inode that is not a symlink:
// udevd does not replace it ("Conflicting inode ... found, symlink will
// not be created").
var ErrConflict = errors.New("conflicting inode")

// ErrInvalidDevice means a Device lacks what Update and Remove need: a
// device id usable as a file name and a device node below /dev.
var ErrInvalidDevice = errors.New("invalid device")

// Config says where Nodes works. The zero value of each field means the
// path udevd uses.
type Config struct {
	// Dev is the directory that stands for /dev: "/dev" unless tests
	// point it at a temporary directory. Device nodes and link names are
	// always given and stored as "/dev/..." and are mapped below Dev.
	Dev string
	// Links is the root of the stack directories, "/run/udev/links".
	Links string
	// Log receives udevd's debug and warning messages; nil discards them.
	Log *slog.Logger
}

// Nodes applies the effects of events to the device nodes and links below
// Dev. It is safe for concurrent use: events of different devices may run
// at once, also when they claim the same link, as udevd's workers do.
type Nodes struct {
	dev   string
	links string
	log   *slog.Logger
	stats stats
}

// stats are the counters behind Stats.
type stats struct {
	permsChanged, permsSkipped, linkFailures atomic.Uint64
}

// Stats counts what Nodes did that no error reports.
type Stats struct {
	// PermsChanged counts nodes whose owner, group or mode was changed.
	PermsChanged uint64
	// PermsSkipped counts events whose node was missing or was not the
	// device's own (another type or device number): udevd logs it at
	// debug level and goes on with the links.
	PermsSkipped uint64
	// LinkFailures counts links that could not be claimed, released or
	// pointed: udevd logs a warning and goes on with the other links.
	LinkFailures uint64
}

// New returns Nodes working below cfg.Dev and cfg.Links.
func New(cfg Config) *Nodes {
	n := &Nodes{dev: cfg.Dev, links: cfg.Links, log: cfg.Log}
	if n.dev == "" {
		n.dev = "/dev"
	}
	if n.links == "" {
		n.links = "/run/udev/links"
	}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	n.dev = strings.TrimSuffix(n.dev, "/")
	return n
}

// Stats returns the counters so far.
func (n *Nodes) Stats() Stats {
	return Stats{
		PermsChanged: n.stats.permsChanged.Load(),
		PermsSkipped: n.stats.permsSkipped.Load(),
		LinkFailures: n.stats.linkFailures.Load(),
	}
}

// Device is what Nodes needs to know of a device with a device node.
type Device struct {
	ID           string // database id: "b8:0", "c189:1"
	Devnode      string // "/dev/sda": absolute, below /dev
	Major, Minor uint32
	Block        bool // subsystem "block": /dev/block and S_IFBLK, else /dev/char and S_IFCHR

	// Partition (DEVTYPE=partition), Sysnum (the trailing number of the
	// sysname, "1" of sda1) and DiskSeq (the DISKSEQ property) matter
	// only to links below /dev/disk/by-diskseq/, which udevd points
	// directly, without a stack directory, when they name the device's
	// own disk sequence number (link_update_diskseq).
	Partition bool
	Sysnum    string
	DiskSeq   string
}

// check refuses a device whose id could not name a stack entry or whose
// node is not below /dev.
func (d Device) check() error {
	if d.ID == "" || strings.ContainsRune(d.ID, '/') || strings.HasPrefix(d.ID, ".") {
		return fmt.Errorf("%w: id %q", ErrInvalidDevice, d.ID)
	}
	if _, err := devRel(d.Devnode); err != nil {
		return fmt.Errorf("%w: devnode: %w", ErrInvalidDevice, err)
	}
	return nil
}

// Update is udev_node_update, preceded by the permissions of
// update_devnode, for any event but remove: it applies perms to the node
// (see Perms), releases every link of oldLinks (the database's DEVLINKS of
// the previous event) that links no longer holds, claims every link of
// links (DEVLINKS after the rules) with priority prio (OPTIONS
// link_priority) and points each at its claimant of the highest priority,
// then points /dev/char/M:m or /dev/block/M:m at the node.
//
// A node that is missing or is not this device's is skipped and counted
// (Stats.PermsSkipped), and a link that fails is logged and counted
// (Stats.LinkFailures), as udevd goes on in both cases. The error is
// what fails udevd's event, so that the caller keeps the old database
// entry as udevd does: an invalid device, a node that cannot be opened
// for another reason, or the /dev/char|block link failing; or ctx ending.
func (n *Nodes) Update(ctx context.Context, dev Device, perms Perms, links []string, prio int, oldLinks []string) error {
	if err := dev.check(); err != nil {
		return err
	}
	log := n.log.With("device", dev.ID, "devnode", dev.Devnode)
	if err := n.applyPerms(ctx, log, dev, perms); err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, l := range links {
		keep[cleanOrSame(l)] = true
	}
	for _, l := range oldLinks {
		if keep[cleanOrSame(l)] {
			continue
		}
		log.Debug("removing or updating old device symlink, which no longer belongs to this device", "link", l)
		if err := n.linkOne(ctx, log, dev, l, prio, false); err != nil {
			return err
		}
	}
	for _, l := range links {
		if err := n.linkOne(ctx, log, dev, l, prio, true); err != nil {
			return err
		}
	}
	if err := n.nodeSymlink(log, dev.Devnode, devnumLink(dev)); err != nil {
		return fmt.Errorf("device symlink: %w", err)
	}
	return nil
}

// Remove is udev_node_remove for a remove event: it releases every link
// of links (the database's DEVLINKS), handing each to its remaining
// claimant of the highest priority or removing it with the directories
// it leaves empty, then removes /dev/char/M:m or /dev/block/M:m. Link
// failures are logged and counted as in Update; the error is an invalid
// device, ctx ending or the /dev/char|block link not removable.
func (n *Nodes) Remove(ctx context.Context, dev Device, links []string) error {
	if err := dev.check(); err != nil {
		return err
	}
	log := n.log.With("device", dev.ID, "devnode", dev.Devnode)
	for _, l := range links {
		if err := n.linkOne(ctx, log, dev, l, 0, false); err != nil {
			return err
		}
	}
	return n.unlink(devnumLink(dev))
}

// linkOne runs one link's update, logging and counting its failure as
// udevd does ("Failed to create/update device symlink, ignoring"). Only
// the end of ctx is returned, since it stops the whole event.
func (n *Nodes) linkOne(ctx context.Context, log *slog.Logger, dev Device, link string, prio int, add bool) error {
	err := n.linkUpdate(ctx, log, dev, link, prio, add)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return err
	}
	n.stats.linkFailures.Add(1)
	log.Warn("failed to update device symlink, ignoring", "link", link, "add", add, "err", err)
	return nil
}

// devnumLink is device_path_make_major_minor: /dev/block/M:m for block
// devices, /dev/char/M:m for every other subsystem.
func devnumLink(dev Device) string {
	kind := "char"
	if dev.Block {
		kind = "block"
	}
	return fmt.Sprintf("/dev/%s/%d:%d", kind, dev.Major, dev.Minor)
}

// cleanOrSame is the link's normalized form, for comparing links as udevd
// compares paths, or the link itself when it is no valid path.
func cleanOrSame(link string) string {
	rel, err := devRel(link)
	if err != nil {
		return link
	}
	return "/dev/" + rel
}
