#!/bin/bash
# dracut module for gudevd: the initrd loads modules through gudevd while
# systemd-udevd keeps rules, nodes and the database, as on the root system.
#
# With dracut's systemd module the initrd runs gudevd.service itself (the
# root system's unit, enabled in the initrd), and a drop-in for
# initrd-udevadm-cleanup-db.service stops it before switch-root the way
# systemd 252 stops systemd-udevd there: Conflicts= plus After=. Without
# systemd, a pre-udev hook starts the daemon before udevd and a cleanup hook
# stops it before switch_root, as the initramfs-tools scripts do.

# called by dracut
check() {
    # Include the module wherever gudevd is installed.
    require_binaries /usr/sbin/gudevd || return 1
    return 0
}

# called by dracut
depends() {
    # udev-rules brings udevd and the rules directory our override joins.
    echo udev-rules
    return 0
}

# called by dracut
install() {
    inst_binary /usr/sbin/gudevd
    # The override of 80-drivers.rules: /etc/udev/rules.d hides the packaged
    # /lib/udev/rules.d file that dracut's udev modules install.
    if [[ -e $dracutsysrootdir$udevrulesconfdir/80-drivers.rules ]]; then
        inst_simple "$udevrulesconfdir/80-drivers.rules"
    else
        dwarn "gudevd: $udevrulesconfdir/80-drivers.rules is missing; udevd in the initrd loads modules with kmod"
    fi

    if dracut_module_included "systemd"; then
        inst_simple "$systemdsystemunitdir/gudevd.service"
        inst_multiple -o "$systemdsystemunitdir/modprobe@.service.d/gudevd.conf"
        inst_simple "$moddir/initrd-udevadm-cleanup-db.conf" \
            "$systemdsystemunitdir/initrd-udevadm-cleanup-db.service.d/gudevd.conf"
        $SYSTEMCTL -q --root "$initdir" enable gudevd.service
    else
        inst_hook pre-udev 00 "$moddir/gudevd-start.sh"
        inst_hook cleanup 00 "$moddir/gudevd-stop.sh"
    fi
}
