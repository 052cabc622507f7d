package qemu

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/gudevd/gudevd/test/qemu/internal/kmodset"
	"github.com/gudevd/gudevd/test/qemu/internal/report"
)

// FaultScenarios are the fault scenarios (guest/faults.sh): a gudevd
// coldplug with one fault injected, after which no module may be lost and
// none loaded twice.
//
//   - fault-kill-workers: guesttool chaos SIGKILLs random `gudevd worker`
//     processes during coldplug (at most 12, 0.2-2 s apart);
//   - fault-enobufs: the daemon's uevent socket gets a 4 KiB receive
//     queue (--receive-buffer=4096), so the coldplug trigger overflows it
//     and the daemon must resynchronise from sysfs;
//   - fault-bad-modules: one module's file corrupted, one module's load
//     hung (an install line that sleeps: no stock module's init blocks),
//     one failing install line (badModules); only they and their
//     dependants may stay unloaded;
//   - fault-restart: the daemon SIGKILLed mid-coldplug twice and restarted
//     with --coldplug=scan each time;
//   - fault-forged: an unprivileged process sends forged uevents and
//     control requests (guesttool forge); none may be accepted.
var FaultScenarios = []string{"fault-kill-workers", "fault-enobufs", "fault-bad-modules", "fault-restart", "fault-forged"}

func isFault(scenario string) bool { return slices.Contains(FaultScenarios, scenario) }

// badModules are what fault-bad-modules breaks, as guest/faults.sh does:
// i2c_smbus's file corrupted, failover's load hung, irqbypass's install
// line failing. Each is in both kernels' module sets and has dependants
// there (i2c_i801; net_failover and virtio_net; kvm and kvm_amd).
func badModules() []string { return []string{"i2c_smbus", "failover", "irqbypass"} }

// forgeCanaries are the modules the forged messages ask for (guesttool
// forge): in the image for the request storms, and asked for by no device.
func forgeCanaries() []string {
	return []string{"minix", "can", "can_raw", "md4", "af_alg", "algif_hash"}
}

// FaultStats are the counters of `gudevd stats --json` a fault row shows
// (the daemon's control.Stats, read without importing it).
type FaultStats struct {
	EventsReceived     uint64            `json:"events_received"`
	EventsDroppedCreds uint64            `json:"events_dropped_credentials"`
	EventsMalformed    uint64            `json:"events_malformed"`
	Overflows          uint64            `json:"enobufs"`
	Resyncs            uint64            `json:"resyncs"`
	LoadRetries        uint64            `json:"load_retries"`
	WorkerCrashes      uint64            `json:"worker_crashes"`
	WorkerIdleDeaths   uint64            `json:"worker_idle_deaths"`
	WorkerTimeouts     uint64            `json:"worker_timeouts"`
	LoadSyscalls       map[string]uint64 `json:"load_syscalls"`
	Failed             map[string]string `json:"failed"`
	Control            struct {
		Requests  uint64 `json:"requests"`
		Refused   uint64 `json:"refused"`
		Malformed uint64 `json:"malformed"`
	} `json:"control"`
}

// FaultResult is one row of the faults table.
type FaultResult struct {
	Fault  string
	Kernel string
	CPUs   int
	// Injected counts the faults: workers killed, ENOBUFS reports, modules
	// broken, daemons killed, forged messages sent.
	Injected int
	// Expected are the modules that must be loaded at the end: the
	// coldplug set (testdata/coldplug-<kernel>.txt) without the modules
	// broken on purpose and their dependants (kmodset over the tree).
	Expected []string
	// Loaded are the modules in /proc/modules at the end and not at the
	// start.
	Loaded []string
	// Refused are expected modules the kernel refused on this machine for
	// their own reasons, with their dependants: a load syscall failed with
	// the module's own error (ENODEV: no AMD CPU for kvm_amd) and the
	// module is not loaded. A fault-free coldplug refuses them too.
	Refused []string
	// Duplicates are load syscalls beyond the first for a module, but
	// for those after a load that loaded nothing (duplicateLoads).
	Duplicates int
	// KilledDuplicates are the Duplicates that follow a load the chaos
	// killed inside its syscall and that failed: the worker died with the
	// outcome (SIGKILL takes effect when finit_module returns), the module
	// is absent afterwards, and the daemon cannot tell that from a load
	// never made, so its retry makes the syscall again.
	KilledDuplicates int
	// RefusedRepeats are the Duplicates, in fault-restart, of modules the
	// machine refuses (Refused): a failed load leaves nothing in
	// /sys/module to learn from, so a restarted daemon asks again unless
	// the failed-load ledger in /run kept the refusal. They are counted
	// apart to name the cause; TestFaultsOnRealKernel fails on them.
	RefusedRepeats int
	// Lost are expected modules neither loaded nor refused, and for
	// fault-forged every forged message that got through ("forged: ...").
	Lost []string
	// CutInits are what dmesg shows of module inits that met a fatal
	// signal pending on their loader (cutInits): the chaos's kills inside
	// a load cause them; a killed daemon must not.
	CutInits []string
	// LostToCuts are the expected modules that are not loaded because an
	// init was cut short in the kernel: nothing asked the daemon for them
	// (a probe the kill made fail left its device out, so no uevent
	// named them), in a run with CutInits. Lost keeps any other.
	LostToCuts []string
	Stats      FaultStats
	// Notes say what the guest saw of the injection.
	Notes  []string
	Result *Result
}

// RunFault boots kernel k at cpus vCPUs, runs one fault scenario and
// computes its row: the module set it expects from the kernel's tree, not
// from anything the daemon says.
func (h *Harness) RunFault(ctx context.Context, k Kernel, scenario string, cpus int) (*FaultResult, error) {
	if !isFault(scenario) {
		return nil, fmt.Errorf("run fault %q: unknown (have %s)", scenario, strings.Join(FaultScenarios, ", "))
	}
	coldplug, err := os.ReadFile(coldplugSetFile(k))
	if err != nil {
		return nil, fmt.Errorf("run fault %s: read the coldplug set: %w", scenario, err)
	}
	_, set, err := h.moduleIndex(ctx, k)
	if err != nil {
		return nil, err
	}
	res, err := h.Run(ctx, k, scenario, cpus)
	if err != nil {
		return nil, err
	}
	row, err := faultRow(scenario, strings.Fields(string(coldplug)), set, res)
	if err != nil {
		return nil, fmt.Errorf("run %s on %s at %d vCPUs: %w", scenario, k.Name, cpus, err)
	}
	return row, nil
}

// faultRow computes a row from a run's report and files.
func faultRow(scenario string, coldplug []string, set *kmodset.Set, res *Result) (*FaultResult, error) {
	rep := &res.Report
	row := &FaultResult{
		Fault: scenario, Kernel: rep.Kernel, CPUs: rep.CPUs,
		Loaded: report.NewModules(rep), Duplicates: len(duplicateLoads(rep.Calls)), Result: res,
	}
	if err := decodeFile(res.Files, "gudevd-stats.json", &row.Stats); err != nil {
		return nil, err
	}
	var broken []string
	if scenario == "fault-bad-modules" {
		broken = badModules()
	}
	row.Expected = withoutDependants(coldplug, broken, set)
	row.Refused = refusedModules(rep, row.Expected, set)
	loaded := setOf(row.Loaded)
	refused := setOf(row.Refused)
	for _, m := range row.Expected {
		if !loaded[m] && !refused[m] {
			row.Lost = append(row.Lost, m)
		}
	}
	if err := row.injected(res.Files); err != nil {
		return nil, err
	}
	row.CutInits = cutInits(res.Files["dmesg.txt"])
	row.excuseCuts(res.Files["gudevd.log"])
	if len(row.CutInits) > 0 {
		row.Notes = append(row.Notes, fmt.Sprintf("inits cut short: %s; never asked for since: %v", strings.Join(row.CutInits, "; "), row.LostToCuts))
	}
	if scenario == "fault-restart" {
		for _, m := range duplicateLoads(rep.Calls) {
			if refused[m] {
				row.RefusedRepeats++
			}
		}
	}
	return row, nil
}

// injected counts the faults the guest injected and, for the forged
// scenario, adds what got through to Lost.
func (row *FaultResult) injected(files map[string][]byte) error {
	switch row.Fault {
	case "fault-kill-workers":
		var c struct {
			Kills []struct {
				PID    int  `json:"pid"`
				InLoad bool `json:"in_load"`
			} `json:"kills"`
		}
		if err := decodeFile(files, "chaos.json", &c); err != nil {
			return err
		}
		row.Injected = len(c.Kills)
		inLoad := 0
		killed := map[int]bool{}
		for _, k := range c.Kills {
			if k.InLoad {
				inLoad++
				killed[k.PID] = true
			}
		}
		row.KilledDuplicates = killedDuplicates(row.Result.Report.Calls, killed)
		row.Notes = append(row.Notes, fmt.Sprintf("%d workers SIGKILLed, %d of them inside a load syscall", len(c.Kills), inLoad))
	case "fault-enobufs":
		row.Injected = int(row.Stats.Overflows)
		row.Notes = append(row.Notes, fmt.Sprintf("%d ENOBUFS, %d resyncs", row.Stats.Overflows, row.Stats.Resyncs))
	case "fault-bad-modules":
		lines := fileLines(files["broken.txt"])
		for _, l := range lines {
			if !strings.HasPrefix(l, "sleeps left") {
				row.Injected++
			}
		}
		row.Notes = append(row.Notes, lines...)
	case "fault-restart":
		lines := fileLines(files["restart.txt"])
		for _, l := range lines {
			if strings.HasPrefix(l, "kill ") {
				row.Injected++
			}
		}
		row.Notes = append(row.Notes, lines...)
	case "fault-forged":
		return row.forged(files)
	}
	return nil
}

// kernelWarning is the first line of a WARN() report (include/asm-generic/
// bug.h, __warn): "WARNING: CPU: 1 PID: 182 at crypto/api.c:174 func+0x..".
// The task's name follows a few lines later in "CPU: 1 PID: 182 Comm:
// gudevd Not tainted ...".
var (
	kernelWarning = regexp.MustCompile(`WARNING: CPU: \d+ PID: (\d+) at (\S+)`)
	warningTask   = regexp.MustCompile(`CPU: \d+ PID: (\d+) Comm: (\S+)`)
)

// probeCut matches a driver's probe failing with EINTR, ENOMEM or
// ERESTARTSYS, the errors a fatal signal pending on the loading task
// makes (kthread_create is killable, vmalloc gives up): "ahci: probe of
// 0000:00:1f.2 failed with error -12", after "scsi host0: error handler
// thread failed to spawn, error = -4" on 6.1 when a worker inside ahci's
// load was killed.
var probeCut = regexp.MustCompile(`probe of \S+ failed with error -(4|12|512)$|failed to spawn, error = -4$`)

// cutInits returns the signs in a dmesg of module inits cut short: the
// WARNINGs raised in gudevd tasks, then the probes failing as a fatal
// signal makes them fail, each line without its timestamp.
func cutInits(dmesg []byte) []string {
	out := gudevdWarnings(dmesg)
	for _, l := range strings.Split(string(dmesg), "\n") {
		l = strings.TrimSpace(l)
		if probeCut.MatchString(l) {
			if _, rest, ok := strings.Cut(l, "] "); ok {
				l = rest
			}
			out = append(out, l)
		}
	}
	return out
}

// excuseCuts moves from Lost to LostToCuts the modules that nothing asked
// the daemon for, when the kernel cut an init short: the daemon logs
// `msg="load module" module=NAME` for every module it was asked to load.
func (row *FaultResult) excuseCuts(log []byte) {
	if len(row.CutInits) == 0 || len(row.Lost) == 0 {
		return
	}
	asked := map[string]bool{}
	for _, l := range strings.Split(string(log), "\n") {
		if !strings.Contains(l, `msg="load module"`) {
			continue
		}
		for _, f := range strings.Fields(l) {
			if m, ok := strings.CutPrefix(f, "module="); ok {
				asked[m] = true
			}
		}
	}
	var lost []string
	for _, m := range row.Lost {
		if asked[m] {
			lost = append(lost, m)
		} else {
			row.LostToCuts = append(row.LostToCuts, m)
		}
	}
	row.Lost = lost
}

// gudevdWarnings returns the WARNINGs of a dmesg raised in a task named
// gudevd (the daemon or a worker), as "LOCATION (pid N)".
func gudevdWarnings(dmesg []byte) []string {
	var out []string
	pending := map[string]string{} // pid -> location, until its Comm line
	for _, l := range strings.Split(string(dmesg), "\n") {
		if m := kernelWarning.FindStringSubmatch(l); m != nil {
			pending[m[1]] = m[2]
			continue
		}
		m := warningTask.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		if loc, ok := pending[m[1]]; ok {
			delete(pending, m[1])
			if m[2] == "gudevd" {
				out = append(out, fmt.Sprintf("%s (pid %s)", loc, m[1]))
			}
		}
	}
	return out
}

// killedDuplicates counts the load syscalls that repeat a failed one made
// by a worker killed inside a load syscall (its tgid in killed).
func killedDuplicates(calls []report.Call, killed map[int]bool) int {
	first := map[string]report.Call{}
	n := 0
	for _, c := range calls {
		if c.Module == "" {
			continue
		}
		f, seen := first[c.Module]
		if !seen {
			first[c.Module] = c
			continue
		}
		if killed[f.TGID] && f.Ret < 0 && f.Errno != "ENOMEM" && f.Errno != "EAGAIN" {
			n++ // an ENOMEM load loaded nothing: not a duplicate at all
		}
	}
	return n
}

// duplicateLoads returns the modules loaded again after a load that was
// not a transient failure. gudevd retries a load that failed with ENOMEM or
// EAGAIN, which loaded nothing; any other second call is a duplicate. A
// load cut short by a SIGKILL (a daemon killed with its workers) fails
// with ENOMEM too: vmalloc gives up on a fatal signal.
func duplicateLoads(calls []report.Call) []string {
	settled := map[string]bool{}
	var dups []string
	for _, c := range calls {
		if c.Module == "" {
			continue
		}
		if settled[c.Module] {
			dups = append(dups, c.Module)
		}
		if c.Errno != "ENOMEM" && c.Errno != "EAGAIN" {
			settled[c.Module] = true
		}
	}
	return dups
}

// forgeFile is what guesttool forge writes (/out/forge.json), as far as
// the host reads it.
type forgeFile struct {
	Mode     forgeChild    `json:"mode"`
	Peercred forgeChild    `json:"peercred"`
	Root     []forgeUevent `json:"root"`
}

type forgeChild struct {
	UID     int `json:"uid"`
	Control []struct {
		Request string `json:"request"`
		Connect string `json:"connect"`
		Reply   string `json:"reply"`
		Refused bool   `json:"refused"`
	} `json:"control"`
	Uevents []forgeUevent `json:"uevents"`
}

type forgeUevent struct {
	Channel string         `json:"channel"`
	Tried   int            `json:"tried"`
	Sent    int            `json:"sent"`
	Refused map[string]int `json:"refused"`
	Acks    map[string]int `json:"acks"`
}

// forged counts the forged messages and every one that got through: a
// control request the socket's mode let in or the daemon did not refuse,
// a uevent delivered to the daemon that it did not drop, a canary module
// loaded, the daemon gone.
func (row *FaultResult) forged(files map[string][]byte) error {
	var f forgeFile
	if err := decodeFile(files, "forge.json", &f); err != nil {
		return err
	}
	var before FaultStats
	if err := decodeFile(files, "stats-before.json", &before); err != nil {
		return err
	}
	for _, c := range []forgeChild{f.Mode, f.Peercred} {
		if c.UID == 0 {
			row.Lost = append(row.Lost, "forged: the forging process ran as root")
		}
	}
	for _, c := range f.Mode.Control {
		row.Injected++
		if c.Connect != "EACCES" && !c.Refused {
			row.Lost = append(row.Lost, fmt.Sprintf("forged: %s reached the 0600 socket (connect %s, reply %s)", c.Request, c.Connect, c.Reply))
		}
	}
	for _, c := range f.Peercred.Control {
		row.Injected++
		if !c.Refused {
			row.Lost = append(row.Lost, fmt.Sprintf("forged: %s not refused (connect %s, reply %s)", c.Request, c.Connect, c.Reply))
		}
	}
	// Every datagram the kernel delivered to the daemon's socket must be
	// counted as dropped: unicast ones (a port other than the kernel's)
	// and any multicast one on the kernel's group.
	delivered := 0
	for who, us := range map[string][]forgeUevent{"uid 65534": f.Peercred.Uevents, "root": f.Root} {
		for _, u := range us {
			row.Injected += u.Tried
			if u.Channel != "multicast-udev-group" && u.Channel != "kernel-port-0" {
				delivered += u.Sent
			}
			row.Notes = append(row.Notes, fmt.Sprintf("%s %s: %d sent of %d, refused %v, acks %v", who, u.Channel, u.Sent, u.Tried, u.Refused, u.Acks))
		}
	}
	sort.Strings(row.Notes)
	dropped := int(row.Stats.EventsDroppedCreds - before.EventsDroppedCreds)
	if dropped < delivered {
		row.Lost = append(row.Lost, fmt.Sprintf("forged: %d uevents delivered to the daemon, %d dropped", delivered, dropped))
	}
	refused := int(row.Stats.Control.Refused - before.Control.Refused)
	if refused < len(f.Peercred.Control) {
		row.Lost = append(row.Lost, fmt.Sprintf("forged: %d control requests reached the daemon, %d counted refused", len(f.Peercred.Control), refused))
	}
	row.Notes = append(row.Notes, fmt.Sprintf("daemon: %d uevents dropped (credentials), %d control connections refused", dropped, refused))
	loaded := setOf(row.Loaded)
	for _, m := range forgeCanaries() {
		if loaded[m] {
			row.Lost = append(row.Lost, "forged: canary module "+m+" loaded")
		}
	}
	if _, ok := files["daemon-alive.txt"]; !ok {
		row.Lost = append(row.Lost, "forged: the daemon was not running after the forgeries")
	}
	return nil
}

// withoutDependants returns the modules of set that are neither broken nor
// need a broken module (modules.dep lists every dependency, transitively).
func withoutDependants(mods, broken []string, set *kmodset.Set) []string {
	bad := setOf(broken)
	var out []string
	for _, m := range mods {
		if bad[m] || slices.ContainsFunc(set.Deps(m), func(d string) bool { return bad[d] }) {
			continue
		}
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}

// interrupted reports the errnos that say nothing about a module: a load
// cut short by a signal, or the kernel short of memory. A module whose
// loads failed only so and is not loaded was lost, not refused.
func interrupted(errno string) bool {
	switch errno {
	case "EINTR", "ERESTARTSYS", "ERESTARTNOINTR", "ENOMEM", "EAGAIN":
		return true
	}
	return false
}

// refusedModules returns the expected modules the kernel refused for their
// own reasons, with their dependants: a load syscall for the module failed
// with an error of its own (not interrupted) and the module is not loaded
// at the end. pcc_cpufreq's init fails with EEXIST when acpi_cpufreq
// registered first: an EEXIST on a module that is not loaded is such a
// refusal, not a duplicate.
func refusedModules(rep *report.Report, expected []string, set *kmodset.Set) []string {
	end := setOf(rep.ModulesEnd)
	var own []string
	for _, c := range rep.Calls {
		if c.Module != "" && c.Ret < 0 && !interrupted(c.Errno) && !end[c.Module] {
			own = append(own, c.Module)
		}
	}
	exp := setOf(expected)
	ok := setOf(withoutDependants(expected, own, set))
	var out []string
	for m := range exp {
		if !ok[m] {
			out = append(out, m)
		}
	}
	sort.Strings(out)
	return out
}

func setOf(l []string) map[string]bool {
	m := make(map[string]bool, len(l))
	for _, s := range l {
		m[s] = true
	}
	return m
}

func decodeFile(files map[string][]byte, name string, v any) error {
	b, ok := files[name]
	if !ok {
		return fmt.Errorf("%w: the guest wrote no %s", ErrGuestFailed, name)
	}
	if err := json.Unmarshal(bytes.TrimSpace(b), v); err != nil {
		return fmt.Errorf("%w: decode %s: %v", ErrGuestFailed, name, err)
	}
	return nil
}

func fileLines(b []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// WriteFaultTable writes the faults table in markdown, one row per run.
func WriteFaultTable(w io.Writer, rows []*FaultResult) error {
	var b strings.Builder
	b.WriteString("| kernel | vCPUs | fault | injected | modules expected | loaded | refused by the kernel | duplicate syscalls | inits cut short | events lost |\n")
	b.WriteString("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		dups := fmt.Sprint(r.Duplicates)
		if r.KilledDuplicates > 0 {
			dups += fmt.Sprintf(" (%d after a kill inside a failing load)", r.KilledDuplicates)
		}
		if r.RefusedRepeats > 0 {
			dups += fmt.Sprintf(" (%d: refused modules asked again by a restarted daemon)", r.RefusedRepeats)
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %d | %d | %d | %d | %s | %d | %s |\n",
			r.Kernel, r.CPUs, r.Fault, r.Injected, len(r.Expected), countIn(r.Expected, r.Loaded), len(r.Refused), dups, len(r.CutInits), lostCell(r))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// lostCell is the events lost column: the losses, and apart those behind
// an init the kernel cut short.
func lostCell(r *FaultResult) string {
	if len(r.LostToCuts) == 0 {
		return fmt.Sprint(len(r.Lost))
	}
	return fmt.Sprintf("%d (+%d never asked for: %s)", len(r.Lost), len(r.LostToCuts), strings.Join(r.LostToCuts, " "))
}

// countIn counts the elements of want in have.
func countIn(want, have []string) int {
	h := setOf(have)
	n := 0
	for _, m := range want {
		if h[m] {
			n++
		}
	}
	return n
}
