#!/bin/sh
# dracut pre-udev hook (without systemd): start gudevd before udevd, so every
# uevent and module request reaches one daemon. Sourced by /init: no exit.
# --coldplug=scan loads what the devices present need without writing uevent
# files; --kernel-modprobe routes the kernel's request_module() through it.

if [ -x /usr/sbin/gudevd ]; then
    /usr/sbin/gudevd daemon --coldplug=scan --kernel-modprobe </dev/null >>/run/initramfs/gudevd.log 2>&1 &
    echo $! >/run/initramfs/gudevd.pid
    # Wait until the daemon answers, not for its loads: udevd's events join
    # the loads in flight. Bounded: a daemon that cannot start costs 10 s,
    # and udevd then loads without it.
    /usr/sbin/gudevd control --ping --timeout 10s >>/run/initramfs/gudevd.log 2>&1 ||
        warn "gudevd did not answer (see /run/initramfs/gudevd.log)"
fi
