#!/bin/busybox sh
# /init of every harness guest. The host picks what it does with
# gudevd.mode= on the kernel command line; results go to the console
# between markers (the report) and to the second serial port as a
# base64 tar.gz of /out (captured files).
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
# gudevd.flags=A,B: extra flags for every `gudevd daemon` of the run (the
# harness's policy experiments, e.g. --load-workers=64).
gflags=$(sed -n 's/.*gudevd\.flags=\([^ ]*\).*/\1/p' /proc/cmdline | tr , ' ')
echo "gudevd-guest: mode=$mode cpus=$(nproc) kernel=$(uname -r)"

finish() {
	if [ -n "$(ls /out)" ]; then
		{
			echo GUDEVD-DATA-BEGIN
			tar -C /out -czf - . | base64
			echo GUDEVD-DATA-END
		} > /dev/ttyS1
	fi
	echo GUDEVD-DONE
	# The serial ports drain asynchronously; give them a moment.
	sleep 1
	poweroff -f
}

T=/sys/kernel/tracing

# Count every module load syscall. The syscall tracepoints give the caller
# (comm, tid, tgid), the arguments and the return value. A kprobe names the
# module: load_module looks the new module's name up with
# find_module_all(name, len, even_unformed=true) before it can reject a
# duplicate (add_unformed_module on 6.1, module_patient_check_exists on
# 6.4+), and that is the first find_module_all call inside the syscall.
# A probe that cannot be placed only costs the names.
trace_start() {
	echo 0 > $T/tracing_on
	echo $((1024 + 65536 / $(nproc))) > $T/buffer_size_kb
	echo 1 > $T/options/record-tgid
	if grep -q ' find_module_all$' /proc/kallsyms; then
		echo 'p:gudevd/modname find_module_all name=+0(%di):string unformed=%dx:u8' >> $T/kprobe_events
	else
		echo "gudevd-guest: no find_module_all in kallsyms, loads stay unnamed"
	fi
	[ -d $T/events/gudevd ] && echo 1 > $T/events/gudevd/enable
	for e in finit_module init_module; do
		echo 1 > $T/events/syscalls/sys_enter_$e/enable
		echo 1 > $T/events/syscalls/sys_exit_$e/enable
	done
	echo 1 > $T/events/module/module_load/enable
	# The coldplug's start and settle are /proc/uptime (CLOCK_BOOTTIME): put
	# the trace on the same clock. The default ("local", per-CPU) drifted
	# 6 s from it on 6.12 at 16 vCPUs under TCG.
	echo boot > $T/trace_clock
	if [ "$1" = storm ]; then storm_trace; else sample_start; fi
	echo > $T/trace
	echo 1 > $T/tracing_on
}

# The memory sampler of the coldplug scenarios (report.MemoryPeak): vmalloc
# use and the device manager's family (comms systemd-udevd, (udev-worker),
# gudevd; `gudevd settle` left out), Rss every 50 ms and Pss every 500 ms,
# until scenario_end stops it. Its first sample is the baseline, taken
# before t0.
sample_start() {
	rm -f /tmp/sample-ready
	guesttool sample -interval 100ms -pss-every 5 -out /out/mem.json -ready /tmp/sample-ready &
	sampler=$!
	while [ ! -e /tmp/sample-ready ] && kill -0 $sampler 2>/dev/null; do sleep 0.05; done
}

# What a request storm adds: every request_module() that got a helper slot
# (module:module_request, in the requesting task), and every run of the
# helper. call_usermodehelper execs the helper with kernel_execve(path,
# argv) in a new task, argv being {path, "-q", "--", NAME}; a kprobe there
# names the run, and sched_process_exec, filtered on the helper's path
# (/sbin/modprobe or /run/gudevd/modprobe), says the exec succeeded. The
# trace clock is CLOCK_MONOTONIC, the clock guesttool storm stamps the
# barrier with.
storm_trace() {
	echo mono > $T/trace_clock
	echo 1 > $T/events/module/module_request/enable
	if grep -q ' kernel_execve$' /proc/kallsyms; then
		echo 'p:gudevd/umh kernel_execve file=+0(%di):string arg1=+0(+8(%si)):string name=+0(+24(%si)):string' >> $T/kprobe_events
		echo 1 > $T/events/gudevd/umh/enable
	else
		echo "gudevd-guest: no kernel_execve in kallsyms, helper runs stay uncounted"
	fi
	echo 'filename ~ "*modprobe"' > $T/events/sched/sched_process_exec/filter
	echo 1 > $T/events/sched/sched_process_exec/enable
	# The helper's exit: how long it held one of the kernel's helper slots.
	echo 'comm == "modprobe"' > $T/events/sched/sched_process_exit/filter
	echo 1 > $T/events/sched/sched_process_exit/enable
	# Every request's outcome, including those refused before
	# module_request: one that waited 5 s for one of the kernel's 50 helper
	# slots returns -ETIME (the dmesg warning about it is ratelimited). A
	# kretprobe holds one instance per blocked caller; 1024 covers a
	# 64-vCPU storm, and kprobe_profile counts any it missed.
	echo 'r1024:gudevd/reqret __request_module ret=$retval:s32' >> $T/kprobe_events
	[ -d $T/events/gudevd/reqret ] && echo 1 > $T/events/gudevd/reqret/enable
}

uptime_now() { cut -d' ' -f1 /proc/uptime; }

udevd_start() {
	# udevd's default worker limit is 16 + 2 * CPUs, lowered to one worker
	# per 128 MiB of RAM (at least 10); the guest has less memory per CPU
	# than the servers this is about, so set the unreduced default.
	/lib/systemd/systemd-udevd --daemon --children-max=$((16 + 2 * $(nproc)))
}

udevd_coldplug() {
	udevadm trigger --type=subsystems --action=add
	udevadm trigger --type=devices --action=add
	udevadm settle --timeout=$((120 + 10 * $(nproc))) || settle_rc=$?
}

# udev_clients records what the real udevadm reads from the device
# manager's database after the coldplug: the whole database, and one
# device's properties by its node.
udev_clients() {
	udevadm info --export-db > /out/export-db.txt 2>&1
	udevadm info --query=all --name=/dev/sda > /out/info-sda.txt 2>&1
}

gudevd_settle() {
	gudevd settle --timeout=$((120 + 10 * $(nproc)))s || settle_rc=$?
}

# scenario_end stops the trace and reports: the JSON report on the
# console, the trace, dmesg, /proc/modules and gudevd's counters in /out.
# Late loads (e.g. request_module from a probe that finished after settle)
# still count: give them a moment before stopping the trace.
scenario_end() {
	sleep 1
	echo 0 > $T/tracing_on
	if [ -n "$sampler" ]; then
		kill $sampler
		wait $sampler
	fi
	case "$mode" in gudevd*|alongside|storm-*) gudevd stats --json > /out/gudevd-stats.json 2>&1 ;; esac
	# Each manager process's memory at the end, by pid: where the family's
	# PSS is (the sampler has only the sums).
	for d in /proc/[0-9]*; do
		case "$(cat $d/comm 2>/dev/null)" in
		gudevd|systemd-udevd|"(udev-worker)")
			{ tr '\0' ' ' < $d/cmdline; echo; cat $d/smaps_rollup; grep -E '^(Threads|VmHWM|RssAnon|RssFile)' $d/status; } > /out/smaps-${d#/proc/}.txt 2>/dev/null
			;;
		esac
	done
	cat /proc/modules > /out/modules-end.txt
	cp $T/trace /out/trace.txt
	cp $T/kprobe_profile /out/kprobe_profile.txt
	dmesg > /out/dmesg.txt
	dmesg -n 1
	echo GUDEVD-REPORT-BEGIN
	guesttool report -trace $T/trace -start "$t0" -settled "$t1" -scenario "$mode" -settle-exit $settle_rc
	echo GUDEVD-REPORT-END
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
capture-libudev)
	# What systemd-udevd rebroadcasts to libudev listeners (group 2).
	mkdir -p /out/uevent
	guesttool capture -group 2 -dir /out/uevent -prefix libudev -ready /tmp/ready &
	cap=$!
	while [ ! -e /tmp/ready ]; do sleep 0.1; done
	udevd_start
	udevd_coldplug
	udevadm trigger --type=devices --action=change --subsystem-match=net
	udevadm settle
	sleep 1
	kill $cap
	wait $cap
	;;
udevd|gudevd|gudevd-scan|gudevd-udev|alongside|none|oracle)
	cat /proc/modules > /out/modules-start.txt
	settle_rc=0
	trace_start
	t0=$(uptime_now)
	case "$mode" in
	udevd)
		echo /sbin/modprobe > /proc/sys/kernel/modprobe
		udevd_start
		udevd_coldplug
		udev_clients
		;;
	gudevd-udev)
		# gudevd in place of udevd (daemon --udev): the rules, nodes,
		# database and broadcast are gudevd's, the coldplug is udevd's
		# own, udevadm trigger and udevadm settle on /run/udev/control.
		echo /sbin/modprobe > /proc/sys/kernel/modprobe
		gudevd daemon $gflags --udev > /out/gudevd.log 2>&1 &
		# udevadm settle returns at once when nothing answers its ping.
		i=0
		while [ ! -S /run/udev/control ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
		udevadm monitor --udev --property > /out/monitor.txt 2>&1 &
		mon=$!
		udevd_coldplug
		gudevd_settle
		kill $mon
		udev_clients
		;;
	gudevd)
		gudevd daemon $gflags --coldplug > /out/gudevd.log 2>&1 &
		gudevd_settle
		;;
	gudevd-scan)
		gudevd daemon $gflags --coldplug=scan > /out/gudevd.log 2>&1 &
		gudevd_settle
		;;
	alongside)
		# gudevd's 80-drivers.rules in /etc hides the packaged one: udevd
		# runs every other rule, gudevd loads the modules.
		mkdir -p /etc/udev/rules.d
		cp /usr/share/gudevd/80-drivers.rules /etc/udev/rules.d/80-drivers.rules
		gudevd daemon $gflags > /out/gudevd.log 2>&1 &
		udevd_start
		udevd_coldplug
		gudevd_settle
		;;
	none)
		;;
	oracle)
		# The floor: the known module set loaded once, each module as soon
		# as its dependencies are in, no uevents. A module's init may still
		# request_module(); the kernel then runs kmod's modprobe, as in
		# udevd's branch.
		echo /sbin/modprobe > /proc/sys/kernel/modprobe
		guesttool oracle -jobs 0 $gflags -modules /etc/gudevd-test/oracle-modules.txt -out /out/oracle.json || echo "gudevd-guest: oracle failed"
		;;
	esac
	t1=$(uptime_now)
	scenario_end
	;;
storm-kmod|storm-gudevd)
	# The same coldplug in both (gudevd, one load per module), so the
	# modules loaded before the storm are the same; only the kernel's
	# helper differs: kmod's modprobe, or gudevd's link, which asks the
	# daemon.
	settle_rc=0
	echo /sbin/modprobe > /proc/sys/kernel/modprobe
	case "$mode" in
	storm-kmod) gudevd daemon $gflags --coldplug > /out/gudevd.log 2>&1 & ;;
	storm-gudevd) gudevd daemon $gflags --coldplug --kernel-modprobe > /out/gudevd.log 2>&1 & ;;
	esac
	gudevd_settle
	# Late coldplug loads must not land in the storm's trace.
	sleep 1
	cat /proc/sys/kernel/modprobe > /out/helper.txt
	ls -l /run/gudevd >> /out/helper.txt 2>&1
	cat /proc/modules > /out/modules-start.txt
	trace_start storm
	t0=$(uptime_now)
	guesttool storm -procs "$(nproc)" -out /out/storm.json || echo "gudevd-guest: storm failed"
	t1=$(uptime_now)
	scenario_end
	;;
fault-*)
	# The fault scenarios (test/qemu/faults.go) live in their own script.
	. /faults.sh
	;;
*)
	echo "gudevd-guest: unknown mode $mode"
	;;
esac
finish
