package builtin

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// Errors of the uaccess builtin, for errors.Is.
var (
	// ErrSeatName: ID_SEAT is not a valid file name (sd-login's EINVAL).
	ErrSeatName = errors.New("invalid seat name")
	// ErrActiveUID: the seat's ACTIVE_UID is not a number (parse_uid's
	// EINVAL or ERANGE).
	ErrActiveUID = errors.New("invalid ACTIVE_UID")
)

// UaccessACL is what the uaccess builtin has the caller do to the access
// ACL of a device node, as udevd's devnode_acl does it: drop every
// ACL_USER entry of the node, and, with Grant, add one for UID with read
// and write (an existing entry for UID is kept and given rw), then
// recompute the mask; the ACL is written only when that changed it. When
// applying a grant fails, udevd applies the same without Grant (better
// reset than stale) and the builtin fails; a failure for a missing node
// (ENOENT) udevd only logs at debug level.
type UaccessACL struct {
	Node  string
	Grant bool
	UID   uint32
}

// Uaccess is udevd 252's uaccess builtin (the TAG "uaccess" of
// 73-seat-late.rules): the node of the device becomes readable and
// writable for the user of the active session of its seat, ID_SEAT or
// "seat0". run is /run: logind keeps each seat's state in
// systemd/seats/SEAT, whose ACTIVE_UID is that user. With no
// systemd/seats directory logind is not running and nothing is done (nil,
// nil). A seat without a state file or an active user, or with an
// impossible uid (4294967295, 65535), has the node's user entries reset.
// Errors come with the reset udevd still applies, except a missing
// DEVNAME, which has no node to reset.
func Uaccess(ctx context.Context, dev *Device, run fs.FS) (*UaccessACL, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("uaccess: %w", err)
	}
	if _, err := fs.Stat(run, "systemd/seats"); err != nil {
		return nil, nil
	}
	node, err := devnode(dev)
	if err != nil {
		return nil, fmt.Errorf("uaccess: %w", err)
	}
	seat := dev.Props["ID_SEAT"]
	if seat == "" {
		seat = "seat0"
	}
	reset := &UaccessACL{Node: node}
	uid, ok, err := seatActiveUID(run, seat)
	switch {
	case err != nil:
		return reset, fmt.Errorf("uaccess: active user of seat %s: %w", seat, err)
	case !ok:
		return reset, nil
	}
	return &UaccessACL{Node: node, Grant: uid > 0, UID: uid}, nil
}

// seatActiveUID is sd_seat_get_active's uid: false without a state file
// (ENXIO), without ACTIVE_UID (ENODATA) or with an invalid uid (ENXIO),
// all of which udevd takes for no active session.
func seatActiveUID(run fs.FS, seat string) (uint32, bool, error) {
	if seat == "." || seat == ".." || strings.Contains(seat, "/") || len(seat) > 255 {
		return 0, false, fmt.Errorf("%w: %q", ErrSeatName, seat)
	}
	b, err := fs.ReadFile(run, "systemd/seats/"+seat)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	v, ok := envFileValue(b, "ACTIVE_UID")
	if !ok {
		return 0, false, nil
	}
	return parseUID(v)
}

// parseUID is systemd's parse_uid: decimal digits only, no sign, leading
// zero or whitespace; (uid_t)-1 and the 16-bit 65535 are no users.
func parseUID(s string) (uint32, bool, error) {
	if s == "" || s[0] < '0' || s[0] > '9' || len(s) > 1 && s[0] == '0' {
		return 0, false, fmt.Errorf("%w: %q", ErrActiveUID, s)
	}
	u, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, false, fmt.Errorf("%w: %q: %w", ErrActiveUID, s, err)
	}
	if u == 1<<32-1 || u == 0xffff {
		return 0, false, nil
	}
	return uint32(u), true, nil
}

// envFileValue reads key from a file in the environment-file format
// logind writes (parse_env_file's common case): KEY=VALUE lines, '#' and
// ';' comments, whitespace around key and value dropped, a value in
// single or double quotes taken inside them. The last assignment wins.
func envFileValue(b []byte, key string) (string, bool) {
	var val string
	found := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimLeft(sc.Text(), " \t\n\r")
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.TrimRight(k, " \t\n\r") != key {
			continue
		}
		v = strings.Trim(v, " \t\n\r")
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		val, found = v, true
	}
	return val, found
}
