#!/bin/busybox sh
# /init of every harness guest. The host picks what it does with
# gudevd.mode= on the kernel command line; results go to the console
# between markers (the report) and to the second serial port as a
# base64 tar of /out (captured files).
/bin/busybox --install -s /bin
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mkdir -p /out /run/udev
mode=$(sed -n 's/.*gudevd\.mode=\([^ ]*\).*/\1/p' /proc/cmdline)
echo "gudevd-guest: mode=$mode cpus=$(nproc) kernel=$(uname -r)"

finish() {
	if [ -n "$(ls /out)" ]; then
		{
			echo GUDEVD-DATA-BEGIN
			tar -C /out -cf - . | base64
			echo GUDEVD-DATA-END
		} > /dev/ttyS1
	fi
	echo GUDEVD-DONE
	# The serial ports drain asynchronously; give them a moment.
	sleep 1
	poweroff -f
}

case "$mode" in
discover)
	guesttool loadall
	guesttool modaliases > /out/modaliases.txt
	;;
capture)
	mkdir -p /out/uevent
	guesttool capture -group 1 -dir /out/uevent -prefix kernel -ready /tmp/ready &
	cap=$!
	while [ ! -e /tmp/ready ]; do sleep 0.1; done
	guesttool trigger -action add
	guesttool loadall
	guesttool trigger -action change
	# Synthetic events (kernel >= 4.13): the kernel appends SYNTH_UUID and
	# SYNTH_ARG_* keys. It accepts only alphanumeric keys and values: the
	# writes with '@' and '=' in a value fail with EINVAL, kept to prove it.
	for u in /sys/class/net/lo/uevent /sys/devices/system/cpu/cpu0/uevent /sys/class/mem/null/uevent; do
		echo "add 8c5b1e64-6f1b-4c59-9d52-5d3c1d2a7e01 MAIL=root@example" > $u 2>/dev/null
		echo "add 1f0e2d3c-4b5a-4968-8776-a5b4c3d2e1f0 EQ=a=b" > $u 2>/dev/null
		echo "add" > $u 2>/dev/null
		echo "change 4a6d3e90-08f7-4a8f-b7f5-6b0c5a1b2c3d K=v" > $u 2>/dev/null
	done
	sleep 2
	kill $cap
	wait $cap
	guesttool modaliases > /out/modaliases.txt
	;;
*)
	echo "gudevd-guest: unknown mode $mode"
	;;
esac
finish
