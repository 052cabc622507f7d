// Package rulehost is the rules engine's view of the running system: a
// rules.Host whose devices come from sysfs (an fs.FS rooted at /sys) and
// udevd's database (/run/udev/data), whose files, sysctls, kernel command
// line, users and groups come from an fs.FS rooted at /, whose programs run
// in a programs.Runner's worker pool and whose builtins run through
// builtin.Env; it reads udevd 252's database entries through uevent/devdb.
// It also owns the CONST{arch} and CONST{virt} answers. It has no effects
// of its own: it reads, and runs what the rules ask to be run.
//
// It must not import modalias, modload, cmd/gudevd/internal/daemon or cmd/gudevd/internal/modules.
package rulehost
