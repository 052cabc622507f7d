// Package builtin holds the udev builtins the rules call with
// IMPORT{builtin} and RUN{builtin}: hwdb, path_id, usb_id, input_id,
// net_id, keyboard, blkid, btrfs, uaccess, net_setup_link and kmod, each
// computing what systemd-udevd 252's builtin of the same name computes.
// Where the builtin only reads, it is a pure function over a sysfs fs.FS
// and the device's properties; where udevd's acts (keyboard's key remaps,
// net_setup_link's rename, uaccess's ACLs, kmod's loads) it returns what
// to do and the caller does it.
//
// It must not import modalias, modload, workers or cmd.
package builtin
