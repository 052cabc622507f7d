package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"golang.org/x/sys/unix"
)

// Perms are the owner, group and mode of a device node after the rules
// (OWNER, GROUP, MODE), each with whether it is set. udevd's
// update_devnode fills the ones the rules left unset from the kernel's
// DEVUID, DEVGID and DEVMODE (WithDefaults, KernelPerms); what is still
// unset is left as the node has it, except that a group above 0 without a
// mode "upgrades" the mode to 0660. There is no 0600 default in udevd 252.
//
// udevd applies them on every event but remove, not only on add, and
// only when they differ from the node's; SECLABEL labels only on add.
type Perms struct {
	UID, GID, Mode          uint32
	UIDSet, GIDSet, ModeSet bool
	// Seclabels are SECLABEL{module}="label" as "module=label". gudevd
	// applies no SELinux or SMACK labels: they are logged at debug level
	// and ignored. udevd applies them only on add, so a caller following
	// udevd passes them only then.
	Seclabels []string
}

// WithDefaults returns p with each of owner, group and mode that p leaves
// unset taken from def, as update_devnode fills the rules' gaps with the
// kernel's values.
func (p Perms) WithDefaults(def Perms) Perms {
	if !p.UIDSet {
		p.UID, p.UIDSet = def.UID, def.UIDSet
	}
	if !p.GIDSet {
		p.GID, p.GIDSet = def.GID, def.GIDSet
	}
	if !p.ModeSet {
		p.Mode, p.ModeSet = def.Mode, def.ModeSet
	}
	return p
}

// KernelPerms parses the kernel's DEVMODE, DEVUID and DEVGID uevent
// properties; an empty string is an absent property. DEVMODE is parsed as
// sd-device's safe_atou does, C's strtoul with base 0: the kernel's "0660"
// is octal, "0x1b0" hexadecimal; above 07777 is refused. DEVUID and DEVGID
// are decimal, and (uid_t)-1 and 65535 are refused as parse_uid does.
func KernelPerms(devmode, devuid, devgid string) (Perms, error) {
	var p Perms
	var err error
	if devmode != "" {
		if p.Mode, err = parseNum(devmode, 0, 07777); err != nil {
			return Perms{}, fmt.Errorf("DEVMODE: %w", err)
		}
		p.ModeSet = true
	}
	if devuid != "" {
		if p.UID, err = parseID(devuid); err != nil {
			return Perms{}, fmt.Errorf("DEVUID: %w", err)
		}
		p.UIDSet = true
	}
	if devgid != "" {
		if p.GID, err = parseID(devgid); err != nil {
			return Perms{}, fmt.Errorf("DEVGID: %w", err)
		}
		p.GIDSet = true
	}
	return p, nil
}

// parseNum parses an unsigned number in base (0: C's prefixes) up to max.
func parseNum(s string, base int, max uint64) (uint32, error) {
	v, err := strconv.ParseUint(s, base, 32)
	if err != nil {
		return 0, err
	}
	if v > max {
		return 0, fmt.Errorf("%q: %w", s, strconv.ErrRange)
	}
	return uint32(v), nil
}

// parseID parses a uid or gid, refusing the two values that mean "none".
func parseID(s string) (uint32, error) {
	v, err := parseNum(s, 10, 1<<32-2)
	if err == nil && v == 65535 {
		err = fmt.Errorf("%q: %w", s, strconv.ErrRange)
	}
	return v, err
}

// applyPerms is udev_node_apply_permissions: it opens the node with
// O_PATH (opening a device for real can have effects, and O_PATH needs no
// access to it) and applies perms only when the node is this device's: a
// character or block device, as the subsystem says, of the device's
// number. A node missing or not the device's is a race udevd accepts (the
// device went away or another took its name; a remove event follows), so
// it is skipped and counted, not an error.
func (n *Nodes) applyPerms(ctx context.Context, log *slog.Logger, dev Device, perms Perms) error {
	path, err := n.host(dev.Devnode)
	if err != nil {
		return err
	}
	fd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return n.openFailed(log, fmt.Errorf("open %s: %w", dev.Devnode, err))
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("stat %s: %w", dev.Devnode, err)
	}
	if err := checkNode(dev, &st); err != nil {
		return n.openFailed(log, err)
	}
	n.setPerms(ctx, log, fd, &st, perms)
	// udevd always touches the node it reuses, so that a media change
	// shows in its timestamps.
	now := []unix.Timespec{{Nsec: unix.UTIME_NOW}, {Nsec: unix.UTIME_NOW}}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, procFD(fd), now, 0); err != nil {
		log.Debug("failed to adjust timestamp of node", "err", err)
	}
	return nil
}

// openFailed skips the node when the error is one of
// ERRNO_IS_DEVICE_ABSENT (ENOENT, ENXIO, ENODEV), as udevd does, and
// returns any other.
func (n *Nodes) openFailed(log *slog.Logger, err error) error {
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENXIO) || errors.Is(err, unix.ENODEV) {
		n.stats.permsSkipped.Add(1)
		log.Debug("device node is missing, skipping handling", "err", err)
		return nil
	}
	return err
}

// checkNode is sd_device_open's check that the opened inode is the
// device's: of its number, and a block device exactly when the subsystem
// is block. It fails with ENXIO, as sd_device_open does.
func checkNode(dev Device, st *unix.Stat_t) error {
	want := uint32(unix.S_IFCHR)
	if dev.Block {
		want = unix.S_IFBLK
	}
	if st.Rdev != unix.Mkdev(dev.Major, dev.Minor) || st.Mode&unix.S_IFMT != want {
		return fmt.Errorf("%s is not device %d:%d (mode %#o, rdev %d:%d): %w", dev.Devnode, dev.Major, dev.Minor,
			st.Mode&unix.S_IFMT, unix.Major(st.Rdev), unix.Minor(st.Rdev), unix.ENXIO)
	}
	return nil
}

// setPerms is udev_node_apply_permissions_impl's decision: change the
// node only when a set owner, group or mode differs from it, the mode
// compared by its 0777 bits as udevd does. Failures are logged, not
// returned: udevd goes on with the links.
func (n *Nodes) setPerms(ctx context.Context, log *slog.Logger, fd int, st *unix.Stat_t, p Perms) {
	if !p.ModeSet && p.GIDSet && p.GID > 0 {
		p.Mode, p.ModeSet = 0660, true
	}
	for _, l := range p.Seclabels {
		log.Debug("SECLABEL: gudevd applies no security labels, ignoring", "seclabel", l)
	}
	applyMode := p.ModeSet && st.Mode&0777 != p.Mode&0777
	applyUID := p.UIDSet && st.Uid != p.UID
	applyGID := p.GIDSet && st.Gid != p.GID
	if !applyMode && !applyUID && !applyGID {
		return
	}
	log.Debug("setting permissions", "uid", pick(p.UIDSet, p.UID, st.Uid), "gid", pick(p.GIDSet, p.GID, st.Gid),
		"mode", fmt.Sprintf("%#o", pick(p.ModeSet, p.Mode, st.Mode)&0777))
	if err := fchmodAndChown(fd, st, p); err != nil {
		level := slog.LevelError
		if errors.Is(err, unix.ENOENT) {
			level = slog.LevelDebug
		}
		log.Log(ctx, level, "failed to set owner/mode of node", "err", err)
		return
	}
	n.stats.permsChanged.Add(1)
}

// pick is v when set, else def.
func pick(set bool, v, def uint32) uint32 {
	if set {
		return v
	}
	return def
}

// fchmodAndChown is systemd's fchmod_and_chown for an O_PATH fd: chown
// only when a set owner or group differs, and chmod afterwards whenever
// it chowns, since chown drops the setuid and setgid bits. Before a chown
// the mode is first narrowed to the bits both old and new modes grant, so
// that at no time the node is more open than under either ownership.
func fchmodAndChown(fd int, st *unix.Stat_t, p Perms) error {
	uid, gid := -1, -1
	if p.UIDSet && st.Uid != p.UID {
		uid = int(p.UID)
	}
	if p.GIDSet && st.Gid != p.GID {
		gid = int(p.GID)
	}
	doChown := uid != -1 || gid != -1
	mode := st.Mode & 07777
	if p.ModeSet {
		mode = p.Mode & 07777
	}
	doChmod := mode != st.Mode&07777 || doChown
	if doChown && doChmod {
		if minimal := st.Mode & mode & 07777; minimal != st.Mode&07777 {
			if err := unix.Chmod(procFD(fd), minimal); err != nil {
				return fmt.Errorf("chmod: %w", err)
			}
		}
	}
	if doChown {
		if err := unix.Fchownat(fd, "", uid, gid, unix.AT_EMPTY_PATH); err != nil {
			return fmt.Errorf("chown: %w", err)
		}
	}
	if doChmod {
		if err := unix.Chmod(procFD(fd), mode); err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
	}
	return nil
}

// procFD names an O_PATH fd's inode for the calls that take no O_PATH fd
// (chmod, utimensat), as systemd's fchmod_opath and futimens_opath do.
func procFD(fd int) string {
	return "/proc/self/fd/" + strconv.Itoa(fd)
}
