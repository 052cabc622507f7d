#!/bin/sh
# dracut cleanup hook (without systemd): stop gudevd before switch_root.
# `gudevd control --exit` answers once the running loads end and the workers
# stop; the daemon then restores /proc/sys/kernel/modprobe, which is waited
# for (at most 5 s) so the root system's daemon never saves gudevd's own
# link as the value to restore. Sourced by /init: no exit.

if [ -x /usr/sbin/gudevd ] && [ -f /run/initramfs/gudevd.pid ]; then
    /usr/sbin/gudevd settle --timeout 60s >>/run/initramfs/gudevd.log 2>&1 || warn "gudevd did not settle"
    /usr/sbin/gudevd control --exit >>/run/initramfs/gudevd.log 2>&1 || warn "gudevd did not exit"
    _gudevd_tries=0
    while [ "$(cat /proc/sys/kernel/modprobe 2>/dev/null)" = /run/gudevd/modprobe ] && [ "$_gudevd_tries" -lt 50 ]; do
        sleep 0.1
        _gudevd_tries=$((_gudevd_tries + 1))
    done
    unset _gudevd_tries
    rm -f /run/initramfs/gudevd.pid
fi
