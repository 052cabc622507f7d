package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gudevd/gudevd/test/qemu"
	"github.com/gudevd/gudevd/test/qemu/internal/report"
)

// limitScenarios are the coldplugs the limit bench puts side by side: the
// oracle (a static loader, the known module set in dependency order, no
// uevents: how fast these modules can load at all), then the managers.
func limitScenarios() []string { return []string{"oracle", "udevd", "gudevd", "gudevd-scan"} }

// cmdBenchLimit measures where the time of a coldplug goes: per kernel,
// vCPU count and scenario, each load syscall's start and end, the kernel
// time in loads, how many ran at once, the dependency DAG's critical path
// and the gap from the last load to settled. It writes OUT/limit.md and
// one OUT/limit-KERNEL-NNN.svg per kernel and vCPU count, resumable like
// cmdBench (runs/limit-KERNEL-NNN-SCENARIO.json, and the guest's files
// with the report in runs/limit-KERNEL-NNN-SCENARIO/). With reportOnly
// the timelines are computed again from the kept traces.
//
// A scenario may carry flags, "gudevd-scan+load-workers=16": the guest
// runs gudevd-scan with --load-workers=16 added to its gudevd daemon (see
// variant), so a policy and its change run side by side in one bench; an
// oracle's flags go to guesttool oracle ("oracle+jobs=8").
func cmdBenchLimit(ctx context.Context, h *qemu.Harness, kernels, scenarios []string, cpuList, out string, resume, reportOnly bool) error {
	if len(scenarios) == 0 {
		scenarios = limitScenarios()
	}
	counts, err := parseCounts(cpuList)
	if err != nil {
		return err
	}
	deps := depsCache{h: h, byKernel: map[string]func(string) []string{}}
	if reportOnly {
		if err := reanalyzeLimits(ctx, filepath.Join(out, "runs"), &deps); err != nil {
			return err
		}
	}
	l := benchLoop[qemu.TimelineRun]{
		h: h, kernels: kernels, scenarios: scenarios, counts: counts, out: out, resume: resume, reportOnly: reportOnly,
		name: limitName,
		boot: func(ctx context.Context, k qemu.Kernel, sc string, n int) (qemu.TimelineRun, map[string][]byte, error) {
			d, err := deps.of(ctx, k)
			if err != nil {
				return qemu.TimelineRun{}, nil, err
			}
			res, err := runVariant(ctx, h, k, sc, n)
			if err != nil {
				return qemu.TimelineRun{}, nil, err
			}
			files, err := qemu.KeptFiles(res)
			return qemu.NewTimelineRun(res, d), files, err
		},
		write: func(runs []qemu.TimelineRun) error { return writeLimit(out, runs) },
	}
	if err := l.run(ctx); err != nil {
		return err
	}
	fmt.Printf("wrote %s and %s\n", filepath.Join(out, "limit.md"), filepath.Join(out, "limit-KERNEL-NNN.svg"))
	return l.failure()
}

// variant splits a bench scenario "NAME+FLAG=V+..." into the guest's
// scenario and the flags added to its gudevd daemon ("--FLAG=V").
func variant(spec string) (scenario string, flags []string) {
	parts := strings.Split(spec, "+")
	for _, f := range parts[1:] {
		flags = append(flags, "--"+f)
	}
	return parts[0], flags
}

// runVariant runs one bench scenario, variant flags and all; the run's
// summary is labelled with the whole spec.
func runVariant(ctx context.Context, h *qemu.Harness, k qemu.Kernel, spec string, cpus int) (*qemu.Result, error) {
	sc, flags := variant(spec)
	base := h.DaemonFlags
	h.DaemonFlags = append(slices.Clip(base), flags...)
	defer func() { h.DaemonFlags = base }()
	res, err := h.Run(ctx, k, sc, cpus)
	if err != nil {
		return nil, err
	}
	res.Summary.Scenario = spec
	return res, nil
}

func limitName(k qemu.Kernel, n int, sc string) string {
	return fmt.Sprintf("limit-%s-%03d-%s", k.Name, n, sc)
}

// depsCache reads each kernel's modules.dep once.
type depsCache struct {
	h        *qemu.Harness
	byKernel map[string]func(string) []string
}

func (c *depsCache) of(ctx context.Context, k qemu.Kernel) (func(string) []string, error) {
	if d, ok := c.byKernel[k.Name]; ok {
		return d, nil
	}
	d, err := c.h.ModuleDeps(ctx, k)
	if err != nil {
		return nil, err
	}
	c.byKernel[k.Name] = d
	return d, nil
}

// reanalyzeLimits rewrites the timeline of every runs/limit-KERNEL-NNN-
// SCENARIO.json from the report and trace kept in the directory of the
// same name; the summary and memory stay as the run saved them.
func reanalyzeLimits(ctx context.Context, runs string, deps *depsCache) error {
	dirs, _ := filepath.Glob(filepath.Join(runs, "limit-*-*-*"))
	for _, dir := range dirs {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			continue
		}
		if err := reanalyzeLimit(ctx, dir, deps); err != nil {
			return fmt.Errorf("reanalyze %s: %w", dir, err)
		}
	}
	return nil
}

func reanalyzeLimit(ctx context.Context, dir string, deps *depsCache) error {
	parts := strings.SplitN(filepath.Base(dir), "-", 4) // limit, kernel, vCPUs, scenario
	k, err := qemu.KernelByName(parts[1])
	if err != nil {
		return err
	}
	d, err := deps.of(ctx, k)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(dir + ".json")
	if err != nil {
		return err
	}
	var run qemu.TimelineRun
	if err := json.Unmarshal(b, &run); err != nil {
		return fmt.Errorf("decode %s.json: %w", dir, err)
	}
	files, err := report.ReadRun(dir)
	if err != nil {
		return err
	}
	rep, err := qemu.KeptReport(files)
	if err != nil {
		return err
	}
	run.Timeline = report.Analyze(rep, d)
	if b, err = json.MarshalIndent(run, "", "  "); err != nil {
		return err
	}
	return os.WriteFile(dir+".json", b, 0o644)
}

// writeLimit writes OUT/limit.md and one OUT/limit-KERNEL-NNN.svg per
// kernel and vCPU count, its scenarios stacked in the bench's order.
func writeLimit(out string, runs []qemu.TimelineRun) error {
	if err := writeFile(filepath.Join(out, "limit.md"), func(w io.Writer) error { return qemu.WriteTimelineTable(w, runs) }); err != nil {
		return err
	}
	type key struct {
		kernel string
		cpus   int
	}
	groups := map[key][]qemu.TimelineRun{}
	var keys []key
	for _, r := range runs {
		k := key{r.Summary.Kernel, r.Summary.CPUs}
		if groups[k] == nil {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], r)
	}
	for _, k := range keys {
		title := fmt.Sprintf("Where the coldplug's time goes: Debian %s kernel, %d vCPUs (QEMU TCG), every load syscall from tracefs", k.kernel, k.cpus)
		p := filepath.Join(out, fmt.Sprintf("limit-%s-%03d.svg", k.kernel, k.cpus))
		if err := writeFile(p, func(w io.Writer) error { return qemu.WriteTimelineSVG(w, title, groups[k]) }); err != nil {
			return err
		}
	}
	return nil
}

// writeFile creates path and writes it with write.
func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}
