package qemu

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"github.com/gudevd/gudevd/test/qemu/internal/kmodset"
	"github.com/gudevd/gudevd/test/qemu/internal/report"
)

// TestFaultsOnRealKernel runs every fault scenario on Debian's 6.1 at 4
// vCPUs: each fault must have been injected, no expected module may be
// lost, and no module loaded twice, but for a repeat that follows a load
// the chaos killed inside its failing syscall (KilledDuplicates: the
// outcome died with the worker). A restarted daemon's new attempt at a
// module the machine refuses (RefusedRepeats) is a duplicate too: the
// failed-load ledger in /run keeps refusals across the restart. -short skips it, as it does the other
// guests; GUDEVD_REQUIRE_QEMU makes missing tools a failure.
func TestFaultsOnRealKernel(t *testing.T) {
	h := qemuHarness(t)
	const cpus = 4
	var rows []*FaultResult
	for _, sc := range FaultScenarios {
		t.Run(sc, func(t *testing.T) {
			row, err := h.RunFault(t.Context(), Kernels[0], sc, cpus)
			if err != nil {
				t.Fatal(err)
			}
			rows = append(rows, row)
			for _, p := range faultProblems(row) {
				t.Error(p)
			}
			for _, n := range row.Notes {
				t.Log(n)
			}
		})
	}
	var b strings.Builder
	WriteFaultTable(&b, rows)
	t.Logf("\n%s", b.String())
}

// faultProblems checks one fault row.
func faultProblems(r *FaultResult) []string {
	var out []string
	if r.Injected == 0 {
		out = append(out, fmt.Sprintf("%s: no fault injected: the run proves nothing", r.Fault))
	}
	if len(r.Expected) == 0 || len(r.Loaded) == 0 {
		out = append(out, fmt.Sprintf("%s: %d modules expected, %d loaded: the guest set-up is broken", r.Fault, len(r.Expected), len(r.Loaded)))
	}
	if len(r.Lost) > 0 {
		out = append(out, fmt.Sprintf("%s: lost %v", r.Fault, r.Lost))
	}
	if d := r.Duplicates - r.KilledDuplicates; d != 0 {
		out = append(out, fmt.Sprintf("%s: %d duplicate load syscalls (%v)", r.Fault, d, r.Result.Summary.Duplicated()))
	}
	if r.Result.Summary.Lost != 0 {
		out = append(out, fmt.Sprintf("%s: the trace dropped %d events", r.Fault, r.Result.Summary.Lost))
	}
	switch r.Fault {
	case "fault-enobufs":
		if r.Stats.Resyncs == 0 {
			out = append(out, fmt.Sprintf("%s: %d ENOBUFS and no resync", r.Fault, r.Stats.Overflows))
		}
	case "fault-bad-modules":
		loaded := setOf(r.Loaded)
		for _, m := range badModules() {
			if loaded[m] {
				out = append(out, fmt.Sprintf("%s: broken module %s loaded", r.Fault, m))
			}
		}
	case "fault-restart":
		if len(r.CutInits) > 0 {
			out = append(out, fmt.Sprintf("%s: the killed daemons cut %d module inits short: %v", r.Fault, len(r.CutInits), r.CutInits))
		}
	case "fault-kill-workers":
		// The chaos kills workers between loads: the pool notices an idle
		// one's death when it reaps it, a busy one's in its job.
		if r.Stats.WorkerCrashes+r.Stats.WorkerIdleDeaths == 0 {
			out = append(out, fmt.Sprintf("%s: %d workers killed, the daemon saw no death", r.Fault, r.Injected))
		}
	}
	return out
}

// testDeps is a module tree's modules.dep for faultRow's tests: b needs a,
// c needs b and a, d stands alone, e is refused by the machine and f needs
// it.
const testDeps = `a.ko:
b.ko: a.ko
c.ko: b.ko a.ko
d.ko:
e.ko:
f.ko: e.ko
`

func testSet(t *testing.T) *kmodset.Set {
	t.Helper()
	s, err := kmodset.Load(fstest.MapFS{
		"modules.dep":     {Data: []byte(testDeps)},
		"modules.alias":   {Data: nil},
		"modules.softdep": {Data: nil},
		"modules.builtin": {Data: nil},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestFaultRow computes rows from made-up runs: the broken modules'
// dependants are not expected, a module the machine refuses (and its
// dependants) is not lost, a module neither loaded nor refused is, and a
// forgery that got through is lost too.
func TestFaultRow(t *testing.T) {
	stats := func(dropped, refused uint64) []byte {
		return []byte(fmt.Sprintf(`{"events_dropped_credentials":%d,"enobufs":3,"resyncs":2,"control":{"refused":%d}}`, dropped, refused))
	}
	forge := func(refused bool, sent int) []byte {
		b, _ := json.Marshal(map[string]any{
			"mode": map[string]any{"uid": 65534, "control": []map[string]any{{"request": "load", "connect": "EACCES"}}},
			"peercred": map[string]any{"uid": 65534,
				"control": []map[string]any{{"request": "load", "connect": "ok", "refused": refused}},
				"uevents": []map[string]any{{"channel": "unicast-daemon", "tried": sent, "sent": sent}, {"channel": "multicast-kernel-group", "tried": 2, "refused": map[string]int{"EPERM": 2}}},
			},
		})
		return b
	}
	calls := []report.Call{
		{Module: "a", Ret: 0}, {Module: "b", Ret: 0}, {Module: "e", Ret: -19, Errno: "ENODEV"},
	}
	tests := []struct {
		name     string
		scenario string
		end      []string
		files    map[string][]byte
		calls    []report.Call
		wantExp  []string
		wantRef  []string
		wantLost []string
		wantInj  int
	}{
		{
			name: "enobufs, nothing lost", scenario: "fault-enobufs",
			end: []string{"a", "b", "c", "d"}, calls: calls,
			files:   map[string][]byte{"gudevd-stats.json": stats(0, 0)},
			wantExp: []string{"a", "b", "c", "d", "e", "f"}, wantRef: []string{"e", "f"}, wantInj: 3,
		},
		{
			name: "enobufs, d lost", scenario: "fault-enobufs",
			end: []string{"a", "b", "c"}, calls: calls,
			files:   map[string][]byte{"gudevd-stats.json": stats(0, 0)},
			wantExp: []string{"a", "b", "c", "d", "e", "f"}, wantRef: []string{"e", "f"}, wantLost: []string{"d"}, wantInj: 3,
		},
		{
			name: "interrupted load is lost, not refused", scenario: "fault-enobufs",
			end: []string{"a", "b", "c", "e", "f"}, calls: []report.Call{{Module: "d", Ret: -512, Errno: "ERESTARTSYS"}},
			files:   map[string][]byte{"gudevd-stats.json": stats(0, 0)},
			wantExp: []string{"a", "b", "c", "d", "e", "f"}, wantLost: []string{"d"}, wantInj: 3,
		},
		{
			name: "forged, all refused", scenario: "fault-forged",
			end: []string{"a", "b", "c", "d", "e", "f"},
			files: map[string][]byte{
				"gudevd-stats.json": stats(15, 3), "stats-before.json": stats(10, 2),
				"forge.json": forge(true, 5), "daemon-alive.txt": []byte("alive\n"),
			},
			wantExp: []string{"a", "b", "c", "d", "e", "f"}, wantInj: 9,
		},
		{
			name: "forged, request accepted, uevent not dropped, canary loaded, daemon gone", scenario: "fault-forged",
			end: []string{"a", "b", "c", "d", "e", "f", "minix"},
			files: map[string][]byte{
				"gudevd-stats.json": stats(14, 2), "stats-before.json": stats(10, 2),
				"forge.json": forge(false, 5),
			},
			wantExp: []string{"a", "b", "c", "d", "e", "f"}, wantInj: 9,
			wantLost: []string{
				"forged: load not refused (connect ok, reply )",
				"forged: 5 uevents delivered to the daemon, 4 dropped",
				"forged: 1 control requests reached the daemon, 0 counted refused",
				"forged: canary module minix loaded",
				"forged: the daemon was not running after the forgeries",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := &Result{Report: report.Report{Kernel: "6.1", CPUs: 4, Calls: tt.calls, ModulesEnd: tt.end}, Files: tt.files}
			row, err := faultRow(tt.scenario, []string{"a", "b", "c", "d", "e", "f"}, testSet(t), res)
			if err != nil {
				t.Fatal(err)
			}
			got := struct {
				Expected, Refused, Lost []string
				Injected                int
			}{row.Expected, row.Refused, row.Lost, row.Injected}
			want := struct {
				Expected, Refused, Lost []string
				Injected                int
			}{tt.wantExp, tt.wantRef, tt.wantLost, tt.wantInj}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("row (-want +got):\n%s", diff)
			}
		})
	}
}

// TestFaultRowBadModules: the broken modules and everything that needs
// them are left out of the expected set, whatever the run loaded.
func TestFaultRowBadModules(t *testing.T) {
	set, err := kmodset.Load(fstest.MapFS{
		"modules.dep": {Data: []byte(`i2c-smbus.ko:
i2c-i801.ko: i2c-smbus.ko
failover.ko:
net_failover.ko: failover.ko
virtio_net.ko: net_failover.ko failover.ko
irqbypass.ko:
kvm.ko: irqbypass.ko
e1000.ko:
`)},
		"modules.alias": {}, "modules.softdep": {}, "modules.builtin": {},
	})
	if err != nil {
		t.Fatal(err)
	}
	res := &Result{
		Report: report.Report{ModulesEnd: []string{"e1000"}},
		Files: map[string][]byte{
			"gudevd-stats.json": []byte(`{}`),
			"broken.txt":        []byte("corrupt i2c_smbus x\nhang failover install /bin/sleep 600\ninstall-fails irqbypass install /bin/false\nsleeps left: 99\n"),
		},
	}
	all := []string{"e1000", "failover", "i2c_i801", "i2c_smbus", "irqbypass", "kvm", "net_failover", "virtio_net"}
	row, err := faultRow("fault-bad-modules", all, set, res)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"e1000"}, row.Expected); diff != "" {
		t.Errorf("expected modules (-want +got):\n%s", diff)
	}
	if row.Injected != 3 || len(row.Lost) != 0 {
		t.Errorf("injected %d, lost %v; want 3 and none", row.Injected, row.Lost)
	}
}

// TestGudevdWarnings reads the WARNINGs of a dmesg. The file is cut from
// the dmesg.txt of a 6.1 fault-restart run (`qemu-harness run -kernel 6.1
// -scenario fault-restart -out DIR`) made while the daemon's workers still
// died by a parent-death SIGKILL, which no build makes any more.
func TestGudevdWarnings(t *testing.T) {
	captured, err := os.ReadFile("testdata/dmesg-cut-init.txt")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		dmesg string
		want  []string
	}{
		{"killed workers' crypto registrations", string(captured),
			[]string{"crypto/api.c:174 (pid 182)", "crypto/api.c:170 (pid 185)", "crypto/api.c:174 (pid 647)"}},
		{"another task's warning", "[ 1.0] WARNING: CPU: 0 PID: 9 at mm/x.c:1 f+0x1/0x2\n[ 1.0] Modules linked in: a\n[ 1.0] CPU: 0 PID: 9 Comm: modprobe Not tainted\n", nil},
		{"interleaved reports", "WARNING: CPU: 0 PID: 9 at a.c:1 f\nWARNING: CPU: 1 PID: 10 at b.c:2 g\nCPU: 1 PID: 10 Comm: gudevd Tainted: G W\nCPU: 0 PID: 9 Comm: kworker/0:1 Tainted: G W\n",
			[]string{"b.c:2 (pid 10)"}},
		{"no comm line", "WARNING: CPU: 0 PID: 9 at a.c:1 f\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, gudevdWarnings([]byte(tt.dmesg))); diff != "" {
				t.Errorf("gudevdWarnings (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCutInits: the probe a kill inside ahci's load made fail, cut from
// the dmesg.txt of a 6.1 fault-kill-workers run (`make bench-faults`,
// test/qemu/results/faults/6.1-004-fault-kill-workers), and the WARNINGs
// of gudevd tasks; an ENODEV probe failure is the device's own business.
func TestCutInits(t *testing.T) {
	probe, err := os.ReadFile("testdata/dmesg-probe-cut.txt")
	if err != nil {
		t.Fatal(err)
	}
	warn, err := os.ReadFile("testdata/dmesg-cut-init.txt")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		dmesg []byte
		want  []string
	}{
		{"ahci probe after a kill", probe, []string{
			"scsi host0: error handler thread failed to spawn, error = -4",
			"ahci: probe of 0000:00:1f.2 failed with error -12",
		}},
		{"crypto warnings", warn, []string{"crypto/api.c:174 (pid 182)", "crypto/api.c:170 (pid 185)", "crypto/api.c:174 (pid 647)"}},
		{"ENODEV probe", []byte("[    9.662433] pcc-cpufreq: probe of x failed with error -19\n"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, cutInits(tt.dmesg)); diff != "" {
				t.Errorf("cutInits (-want +got):\n%s", diff)
			}
		})
	}
}

// TestExcuseCuts: after an init cut short, a lost module nothing asked
// the daemon for is put down to the kernel; one the daemon was asked for
// stays lost, and without a cut nothing is excused.
func TestExcuseCuts(t *testing.T) {
	log := []byte(`time=x level=INFO msg="load module" module=ahci result=loaded duration=1s syscall=finit_module
time=x level=WARN msg="load module" module=libata result=failed duration=1s
`)
	tests := []struct {
		name               string
		cuts, lost         []string
		wantLost, wantCuts []string
	}{
		{"cut", []string{"ahci: probe of x failed with error -12"}, []string{"libata", "sd_mod", "t10_pi"}, []string{"libata"}, []string{"sd_mod", "t10_pi"}},
		{"no cut", nil, []string{"libata", "sd_mod"}, []string{"libata", "sd_mod"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			row := &FaultResult{CutInits: tt.cuts, Lost: tt.lost}
			row.excuseCuts(log)
			if diff := cmp.Diff([][]string{tt.wantLost, tt.wantCuts}, [][]string{row.Lost, row.LostToCuts}); diff != "" {
				t.Errorf("lost, lost to cuts (-want +got):\n%s", diff)
			}
		})
	}
}

// TestKilledDuplicates: only a repeat of a failed call made by a worker
// the chaos killed inside a load is put down to the kill.
func TestKilledDuplicates(t *testing.T) {
	calls := []report.Call{
		{Module: "pcc_cpufreq", TGID: 10, Ret: -19, Errno: "ENODEV"},
		{Module: "pcc_cpufreq", TGID: 11, Ret: -19, Errno: "ENODEV"},
		{Module: "e1000", TGID: 10, Ret: 0},
		{Module: "e1000", TGID: 12, Ret: -17, Errno: "EEXIST"},
		{Module: "kvm", TGID: 13, Ret: -19, Errno: "ENODEV"},
		{Module: "kvm", TGID: 14, Ret: -19, Errno: "ENODEV"},
	}
	if got := killedDuplicates(calls, map[int]bool{10: true}); got != 1 {
		t.Errorf("killedDuplicates = %d, want 1 (pcc_cpufreq's repeat)", got)
	}
}

// TestFaultRowRestartDuplicates: in fault-restart a load the kill cut short
// fails with ENOMEM and loads nothing, so its retries are no duplicates; a
// refused module asked again by the restarted daemon is counted apart; a
// second call for a module that had loaded is a duplicate.
func TestFaultRowRestartDuplicates(t *testing.T) {
	stats := []byte(`{"enobufs":0}`)
	restart := []byte("kill first modules=16\nkill second modules=35\n")
	tests := []struct {
		name                 string
		calls                []report.Call
		wantDups, wantRefRep int
	}{
		{"retries after ENOMEM", []report.Call{
			{Module: "a", Ret: -12, Errno: "ENOMEM"}, {Module: "a", Ret: -12, Errno: "ENOMEM"}, {Module: "a"}, {Module: "b"},
		}, 0, 0},
		{"refused asked again", []report.Call{
			{Module: "e", Ret: -19, Errno: "ENODEV"}, {Module: "e", Ret: -19, Errno: "ENODEV"}, {Module: "a"},
		}, 1, 1},
		{"loaded twice", []report.Call{{Module: "a"}, {Module: "a", Ret: -17, Errno: "EEXIST"}}, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := &Result{Report: report.Report{Kernel: "6.1", CPUs: 4, Calls: tt.calls, ModulesEnd: []string{"a", "b", "c", "d"}},
				Files: map[string][]byte{"gudevd-stats.json": stats, "restart.txt": restart}}
			row, err := faultRow("fault-restart", []string{"a", "b", "c", "d", "e", "f"}, testSet(t), res)
			if err != nil {
				t.Fatal(err)
			}
			if row.Duplicates != tt.wantDups || row.RefusedRepeats != tt.wantRefRep {
				t.Errorf("duplicates %d, refused repeats %d; want %d and %d", row.Duplicates, row.RefusedRepeats, tt.wantDups, tt.wantRefRep)
			}
		})
	}
}
