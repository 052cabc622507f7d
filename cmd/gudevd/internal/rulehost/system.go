package rulehost

import (
	"bytes"
	"io/fs"
	"strings"
)

// archName is systemd's name (architecture_to_string) of a machine uname
// reports; "" for one systemd does not know.
func archName(machine string) string {
	switch {
	case machine == "x86_64":
		return "x86-64"
	case machine == "i386" || machine == "i486" || machine == "i586" || machine == "i686":
		return "x86"
	case machine == "aarch64":
		return "arm64"
	case machine == "aarch64_be":
		return "arm64-be"
	case strings.HasPrefix(machine, "arm") && strings.HasSuffix(machine, "b"):
		return "arm-be"
	case strings.HasPrefix(machine, "armv"):
		return "arm"
	case machine == "arceb":
		return "arc-be"
	case machine == "ppc64le":
		return "ppc64-le"
	case machine == "ppcle":
		return "ppc-le"
	case machine == "crisv32":
		return "cris"
	case machine == "sh4" || machine == "sh4a" || machine == "sh3" || machine == "sh2" || machine == "sh2a":
		return "sh"
	case machine == "sh5":
		return "sh64"
	}
	switch machine {
	case "alpha", "arc", "ia64", "parisc", "parisc64", "loongarch64", "m68k", "mips", "mips64", "nios2",
		"ppc", "ppc64", "riscv32", "riscv64", "s390", "s390x", "sparc", "sparc64", "tilegx":
		return machine
	}
	return ""
}

// virt is the VM half of systemd 252's detect_virtualization, as CONST{virt}
// sees it, for the cases gudevd's hosts meet: "none", "kvm", "qemu",
// "vmware", "microsoft", "oracle", "xen", "amazon", "bochs", "parallels",
// "bhyve", "apple", "google" and "vm-other". Left out: containers (udevd
// rarely runs in one; /run/systemd/container and /proc/1/environ are not
// read), UML, device-tree hypervisors, z/VM and the SMBIOS VM bit. CPUID,
// which Go cannot ask without assembly, is approximated: the cpuinfo
// "hypervisor" flag says there is one, and the kvm-clock clock source says
// it is KVM; any other hypervisor is then named by DMI, as systemd names
// those whose CPUID signature it does not know.
func virt(sysfs, root fs.FS) string {
	dmi := dmiVirt(sysfs)
	switch dmi {
	case "oracle", "xen", "amazon", "parallels", "google":
		return dmi
	}
	xenDom0 := false
	if _, err := fs.Stat(root, "proc/xen"); err == nil {
		caps, _ := fs.ReadFile(root, "proc/xen/capabilities")
		if !bytes.Contains(caps, []byte("control_d")) {
			return "xen"
		}
		xenDom0 = true
	}
	cpu := cpuVirt(sysfs, root)
	if cpu != "" && cpu != "vm-other" || xenDom0 {
		return orNone(cpu)
	}
	if dmi != "" {
		return dmi
	}
	if t, err := fs.ReadFile(sysfs, "hypervisor/type"); err == nil {
		if strings.TrimSpace(string(t)) == "xen" {
			return "xen"
		}
		return "vm-other"
	}
	return orNone(cpu)
}

func orNone(v string) string {
	if v == "" {
		return "none"
	}
	return v
}

// cpuVirt stands for detect_vm_cpuid: "" without a hypervisor, "kvm" for
// KVM, "vm-other" for another.
func cpuVirt(sysfs, root fs.FS) string {
	info, err := fs.ReadFile(root, "proc/cpuinfo")
	if err != nil || !cpuFlag(info, "hypervisor") {
		return ""
	}
	cs, _ := fs.ReadFile(sysfs, "devices/system/clocksource/clocksource0/available_clocksource")
	if bytes.Contains(cs, []byte("kvm-clock")) {
		return "kvm"
	}
	return "vm-other"
}

// cpuFlag reports whether the first "flags" line of cpuinfo has flag.
func cpuFlag(info []byte, flag string) bool {
	for line := range strings.Lines(string(info)) {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == "flags" {
			for _, f := range strings.Fields(v) {
				if f == flag {
					return true
				}
			}
			return false
		}
	}
	return false
}

// dmiVirt is detect_vm_dmi: the first DMI string, in systemd's order, that
// starts with a vendor systemd knows.
func dmiVirt(sysfs fs.FS) string {
	for _, f := range []string{"product_name", "sys_vendor", "board_vendor", "bios_vendor", "product_version"} {
		b, err := fs.ReadFile(sysfs, "class/dmi/id/"+f)
		if err != nil {
			continue
		}
		if v := dmiVendor(strings.TrimRight(string(b), "\n")); v != "" {
			return v
		}
	}
	return ""
}

func dmiVendor(s string) string {
	for _, e := range []struct{ prefix, id string }{
		{"KVM", "kvm"}, {"OpenStack", "kvm"}, {"KubeVirt", "kvm"}, {"Amazon EC2", "amazon"},
		{"QEMU", "qemu"}, {"VMware", "vmware"}, {"VMW", "vmware"}, {"innotek GmbH", "oracle"},
		{"VirtualBox", "oracle"}, {"Oracle Corporation", "oracle"}, {"Xen", "xen"}, {"Bochs", "bochs"},
		{"Parallels", "parallels"}, {"BHYVE", "bhyve"}, {"Hyper-V", "microsoft"},
		{"Apple Virtualization", "apple"}, {"Google Compute Engine", "google"},
	} {
		if strings.HasPrefix(s, e.prefix) {
			return e.id
		}
	}
	return ""
}
