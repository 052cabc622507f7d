# Sourced by /init (init.sh) for gudevd.mode=fault-*: the fault scenarios of
# test/qemu/faults.go. Each injects its fault, runs gudevd's coldplug and
# reports like the coldplug scenarios (scenario_end); what was injected goes
# to /out for the host, which computes the module set it expects itself.

# The faulted modules of fault-bad-modules, in both kernels' sets, each with
# dependants (test/qemu/faults.go's badModules says the same):
#   i2c_smbus  its file corrupted (i2c_i801 needs it)
#   failover   "install failover /bin/sleep 600": a load that hangs
#              (net_failover, virtio_net need it). No stock module's init
#              blocks on a parameter, so the install line stands in for a
#              hanging init: the worker waits on it as it would on a
#              finit_module that does not return.
#   irqbypass  "install irqbypass /bin/false": an install line that fails
#              (kvm, kvm_amd need it)
fault_corrupt=i2c_smbus
fault_hang=failover
fault_install=irqbypass
# A hung load costs the event timeout per attempt (the first and two
# retries): the default 180 s would make the scenario take ten minutes.
fault_timeout=20s

fault_begin() {
	cat /proc/modules > /out/modules-start.txt
	settle_rc=0
	trace_start
	t0=$(uptime_now)
}

# fault_end reports. scenario_end keeps gudevd's counters only for the
# gudevd* modes, so they are saved here, from whichever daemon runs last.
fault_end() {
	t1=$(uptime_now)
	gudevd stats --json > /out/gudevd-stats.json 2>&1
	scenario_end
}

# wait_modules N: until /proc/modules has N lines, at most 300 s.
wait_modules() {
	i=0
	while [ "$(wc -l < /proc/modules)" -lt "$1" ] && [ $i -lt 6000 ]; do
		sleep 0.05
		i=$((i + 1))
	done
}

# kill_daemon PID NAME: SIGKILL a daemon mid-coldplug and write down what
# was in flight: its workers die by their parent-death signal (SIGKILL),
# but one inside finit_module only once the syscall returns.
kill_daemon() {
	{
		echo "kill $2 modules=$(wc -l < /proc/modules) uptime=$(uptime_now)"
		for p in /proc/[0-9]*; do
			tr '\0' ' ' 2>/dev/null < $p/cmdline | grep -q '^[^ ]*gudevd worker' &&
				echo "worker ${p#/proc/} syscall=$(cut -d' ' -f1 $p/syscall 2>/dev/null) state=$(sed -n 's/^State:\t//p' $p/status 2>/dev/null)"
		done
	} >> /out/restart.txt
	kill -9 "$1"
	wait "$1" 2>/dev/null
	{
		echo "coming after kill: $(grep -l coming /sys/module/*/initstate 2>/dev/null | cut -d/ -f4 | tr '\n' ' ')"
		echo "workers left: $(for p in /proc/[0-9]*; do tr '\0' ' ' 2>/dev/null < $p/cmdline | grep -q '^[^ ]*gudevd worker' && echo ${p#/proc/}; done | tr '\n' ' ')"
	} >> /out/restart.txt
}

case "$mode" in
fault-kill-workers)
	fault_begin
	guesttool chaos -kills 12 -min 200ms -max 2s -out /out/chaos.json &
	chaos=$!
	gudevd daemon $gflags --coldplug > /out/gudevd.log 2>&1 &
	gudevd_settle
	kill $chaos
	wait $chaos
	fault_end
	;;
fault-enobufs)
	# The kernel doubles the size and has a floor of a few KiB: two or
	# three uevents fit, and a coldplug trigger sends hundreds at once.
	fault_begin
	gudevd daemon $gflags --coldplug --receive-buffer=4096 > /out/gudevd.log 2>&1 &
	gudevd_settle
	fault_end
	;;
fault-bad-modules)
	# The module tree is the initramfs's, in RAM and writable. Zeroing the
	# ELF header makes finit_module fail with ENOEXEC (a .ko.xz fails to
	# decompress first).
	f=$(find /lib/modules/$(uname -r) -name "$(echo $fault_corrupt | tr _ -).ko*" | head -1)
	if [ -n "$f" ] && dd if=/dev/zero of="$f" bs=64 count=1 conv=notrunc 2>/dev/null; then
		echo "corrupt $fault_corrupt $f" >> /out/broken.txt
	fi
	mkdir -p /etc/modprobe.d
	echo "install $fault_hang /bin/sleep 600" >> /etc/modprobe.d/gudevd-fault.conf &&
		echo "hang $fault_hang install /bin/sleep 600, event timeout $fault_timeout" >> /out/broken.txt
	echo "install $fault_install /bin/false" >> /etc/modprobe.d/gudevd-fault.conf &&
		echo "install-fails $fault_install install /bin/false" >> /out/broken.txt
	fault_begin
	gudevd daemon $gflags --coldplug --event-timeout=$fault_timeout > /out/gudevd.log 2>&1 &
	gudevd_settle
	# The hung install's sleeps outlive their killed workers: sh runs
	# them in their own process group, with no parent-death signal.
	echo "sleeps left: $(pidof sleep)" >> /out/broken.txt
	fault_end
	;;
fault-restart)
	# Two daemons killed mid-coldplug, each restarted at once with
	# --coldplug=scan, which must learn what is live or coming from
	# /sys/module and load only the rest.
	fault_begin
	gudevd daemon $gflags --coldplug > /out/gudevd.log 2>&1 &
	d=$!
	wait_modules 10
	kill_daemon $d first
	gudevd daemon $gflags --coldplug=scan > /out/gudevd-2.log 2>&1 &
	d=$!
	wait_modules 30
	kill_daemon $d second
	gudevd daemon $gflags --coldplug=scan > /out/gudevd-3.log 2>&1 &
	gudevd_settle
	fault_end
	;;
fault-forged)
	# The coldplug first, then the forgeries against a settled daemon: a
	# forged uevent or request that got through would load a canary
	# module no device asks for, or stop or reconfigure the daemon.
	fault_begin
	gudevd daemon $gflags --coldplug > /out/gudevd.log 2>&1 &
	d=$!
	gudevd_settle
	t1=$(uptime_now)
	gudevd stats --json > /out/stats-before.json 2>&1
	guesttool forge -pid $d -out /out/forge.json || echo "gudevd-guest: forge failed"
	# Give a forged event that got through the time to load its module.
	gudevd settle --timeout=60s
	sleep 2
	kill -0 $d 2>/dev/null && echo alive > /out/daemon-alive.txt
	gudevd stats --json > /out/gudevd-stats.json 2>&1
	scenario_end
	;;
*)
	echo "gudevd-guest: unknown fault scenario $mode"
	;;
esac
