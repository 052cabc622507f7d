package qemu

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/gudevd/gudevd/test/qemu/internal/report"
)

// TestFullBootOnRealKernel is the small case of `make bench-boot`: Debian
// bookworm with systemd as init, Debian's 6.1 kernel and its
// initramfs-tools initramfs, 4 vCPUs, booted to its default target once
// stock and once with gudevd installed alongside systemd-udevd exactly as
// the README's install section says (make install, systemctl enable,
// update-initramfs). Every load syscall of the boot, initramfs and root
// system together, is counted by tracefs. Alongside must reach the
// default target with no failed unit stock lacks, load every module stock
// loads, and make one load syscall per module.
func TestFullBootOnRealKernel(t *testing.T) {
	h := qemuHarness(t)
	requireTools(t, "mmdebstrap", "mkfs.ext4", "unshare", "chroot", "make")
	type boot struct {
		sum     report.BootSummary
		calls   []report.Call
		files   map[string][]byte
		console []byte
	}
	boots := map[BootConfig]boot{}
	var sums []report.BootSummary
	for _, c := range BootConfigs {
		b, err := h.FullBoot(t.Context(), Kernels[0], c, 4)
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		s, err := report.SummarizeBoot(string(c), Kernels[0].Name, b.Files)
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		calls, _, _, err := report.ParseTrace(bytes.NewReader(b.Files["trace.txt"]))
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		boots[c] = boot{s, calls, b.Files, b.Console}
		sums = append(sums, s)
	}
	var tbl strings.Builder
	WriteBootTable(&tbl, sums)
	t.Logf("\n%s", tbl.String())

	stock, al := boots[Stock], boots[Alongside]
	if stock.sum.Loads.LoadSyscalls == 0 || stock.sum.InitrdLoads == 0 || len(stock.sum.Modules) == 0 {
		t.Fatalf("stock boot loaded %d modules with %d syscalls (%d in the initramfs): the image is broken and the comparison would be vacuous",
			len(stock.sum.Modules), stock.sum.Loads.LoadSyscalls, stock.sum.InitrdLoads)
	}
	for c, b := range boots {
		if b.sum.State != "running" {
			t.Errorf("%s: system state %q, want running", c, b.sum.State)
		}
		if b.sum.Loads.Lost != 0 || b.sum.Loads.Unnamed != 0 {
			t.Errorf("%s: trace lost %d events, %d loads unnamed: counts are not trustworthy", c, b.sum.Loads.Lost, b.sum.Loads.Unnamed)
		}
	}
	if extra := missingFrom(al.sum.Failed, stock.sum.Failed); len(extra) > 0 {
		t.Errorf("alongside: failed units stock does not have: %v", extra)
	}
	if missing := missingFrom(stock.sum.Modules, al.sum.Modules); len(missing) > 0 {
		t.Errorf("alongside: modules stock loaded but alongside did not: %v", missing)
	}
	if dups := duplicateLoads(al.calls); len(dups) > 0 {
		t.Errorf("alongside: %d load syscalls for %d modules across the boot (again: %v), want one per module",
			al.sum.Loads.LoadSyscalls, al.sum.Loads.Distinct, dups)
	}
	checkGudevdRan(t, al.files, al.calls, al.sum)
	checkCleanStop(t, al.console)
}

// checkCleanStop looks for systemd's report of gudevd.service's stop in the
// console of the poweroff that ends the boot: a stop that timed out or
// failed prints otherwise ("Failed to stop", "State 'stop-sigterm' timed
// out").
func checkCleanStop(t *testing.T, console []byte) {
	t.Helper()
	stopped := false
	for _, l := range strings.Split(string(console), "\n") {
		if !strings.Contains(l, "gudevd.service") {
			continue
		}
		if strings.Contains(l, "Failed") || strings.Contains(l, "timed out") {
			t.Errorf("alongside: gudevd.service at shutdown: %q", l)
		}
		if strings.Contains(l, "Stopped") {
			stopped = true
		}
	}
	if !stopped {
		t.Errorf("alongside: no \"Stopped gudevd.service\" on the console at poweroff")
	}
}

// checkGudevdRan makes sure the alongside boot measured gudevd and not a
// boot where it silently did nothing: it loaded modules in the initramfs
// and ran in the root system as the kernel's helper.
func checkGudevdRan(t *testing.T, files map[string][]byte, calls []report.Call, s report.BootSummary) {
	t.Helper()
	initrd, root := 0, 0
	for _, c := range calls {
		if c.Comm != "gudevd" {
			continue
		}
		if c.Time < s.SwitchRoot() {
			initrd++
		} else {
			root++
		}
	}
	if initrd == 0 {
		t.Errorf("alongside: gudevd made no load syscall in the initramfs (initramfs log:\n%s)", files["gudevd.log"])
	}
	if got := strings.TrimSpace(string(files["kernel-modprobe.txt"])); got != "/run/gudevd/modprobe" {
		t.Errorf("alongside: /proc/sys/kernel/modprobe = %q at the end of the boot, want gudevd's /run/gudevd/modprobe", got)
	}
	var st struct {
		EventsReceived uint64 `json:"events_received"`
	}
	if err := json.Unmarshal(files["gudevd-stats.json"], &st); err != nil || st.EventsReceived == 0 {
		t.Errorf("alongside: the root system's gudevd stats: %v, %d events received (%s)", err, st.EventsReceived, files["gudevd-stats.json"])
	}
	t.Logf("alongside: gudevd made %d load syscalls in the initramfs and %d in the root system", initrd, root)
}

func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("GUDEVD_REQUIRE_QEMU") != "" {
				t.Fatalf("%s not installed (make deps installs it): %v", tool, err)
			}
			t.Skipf("%s not installed (make deps installs it): %v", tool, err)
		}
	}
}
