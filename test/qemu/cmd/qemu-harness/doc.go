// Command qemu-harness boots Debian kernels under QEMU (TCG) to capture test
// data and to measure module loading under systemd-udevd and gudevd. The
// host never loads a module; everything happens in the guests.
//
//	go run ./test/qemu/cmd/qemu-harness capture   # refresh */testdata/guest
//	go run ./test/qemu/cmd/qemu-harness demo      # 6.1, 16 vCPUs, udevd vs gudevd
//	go run ./test/qemu/cmd/qemu-harness bench     # both kernels, 4..64 vCPUs, all scenarios
//	go run ./test/qemu/cmd/qemu-harness run -kernel 6.12 -scenario alongside -cpus 8 -out /tmp/x
//
// Downloads and images are cached in ${GUDEVD_CACHE:-$HOME/.cache/gudevd}.
//
// It must not import cmd/gudevd, modalias, modload, rules, uevent or workers.
// As for package qemu, whose commands it runs, the harness shares no code
// with what it measures.
package main
