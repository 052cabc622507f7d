// Package uevent owns the kernel's NETLINK_KOBJECT_UEVENT socket, the two
// message formats found on it (the kernel's "ACTION@DEVPATH\0KEY=VALUE\0..."
// and libudev's "libudev\0" header with magic 0xfeedcafe), the sysfs walk
// that reads every device's modalias, the coldplug trigger, and the event
// queue that orders events by SEQNUM and device ancestry.
//
// Parsing and encoding are pure. Only the socket and the sysfs writers touch
// the system, through small unexported interfaces faked in tests.
//
// It must not import modalias, modload, workers or rules: it knows devices,
// not modules.
package uevent
