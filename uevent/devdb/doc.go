// Package devdb owns udevd 252's device database: the entries of
// /run/udev/data/<device id> (device_update_db writes them, device_read_db
// reads them, udevadm info and every sd-device client read them), the tag
// index /run/udev/tags/<tag>/<device id> (device_tag_index), and the device
// ids that name both (device_get_device_id). It is the one implementation of
// that format in the module: the rules host reads through it, udevd's
// writer and gudevd info use it.
//
// Parse and Format are pure; Store touches the file system below its Dir.
//
// It must not import rules, cmd/gudevd, modalias, modload or workers.
package devdb
