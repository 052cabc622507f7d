package qemu

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
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
//   - alongside: systemd-udevd with gudevd's 80-drivers.rules and gudevd
//     loading the modules;
//   - none: nothing after boot, the kernel's own loads.
var Scenarios = []string{"udevd", "gudevd", "gudevd-scan", "alongside", "none"}

// Result is one scenario run.
type Result struct {
	Report  report.Report
	Summary report.Summary
	Files   map[string][]byte // the guest's /out: trace, dmesg, gudevd log and stats
}

// Run boots kernel k at cpus vCPUs, runs scenario and returns what the
// guest measured.
func (h *Harness) Run(ctx context.Context, k Kernel, scenario string, cpus int) (*Result, error) {
	known := false
	for _, s := range Scenarios {
		known = known || s == scenario
	}
	if !known {
		return nil, fmt.Errorf("run scenario %q: unknown (have %s)", scenario, strings.Join(Scenarios, ", "))
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
	res := &Result{Report: *rep, Summary: report.Summarize(rep, sizes), Files: b.Files}
	return res, nil
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
