// Package dist holds the tests of what `make install` ships for running
// gudevd next to systemd-udevd: the systemd unit and modprobe@.service's
// drop-in (dist/systemd), the initramfs-tools hook and boot scripts
// (dist/initramfs-tools), the dracut module (dist/dracut/90gudevd) and the
// override of 80-drivers.rules (rules/udev). It has no code of its own: the
// shipped files are text, and its tests install them into a temporary
// DESTDIR, parse them, run Debian's own hook-functions and dracut against
// them, and never run the daemon or load a module on the host.
//
// It must not import cmd, internal, modalias, modload, rules, test, uevent or
// workers: it tests the files as an administrator gets them, through make.
package dist
