package qemu

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/gudevd/gudevd/test/qemu/internal/report"
)

// TestFullBootOnRealKernel is the small case of `make bench-boot`: Debian
// bookworm with systemd as init, Debian's 6.1 kernel and its
// initramfs-tools initramfs, 4 vCPUs, booted to its default target once
// stock, once with gudevd installed alongside systemd-udevd exactly as the
// README's install section says (make install, systemctl enable,
// update-initramfs), and once with gudevd instead of systemd-udevd in the
// root system (make install-replace-udevd; see installSteps). Every load
// syscall of the boot, initramfs and root system together, is counted by
// tracefs. Alongside and instead must reach the default target with no
// failed unit stock lacks and load every module stock loads; alongside
// must make one load syscall per module; instead must activate every
// device unit stock activates, which systemd takes from the udev database
// and broadcasts gudevd now writes.
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
	checkCleanStop(t, Alongside, "gudevd.service", al.console)

	in := boots[Instead]
	if extra := missingFrom(in.sum.Failed, stock.sum.Failed); len(extra) > 0 {
		t.Errorf("instead: failed units stock does not have: %v (journal of systemd-udevd.service:\n%s)", extra, udevdJournal(in.files["journal.txt"]))
	}
	if missing := missingFrom(stock.sum.Modules, in.sum.Modules); len(missing) > 0 {
		t.Errorf("instead: modules stock loaded but instead did not: %v", missing)
	}
	stockDevs := activeDeviceUnits(stock.files["devices.txt"])
	if !slices.Contains(stockDevs, "dev-vda.device") {
		t.Errorf("stock: dev-vda.device not active (devices.txt:\n%s): the device check would be vacuous", stock.files["devices.txt"])
	}
	if missing := missingFrom(stockDevs, activeDeviceUnits(in.files["devices.txt"])); len(missing) > 0 {
		t.Errorf("instead: device units active stock but not instead: %v", missing)
	}
	// No stop to check at the poweroff: systemd-udevd.service has no
	// Conflicts=shutdown.target, so systemd-shutdown's final kill ends it,
	// as it ends udevd in stock, and the console shows no "Stopped" line.
	checkGudevdUdev(t, in.files, in.calls, in.sum)
}

// checkGudevdUdev makes sure the instead boot's systemd-udevd.service was
// gudevd: its stats count the udev stage's events, and it made the root
// system's loads.
func checkGudevdUdev(t *testing.T, files map[string][]byte, calls []report.Call, s report.BootSummary) {
	t.Helper()
	var st struct {
		Udev *struct {
			Events uint64 `json:"events"`
			Failed uint64 `json:"failed"`
		} `json:"udev"`
	}
	if err := json.Unmarshal(files["gudevd-stats.json"], &st); err != nil || st.Udev == nil || st.Udev.Events == 0 {
		t.Errorf("instead: no udev events in the root system's gudevd stats (%v): %s", err, files["gudevd-stats.json"])
	} else if st.Udev.Failed != 0 {
		t.Errorf("instead: %d events failed in gudevd's udev stage (journal:\n%s)", st.Udev.Failed, udevdJournal(files["journal.txt"]))
	}
	root := 0
	for _, c := range calls {
		if c.Comm == "gudevd" && c.Time >= s.SwitchRoot() {
			root++
		}
	}
	if root == 0 {
		t.Errorf("instead: gudevd made no load syscall in the root system")
	}
}

// udevdJournal returns the journal lines of the instead boot's udevd: the
// daemon's own (its syslog identifier is the binary's name, gudevd) and
// systemd's about systemd-udevd.service.
func udevdJournal(journal []byte) string {
	var b strings.Builder
	for _, l := range strings.Split(string(journal), "\n") {
		if strings.Contains(l, " gudevd[") || strings.Contains(l, "systemd-udevd.service") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// checkCleanStop looks for systemd's report of unit's stop (gudevd's
// daemon) in the console of the poweroff that ends the boot: a stop that
// timed out or failed prints otherwise ("Failed to stop", "State
// 'stop-sigterm' timed out").
func checkCleanStop(t *testing.T, c BootConfig, unit string, console []byte) {
	t.Helper()
	stopped := false
	for _, l := range strings.Split(string(console), "\n") {
		if !strings.Contains(l, unit) {
			continue
		}
		if strings.Contains(l, "Failed") || strings.Contains(l, "timed out") {
			t.Errorf("%s: %s at shutdown: %q", c, unit, l)
		}
		if strings.Contains(l, "Stopped") {
			stopped = true
		}
	}
	if !stopped {
		t.Errorf("%s: no \"Stopped %s\" on the console at poweroff", c, unit)
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
