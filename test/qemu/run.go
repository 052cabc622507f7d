package qemu

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gudevd/gudevd/test/qemu/internal/kmodset"
	"github.com/gudevd/gudevd/test/qemu/internal/report"
)

// Scenarios are what a guest can run after boot:
//
//   - udevd: systemd-udevd with Debian's packaged rules, coldplug with
//     udevadm trigger (subsystems, then devices) and udevadm settle;
//   - gudevd: gudevd daemon --coldplug, gudevd settle;
//   - gudevd-scan: the same with --coldplug=scan (no uevent writes);
//   - gudevd-udev: gudevd daemon --udev in place of systemd-udevd (its
//     rules, nodes, database, broadcast), coldplugged as udevd is, by
//     udevadm trigger and udevadm settle;
//   - alongside: systemd-udevd with gudevd's 80-drivers.rules and gudevd
//     loading the modules;
//   - none: nothing after boot, the kernel's own loads;
//   - oracle: the floor, no device manager and no uevents: guesttool
//     oracle knows the final module set in advance (the coldplug set of
//     testdata/modules-<kernel>.txt) and loads each module once, as soon as
//     its dependencies have finished, all independent loads at once.
var Scenarios = []string{"udevd", "gudevd", "gudevd-scan", "gudevd-udev", "alongside", "none", "oracle"}

// StormScenarios are the request storms (report.StormActions): after the
// same gudevd coldplug, one process per vCPU makes the kernel request the
// same modules at once, with the kernel's helper
// (/proc/sys/kernel/modprobe) being
//
//   - storm-kmod: kmod's /sbin/modprobe, as Debian ships it;
//   - storm-gudevd: gudevd's link (gudevd daemon --kernel-modprobe), which
//     asks the daemon.
var StormScenarios = []string{"storm-kmod", "storm-gudevd"}

func isStorm(scenario string) bool {
	for _, s := range StormScenarios {
		if s == scenario {
			return true
		}
	}
	return false
}

// Result is one scenario run.
type Result struct {
	Report  report.Report
	Summary report.Summary
	Storm   *report.StormSummary // request storms only
	Memory  *report.MemoryPeak   // the memory sampler's peaks, coldplug scenarios only
	Files   map[string][]byte    // the guest's /out: trace, dmesg, gudevd log and stats
	Stalls  []string             // emulator stalls of earlier boots of this run (VM.Run booted again)
}

// Run boots kernel k at cpus vCPUs, runs scenario and returns what the
// guest measured.
func (h *Harness) Run(ctx context.Context, k Kernel, scenario string, cpus int) (*Result, error) {
	known := isStorm(scenario) || isFault(scenario)
	for _, s := range Scenarios {
		known = known || s == scenario
	}
	if !known {
		return nil, fmt.Errorf("run scenario %q: unknown (have %s, %s)", scenario, strings.Join(Scenarios, ", "), strings.Join(StormScenarios, ", "))
	}
	mods, err := h.ModuleSet(ctx, k)
	if err != nil {
		return nil, err
	}
	t, err := h.kernelTree(ctx, k)
	if err != nil {
		return nil, err
	}
	b, err := h.boot(ctx, t, mods, scenario, cpus, true)
	if err != nil {
		return nil, fmt.Errorf("run %s on %s at %d vCPUs: %w", scenario, k.Name, cpus, err)
	}
	rep, err := parseReport(b.Console)
	if err != nil {
		return nil, fmt.Errorf("run %s on %s at %d vCPUs: %w; last console lines:\n%s", scenario, k.Name, cpus, err, tail(b.Console, 25))
	}
	rep.Kernel = k.Name
	if rep.SettleExit != 0 {
		return nil, fmt.Errorf("run %s on %s at %d vCPUs: %w: settle exited %d, the event queue never drained; last console lines:\n%s",
			scenario, k.Name, cpus, ErrGuestFailed, rep.SettleExit, tail(b.Console, 25))
	}
	sizes := moduleSizes(t)
	res := &Result{Report: *rep, Summary: report.Summarize(rep, sizes), Files: b.Files, Stalls: b.Stalls}
	if res.Memory, err = memoryPeak(rep, b.Files); err != nil {
		return nil, fmt.Errorf("run %s on %s at %d vCPUs: %w", scenario, k.Name, cpus, err)
	}
	if isStorm(scenario) {
		st, err := stormSummary(t, rep, b.Files)
		if err != nil {
			return nil, fmt.Errorf("run %s on %s at %d vCPUs: %w; last console lines:\n%s", scenario, k.Name, cpus, err, tail(b.Console, 25))
		}
		res.Storm = st
	}
	return res, nil
}

// stormSummary counts a request storm from the guest's files: the storm
// program's result, and the trace, parsed here for the requests and helper
// runs (the console report carries only the load syscalls). Request names
// are resolved with kmodset over the kernel's tree, not by the code under
// test.
func stormSummary(t *kernelTree, rep *report.Report, files map[string][]byte) (*report.StormSummary, error) {
	raw, ok := files["storm.json"]
	if !ok {
		return nil, fmt.Errorf("%w: the storm program wrote no result", ErrGuestFailed)
	}
	var st report.Storm
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, fmt.Errorf("%w: decode storm result: %v", ErrGuestFailed, err)
	}
	reqs, helpers, rets, err := report.ParseRequests(bytes.NewReader(files["trace.txt"]))
	if err != nil {
		return nil, err
	}
	set, err := kmodset.Load(os.DirFS(t.ModDir))
	if err != nil {
		return nil, err
	}
	helper, _, _ := strings.Cut(string(files["helper.txt"]), "\n")
	s := report.SummarizeStorm(report.StormInput{
		Report: rep, Storm: &st, Requests: reqs, Helpers: helpers, Returns: rets,
		Helper:      strings.TrimSpace(helper),
		ProbeMissed: probeMissed(files["kprobe_profile.txt"], "reqret"),
		Resolve:     set.Match,
	})
	return &s, nil
}

// memoryPeak reduces the guest sampler's series (guesttool sample,
// /out/mem.json) to its peaks from coldplug start on; nil if the scenario
// ran no sampler.
func memoryPeak(rep *report.Report, files map[string][]byte) (*report.MemoryPeak, error) {
	raw, ok := files["mem.json"]
	if !ok {
		return nil, nil
	}
	var s report.MemorySeries
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("%w: decode memory samples: %v", ErrGuestFailed, err)
	}
	p := report.PeakMemory(s, rep.Start)
	return &p, nil
}

// parseReport finds the JSON report between the markers on the console.
func parseReport(console []byte) (*report.Report, error) {
	s := strings.ReplaceAll(string(console), "\r", "")
	i := strings.Index(s, "GUDEVD-REPORT-BEGIN\n")
	if i < 0 {
		return nil, fmt.Errorf("%w: no GUDEVD-REPORT-BEGIN on the console", ErrGuestFailed)
	}
	s = s[i+len("GUDEVD-REPORT-BEGIN\n"):]
	j := strings.Index(s, "GUDEVD-REPORT-END")
	if j < 0 {
		return nil, fmt.Errorf("%w: report not terminated", ErrGuestFailed)
	}
	var r report.Report
	dec := json.NewDecoder(bytes.NewReader([]byte(s[:j])))
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%w: decode report: %v", ErrGuestFailed, err)
	}
	return &r, nil
}

// moduleSizes returns the size of each module's file, which finit_module
// reads whole before it can find out the module is a duplicate.
func moduleSizes(t *kernelTree) func(string) int64 {
	set, err := kmodset.Load(os.DirFS(t.ModDir))
	if err != nil {
		return nil
	}
	return func(name string) int64 {
		p, ok := set.Path(name)
		if !ok {
			return 0
		}
		fi, err := os.Stat(filepath.Join(t.ModDir, p))
		if err != nil {
			return 0
		}
		return fi.Size()
	}
}

// probeMissed reads an event's missed count from kprobe_profile, whose
// lines are "EVENT HITS MISSED".
func probeMissed(profile []byte, event string) int64 {
	for _, l := range strings.Split(string(profile), "\n") {
		f := strings.Fields(l)
		if len(f) == 3 && f[0] == event {
			n, _ := strconv.ParseInt(f[2], 10, 64)
			return n
		}
	}
	return 0
}
