#!/bin/sh
# dracut pre-udev hook (without systemd): start gudevd before udevd, so every
# uevent and module request reaches one daemon. Sourced by /init: no exit.
# --coldplug=scan loads what the devices present need without writing uevent
# files; --kernel-modprobe routes the kernel's request_module() through it.

if [ -x /usr/sbin/gudevd ]; then
    /usr/sbin/gudevd daemon --coldplug=scan --kernel-modprobe </dev/null >>/run/initramfs/gudevd.log 2>&1 &
    echo $! >/run/initramfs/gudevd.pid
    # gudevd settle retries until the control socket answers; bounded, so
    # a daemon that died costs at most a minute and udevd loads without it.
    _gudevd_tries=0
    until /usr/sbin/gudevd settle --timeout 2s >>/run/initramfs/gudevd.log 2>&1; do
        _gudevd_tries=$((_gudevd_tries + 1))
        if ! kill -0 "$(cat /run/initramfs/gudevd.pid)" 2>/dev/null || [ "$_gudevd_tries" -ge 30 ]; then
            warn "gudevd did not start or settle (see /run/initramfs/gudevd.log)"
            break
        fi
    done
    unset _gudevd_tries
fi
