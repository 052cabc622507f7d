package qemu

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/gudevd/gudevd/test/qemu/internal/report"
)

// TestDedupOnRealKernel is the project's proof on a real kernel: Debian's
// 6.1 at 8 vCPUs (QEMU TCG), booted three times with the same initramfs
// and devices: under systemd-udevd with its packaged rules, under gudevd
// loading modules (beside no udevd), and under gudevd daemon --udev in
// udevd's place, coldplugged by the real udevadm trigger and settle. Every
// finit_module and init_module is counted by tracefs inside the guest.
// gudevd must make exactly one load syscall per module and load at least
// every module udevd loads; in udevd's place the real udevadm must also
// settle, read its database and receive its broadcasts.
//
// It needs qemu-system-x86, apt-get, dpkg-deb and depmod (`make deps`
// installs them) and downloads Debian packages into
// ${GUDEVD_CACHE:-$HOME/.cache/gudevd} on the first run. It takes a few
// minutes on two host cores; -short skips it.
func TestDedupOnRealKernel(t *testing.T) {
	h := qemuHarness(t)
	const cpus = 8
	udevd, err := h.Run(t.Context(), Kernels[0], "udevd", cpus)
	if err != nil {
		t.Fatal(err)
	}
	gudevd, err := h.Run(t.Context(), Kernels[0], "gudevd", cpus)
	if err != nil {
		t.Fatal(err)
	}
	asUdevd, err := h.Run(t.Context(), Kernels[0], "gudevd-udev", cpus)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	WriteSideBySide(&b, []report.Summary{udevd.Summary, gudevd.Summary, asUdevd.Summary})
	t.Logf("\n%s", b.String())

	u := udevd.Summary
	if u.ModulesLoaded == 0 || u.LoadSyscalls == 0 {
		t.Fatalf("udevd loaded nothing (%d syscalls, %d modules): the guest setup is broken, the comparison would be vacuous", u.LoadSyscalls, u.ModulesLoaded)
	}
	if u.Lost != 0 {
		t.Errorf("udevd: trace ring buffer dropped %d events: counts are not trustworthy", u.Lost)
	}
	for _, g := range []*Result{gudevd, asUdevd} {
		checkOneLoadEach(t, udevd, g)
	}
	checkUdevClients(t, udevd, asUdevd)
}

// checkOneLoadEach is the promise for one gudevd run: one load syscall
// per module, every load named, nothing udevd loaded left out.
func checkOneLoadEach(t *testing.T, udevd, g *Result) {
	t.Helper()
	sc := g.Summary.Scenario
	if g.Summary.Lost != 0 {
		t.Errorf("%s: trace ring buffer dropped %d events: counts are not trustworthy", sc, g.Summary.Lost)
	}
	if g.Summary.Unnamed != 0 {
		t.Errorf("%s: %d load syscalls the kprobe could not name", sc, g.Summary.Unnamed)
	}
	if dups := duplicateLoads(g.Report.Calls); len(dups) > 0 {
		t.Errorf("%s made %d load syscalls for %d distinct modules (duplicates: %v), want one per module",
			sc, g.Summary.LoadSyscalls, g.Summary.Distinct, dups)
	}
	// An EEXIST on a module that ended up loaded is a refused duplicate.
	// One on a module that is not loaded is the module's own init failing
	// with -EEXIST (pcc_cpufreq does when acpi_cpufreq registered first),
	// a result systemd-udevd gets too.
	end := map[string]bool{}
	for _, m := range g.Report.ModulesEnd {
		end[m] = true
	}
	for _, c := range g.Report.Calls {
		if c.Errno == "EEXIST" && (c.Module == "" || end[c.Module]) {
			t.Errorf("%s: %s of %q failed with EEXIST and the module is loaded: a duplicate load", sc, c.Syscall, c.Module)
		}
	}
	if missing := missingFrom(report.NewModules(&udevd.Report), report.NewModules(&g.Report)); len(missing) > 0 {
		t.Errorf("modules systemd-udevd loaded but %s did not: %v", sc, missing)
	}
}

// checkUdevClients: with gudevd in place of udevd, the real udevadm's
// settle returned 0, its info reads a database as large as udevd's (the
// same devices with nodes, the same number of links), and its monitor
// received gudevd's broadcasts. The per-device comparison is the boot
// diff's (TestUdevDiffOnRealKernel).
func checkUdevClients(t *testing.T, udevd, g *Result) {
	t.Helper()
	if g.Report.SettleExit != 0 {
		t.Errorf("udevadm settle against gudevd exited %d", g.Report.SettleExit)
	}
	count := func(r *Result, prefix string) int {
		return strings.Count("\n"+string(r.Files["export-db.txt"]), "\n"+prefix)
	}
	for _, k := range []string{"P: ", "N: ", "S: "} {
		if cu, cg := count(udevd, k), count(g, k); cu == 0 || cu != cg {
			t.Errorf("export-db %q lines: udevd %d, gudevd %d", k, cu, cg)
		}
	}
	info := string(g.Files["info-sda.txt"])
	for _, want := range []string{"N: sda", "E: DEVNAME=/dev/sda", "S: disk/by-path/"} {
		if !strings.Contains(info, want) {
			t.Errorf("udevadm info --name=/dev/sda has no %q:\n%s", want, info)
		}
	}
	mon := string(g.Files["monitor.txt"])
	if !strings.Contains(mon, "UDEV  [") || !strings.Contains(mon, "SUBSYSTEM=block") || !strings.Contains(mon, "USEC_INITIALIZED=") {
		t.Errorf("udevadm monitor --udev received no block event from gudevd:\n%.2000s", mon)
	}
}

// TestRequestStormOnRealKernel is the proof for the kernel's own module
// requests: Debian's 6.1 at 4 vCPUs, the same gudevd coldplug, then one
// process per vCPU making the kernel request the same modules at once
// (report.StormActions), once with kmod's modprobe as the kernel's helper
// and once with gudevd's (--kernel-modprobe). Requests and helper runs are
// counted by tracefs (module:module_request, kernel_execve), loads by the
// syscall tracepoints. gudevd must make one load syscall per module; every
// process must have requested every module it asks for at the barrier (or
// the storm did not happen); kmod's modprobe must load some module twice,
// which it did at every vCPU count measured (6.1 has no in-kernel merging
// of concurrent finit_module calls, and every racing modprobe that finds
// the module not yet in sysfs calls finit_module).
//
// 4 vCPUs keeps the storm under the kernel's 50 concurrent helpers (at most
// 4 processes × 7 requests), so no request waits for a slot and none is
// refused (-ETIME after 5 s), however slow the host: the assertions cannot
// be broken by load. From 16 vCPUs on they can, under either helper (see
// test/qemu/results/README.md).
func TestRequestStormOnRealKernel(t *testing.T) {
	h := qemuHarness(t)
	const cpus = 4
	stock, err := h.Run(t.Context(), Kernels[0], "storm-kmod", cpus)
	if err != nil {
		t.Fatal(err)
	}
	gudevd, err := h.Run(t.Context(), Kernels[0], "storm-gudevd", cpus)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	WriteStormSideBySide(&b, []report.StormSummary{*stock.Storm, *gudevd.Storm})
	t.Logf("\n%s", b.String())
	for _, p := range stormProblems(*stock.Storm, "/sbin/modprobe", false) {
		t.Errorf("kmod modprobe: %s", p)
	}
	for _, p := range stormProblems(*gudevd.Storm, "/run/gudevd/modprobe", true) {
		t.Errorf("gudevd: %s", p)
	}
}

// stormProblems checks one storm: the helper the kernel ran, that the storm
// happened (every process requested every barrier name, each nested name
// was requested, every request ran a helper), that nothing was dropped
// from the trace, and the loads: exactly one syscall per module when
// dedup is promised, more than one for some module otherwise.
func stormProblems(s report.StormSummary, helper string, dedup bool) []string {
	var out []string
	if s.Helper != helper {
		out = append(out, fmt.Sprintf("the kernel's helper was %q, want %q", s.Helper, helper))
	}
	if s.Procs == 0 {
		out = append(out, "no storm process reported")
	}
	if s.Lost != 0 || s.ProbeMissed != 0 {
		out = append(out, fmt.Sprintf("the trace dropped %d events, the kretprobe missed %d returns", s.Lost, s.ProbeMissed))
	}
	for _, n := range report.StormBarrierNames() {
		if c := s.PerName[n]; c.Processes < s.Procs {
			out = append(out, fmt.Sprintf("%s requested by %d of %d processes", n, c.Processes, s.Procs))
		}
	}
	for _, n := range report.StormRequestNames() {
		if s.PerName[n].Requests == 0 {
			out = append(out, fmt.Sprintf("%s never requested", n))
		}
	}
	if s.Helpers != s.Requests {
		out = append(out, fmt.Sprintf("%d helper executions for %d requests", s.Helpers, s.Requests))
	}
	if len(s.Loaded) == 0 {
		out = append(out, "no storm module loaded")
	}
	if !dedup {
		if s.Duplicates == 0 && s.EEXIST == 0 {
			out = append(out, fmt.Sprintf("no module loaded twice (%d load syscalls): the storm raced nothing", s.LoadSyscalls))
		}
		return out
	}
	if s.Unnamed != 0 {
		out = append(out, fmt.Sprintf("%d load syscalls nobody could name", s.Unnamed))
	}
	// A helper that returns before the module is live leaves its caller
	// without it (kmod's modprobe does, when it finds the module
	// "coming" in sysfs); gudevd's answers once the shared load is done.
	if s.Missing != 0 {
		out = append(out, fmt.Sprintf("%d storm calls found no module after their request", s.Missing))
	}
	for m, c := range s.PerModule {
		if c.Loads != 1 {
			out = append(out, fmt.Sprintf("%d load syscalls for %s (EEXIST %d), want 1", c.Loads, m, c.EEXIST))
		}
	}
	if s.LoadSyscalls != len(s.Loaded) {
		out = append(out, fmt.Sprintf("%d load syscalls for %d storm modules loaded (%v)", s.LoadSyscalls, len(s.Loaded), s.Loaded))
	}
	return out
}

// qemuHarness returns a harness for a test that boots guests. It skips
// under -short or without QEMU's tools, and fails instead of skipping when
// make test requires QEMU (GUDEVD_REQUIRE_QEMU).
func qemuHarness(t *testing.T) *Harness {
	t.Helper()
	if testing.Short() {
		t.Skip("boots QEMU guests for minutes; run without -short")
	}
	for _, tool := range []string{"qemu-system-x86_64", "apt-get", "dpkg-deb", "depmod"} {
		if _, err := exec.LookPath(tool); err != nil {
			// make test sets GUDEVD_REQUIRE_QEMU: there a missing tool is
			// a broken set-up, not a reason to pass.
			if os.Getenv("GUDEVD_REQUIRE_QEMU") != "" {
				t.Fatalf("%s not installed (make deps installs it): %v", tool, err)
			}
			t.Skipf("%s not installed (make deps installs it): %v", tool, err)
		}
	}
	h := &Harness{Cache: CacheDir(), Progress: testWriter{t}}
	t.Cleanup(func() { h.Close() })
	return h
}

// missingFrom returns the elements of want not in have.
func missingFrom(want, have []string) []string {
	h := map[string]bool{}
	for _, m := range have {
		h[m] = true
	}
	var out []string
	for _, m := range want {
		if !h[m] {
			out = append(out, m)
		}
	}
	return out
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
