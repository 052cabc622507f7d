// Package qemu boots real Debian kernels under QEMU (TCG) with many vCPUs,
// runs the coldplug storm under systemd-udevd and under gudevd on the same
// guest, and counts every load syscall the kernel received through tracefs.
// It is the project's proof, its benchmark and its demo.
//
// The host never loads modules itself; everything that touches a kernel
// happens inside the guest.
package qemu
