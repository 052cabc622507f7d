package rulehost

import (
	"testing"
	"testing/fstest"
)

func TestArchName(t *testing.T) {
	tests := []struct{ machine, want string }{
		{"x86_64", "x86-64"}, {"i686", "x86"}, {"aarch64", "arm64"}, {"aarch64_be", "arm64-be"},
		{"armv7l", "arm"}, {"armv7b", "arm-be"}, {"ppc64le", "ppc64-le"}, {"s390x", "s390x"},
		{"riscv64", "riscv64"}, {"loongarch64", "loongarch64"}, {"sh4a", "sh"}, {"vax", ""},
	}
	for _, tt := range tests {
		t.Run(tt.machine, func(t *testing.T) {
			if got := archName(tt.machine); got != tt.want {
				t.Errorf("archName(%q) = %q, want %q", tt.machine, got, tt.want)
			}
		})
	}
}

func TestVirt(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	const hv = "processor\t: 0\nflags\t\t: fpu vme hypervisor lahf_lm\n"
	const bare = "processor\t: 0\nflags\t\t: fpu vme lahf_lm\n"
	tests := []struct {
		name        string
		sysfs, root fstest.MapFS
		want        string
	}{
		{name: "bare metal", root: fstest.MapFS{"proc/cpuinfo": file(bare)}, sysfs: fstest.MapFS{"class/dmi/id/sys_vendor": file("LENOVO\n")}, want: "none"},
		{
			name:  "qemu with kvm",
			root:  fstest.MapFS{"proc/cpuinfo": file(hv)},
			sysfs: fstest.MapFS{"class/dmi/id/sys_vendor": file("QEMU\n"), "devices/system/clocksource/clocksource0/available_clocksource": file("kvm-clock tsc acpi_pm \n")},
			want:  "kvm",
		},
		{name: "qemu without kvm", root: fstest.MapFS{"proc/cpuinfo": file(hv)}, sysfs: fstest.MapFS{"class/dmi/id/sys_vendor": file("QEMU\n")}, want: "qemu"},
		{name: "kvm in the product name", root: fstest.MapFS{"proc/cpuinfo": file(hv)}, sysfs: fstest.MapFS{"class/dmi/id/product_name": file("KVM\n")}, want: "kvm"},
		{name: "vmware", root: fstest.MapFS{"proc/cpuinfo": file(hv)}, sysfs: fstest.MapFS{"class/dmi/id/sys_vendor": file("VMware, Inc.\n")}, want: "vmware"},
		{name: "hyper-v", root: fstest.MapFS{"proc/cpuinfo": file(hv)}, sysfs: fstest.MapFS{"class/dmi/id/product_version": file("Hyper-V UEFI Release v4.1\n")}, want: "microsoft"},
		{
			name:  "virtualbox over kvm",
			root:  fstest.MapFS{"proc/cpuinfo": file(hv)},
			sysfs: fstest.MapFS{"class/dmi/id/sys_vendor": file("innotek GmbH\n"), "devices/system/clocksource/clocksource0/available_clocksource": file("kvm-clock\n")},
			want:  "oracle",
		},
		{name: "xen guest", root: fstest.MapFS{"proc/xen/capabilities": file("")}, sysfs: fstest.MapFS{}, want: "xen"},
		{name: "xen dom0", root: fstest.MapFS{"proc/xen/capabilities": file("control_d\n"), "proc/cpuinfo": file(bare)}, sysfs: fstest.MapFS{}, want: "none"},
		{name: "unknown hypervisor", root: fstest.MapFS{"proc/cpuinfo": file(hv)}, sysfs: fstest.MapFS{}, want: "vm-other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := virt(tt.sysfs, tt.root); got != tt.want {
				t.Errorf("virt = %q, want %q", got, tt.want)
			}
		})
	}
}
