// Package qemu boots real Debian kernels under QEMU (TCG) with many vCPUs,
// runs the coldplug storm under systemd-udevd and under gudevd on the same
// guest, and counts every load syscall the kernel received through tracefs.
// It is the project's proof, its benchmark and its demo.
//
// The host never loads modules itself; everything that touches a kernel
// happens inside the guest.
//
// It must not import cmd/gudevd, modalias, modload, rules, uevent or workers.
// The harness is the measure of the code under test, so it imports none of
// the packages it measures: gudevd is built with go build and run in the
// guest like any binary, the module set comes from internal/kmodset's own
// small reading of depmod's files, and loads are counted by the guest
// kernel's tracefs.
//
// # What a guest is
//
// A q35 machine (-accel tcg,thread=multi -cpu max) with the fixed device set
// of Devices, booting a Debian kernel (Kernels: 6.1 with plain .ko files,
// 6.12 with .ko.xz) and a gzip'd cpio initramfs built here, with no root
// file system:
//
//   - busybox from busybox-static, /init from guest/init.sh;
//   - guesttool (internal/guesttool), static: captures uevents, lists
//     modaliases, writes the report;
//   - gudevd built from this repository with CGO_ENABLED=0, and its
//     rules/udev/80-drivers.rules;
//   - systemd-udevd, udevadm, kmod with every shared library their ELF
//     headers name, the packaged rules and modprobe.d, all from Debian
//     packages fetched with apt-get download and unpacked with dpkg-deb;
//   - the guest's module set: every module its modaliases resolve to, with
//     dependencies and soft dependencies, found by booting until no new
//     device appears (ModuleSet), with depmod run over just those files.
//
// Every scenario of a kernel boots the same image; /init picks the scenario
// from gudevd.mode= on the command line. The module set also holds what the
// request storm's names resolve to (can, can_raw, minix, af_alg,
// algif_hash, md4), which no device loads.
//
// # Request storms
//
// The kernel's own request_module() runs /proc/sys/kernel/modprobe as
// `PATH -q -- NAME`, once per request, from every CPU that asks. The
// storm-kmod and storm-gudevd scenarios run the same gudevd coldplug, then
// point the kernel at kmod's /sbin/modprobe or at gudevd (daemon
// --kernel-modprobe), and guesttool storm starts one process per vCPU,
// each pinned to its CPU and each action on its own thread blocked on one
// pipe, which the parent closes once all are ready. Every process then
// asks for the same address families, file system and crypto algorithms
// (report.StormActions). tracefs adds module:module_request (the request,
// in the requesting task), a kprobe on kernel_execve (the helper run and
// its NAME) and sched_process_exec filtered on the helper's path (the exec
// succeeded), on CLOCK_MONOTONIC, the clock the storm stamps its barrier
// with. The host counts per name and per module (report.SummarizeStorm).
//
// # How loads are counted
//
// /init enables the syscalls:sys_{enter,exit}_{finit,init}_module
// tracepoints and module:module_load, and a kprobe on find_module_all that
// records the module name load_module looks up before it rejects a
// duplicate. internal/report pairs them per thread into calls with their
// caller, module and return value. The host summarises: load syscalls,
// distinct modules, duplicates, EEXIST and other errors, module bytes read
// by duplicate loads, coldplug-to-settled time from /proc/uptime, and the
// modules in /proc/modules at the end.
//
// # The full Debian boot
//
// The busybox guests measure coldplug alone; FullBoot measures what an
// administrator sees. rootfs.go builds a Debian bookworm root with
// mmdebstrap (minbase, systemd-sysv, udev, kmod, initramfs-tools and both
// kernels, whose postinst builds each initramfs-tools initramfs), gives it
// a machine id and an fstab, and installs a report unit
// (guest/boot/gudevd-boot-report*) and a settle probe. Two configurations
// share it: stock, and alongside, a copy into which gudevd is installed as
// the README says (make install DESTDIR=ROOT PREFIX=/usr, then systemctl
// enable gudevd.service and update-initramfs -u -k all in a chroot). Each
// becomes a raw ext4 image (mkfs.ext4 -d) on a virtio disk next to the
// harness's device set, opened with snapshot=on, and boots with the image's
// own kernel and initramfs to the default target. The kernel command line
// sets the same trace up at boot (trace_event=, kprobe_event=), so one
// buffer holds the initramfs's loads and the root system's. After the boot
// the report unit sends systemd-analyze time, blame and critical-chain,
// the failed units, the trace, /proc/modules, the journal and gudevd's
// stats; report.SummarizeBoot reads them.
//
// # Commands
//
//	go run ./test/qemu/cmd/qemu-harness demo      # 6.1 at 16 vCPUs, udevd vs gudevd
//	go run ./test/qemu/cmd/qemu-harness bench     # both kernels, 4-64 vCPUs, all scenarios
//	go run ./test/qemu/cmd/qemu-harness bench -requests   # the request storms, 4, 16, 64 vCPUs
//	go run ./test/qemu/cmd/qemu-harness boot -config alongside -cpus 4 -out DIR   # one full boot, its files in DIR
//	go run ./test/qemu/cmd/qemu-harness boot-bench -out test/qemu/results         # make bench-boot: boot.md, boot.svg
//	go run ./test/qemu/cmd/qemu-harness capture   # refresh */testdata/guest
//	go test ./test/qemu/                          # 6.1 at 8 vCPUs, the storm at 4, the full boot at 4, the assertions
//
// Everything is cached in ${GUDEVD_CACHE:-$HOME/.cache/gudevd}.
package qemu
