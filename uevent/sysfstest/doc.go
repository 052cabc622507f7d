// Package sysfstest loads a captured sysfs tree, a tar archive of a real
// guest's /sys (`qemu-harness capture -only sysfs`), as an fs.FS with its
// symlinks, for the tests of code that reads sysfs: the builtins, the rules
// engine's attribute matches, the coldplug walk.
//
// It must not import modalias, modload, workers, rules or cmd.
package sysfstest
