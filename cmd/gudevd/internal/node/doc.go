// Package node is what systemd-udevd 252 does to /dev after the rules of
// one event (udev-node.c, and update_devnode of udev-event.c): the owner,
// group and mode of the device node, the /dev/char/M:m and /dev/block/M:m
// links, and the SYMLINK links, each claimed by any number of devices
// through a stack directory below /run/udev/links and pointed at the
// claimant of the highest priority.
//
// It owns the layout of /run/udev/links (one directory per link, named by
// the link's path below /dev with '/' escaped as \x2f, holding a .lock and
// one symlink per claiming device named by its device id and pointing at
// "<prio>:<devnode>") and the flock protocol on that .lock, which it shares
// with udevd and udevadm so that any udev-compatible tool sees the same
// state. It knows paths, numbers and device ids, not uevents or rules.
//
// It must not import modalias, modload, rules, uevent, workers or
// cmd/gudevd/internal/daemon.
package node
