#!/bin/sh
# dracut cleanup hook (without systemd): stop gudevd before switch_root, as
# udevd is stopped: running loads finish, queued ones are left to the root
# system's gudevd, whose scan at start finds them.
# `gudevd control --exit` answers once the running loads have ended, the
# workers have stopped and /proc/sys/kernel/modprobe holds its old value
# again, so the root system's daemon never saves gudevd's own link as the
# value to restore. Sourced by /init: no exit.

if [ -x /usr/sbin/gudevd ] && [ -f /run/initramfs/gudevd.pid ]; then
    /usr/sbin/gudevd control --exit >>/run/initramfs/gudevd.log 2>&1 || warn "gudevd did not exit"
    rm -f /run/initramfs/gudevd.pid
fi
