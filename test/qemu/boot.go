package qemu

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// bootTrace is the kernel command line that traces every module load from
// the first instruction of the initramfs to the report in the root system:
// tracing set up at boot (trace_event=, kprobe_event=) survives
// switch_root, so one buffer holds the initramfs's loads and the root
// system's. It is the same trace /init's trace_start sets up in the busybox
// guests (the syscall tracepoints, module:module_load and the
// find_module_all kprobe that names each load), in the boot parameters'
// comma-separated form.
func bootTrace(cpus int) string {
	events := []string{
		"syscalls:sys_enter_finit_module", "syscalls:sys_exit_finit_module",
		"syscalls:sys_enter_init_module", "syscalls:sys_exit_init_module",
		"module:module_load",
	}
	// The per-CPU buffer: a boot makes a few hundred load events, but
	// each lands on the CPU that made it.
	kb := 1024 + 65536/cpus
	return strings.Join([]string{
		// CLOCK_MONOTONIC, systemd's clock: the per-CPU "local" default
		// drifted by more than a minute at 64 vCPUs under TCG, and the
		// initramfs's loads are told from the root system's by time.
		"trace_clock=mono",
		"trace_options=record-tgid",
		fmt.Sprintf("trace_buf_size=%dK", kb),
		"trace_event=" + strings.Join(events, ","),
		"kprobe_event=p:gudevd/modname,find_module_all,name=+0(%di):string,unformed=%dx:u8",
	}, " ")
}

// BootTimeout is how long a full boot may take: the busybox guest's
// allowance plus what systemd and the initramfs add, which grows with the
// vCPU count under TCG.
func BootTimeout(cpus int) time.Duration {
	return DefaultTimeout(cpus) + time.Duration(cpus)*10*time.Second
}

// FullBoot boots the bookworm image of configuration c with kernel k at
// cpus vCPUs, through the kernel's own initramfs-tools initramfs, to
// multi-user.target, and returns what the report unit sent.
func (h *Harness) FullBoot(ctx context.Context, k Kernel, c BootConfig, cpus int) (*Boot, error) {
	root, err := h.configRoot(ctx, c)
	if err != nil {
		return nil, err
	}
	img, err := h.rootImage(ctx, root)
	if err != nil {
		return nil, err
	}
	vm := &VM{
		Kernel:    filepath.Join(root, "boot", "vmlinuz-"+k.Release),
		Initramfs: filepath.Join(root, "boot", "initrd.img-"+k.Release),
		RootDisk:  img,
		CPUs:      cpus,
		Cmdline:   "root=/dev/vda ro " + bootTrace(cpus),
		Timeout:   BootTimeout(cpus),
	}
	if h.Console {
		vm.Progress = h.Progress
	} else {
		vm.Status = h.Progress
	}
	h.progress("booting bookworm (%s) with %s at %d vCPUs", c, k.Name, cpus)
	return vm.Run(ctx)
}

// activeDeviceUnits returns the active units of `systemctl list-units
// --type=device --all --plain --no-legend` (the report's devices.txt):
// "dev-vda.device loaded active plugged /dev/vda". systemd makes a device
// unit active from udev's database and broadcast (the "systemd" tag), so
// the list shows whether the daemon being udevd served systemd.
func activeDeviceUnits(list []byte) []string {
	var active []string
	for _, l := range strings.Split(string(list), "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && strings.HasSuffix(f[0], ".device") && f[2] == "active" {
			active = append(active, f[0])
		}
	}
	return active
}
