package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/gudevd/gudevd/test/qemu"
	"github.com/gudevd/gudevd/test/qemu/internal/report"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "qemu-harness: %v\n", err)
		os.Exit(1)
	}
}

const usage = "usage: qemu-harness capture|run|demo|bench|boot|boot-bench|faults [flags] (-h for flags)"

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	sub := args[0]
	fl := flag.NewFlagSet("qemu-harness "+sub, flag.ContinueOnError)
	console := fl.Bool("console", false, "copy guest consoles to stderr")
	repo := fl.String("repo", ".", "repository root (capture)")
	kernel := fl.String("kernel", "6.1", "kernel for run and demo: 6.1 or 6.12")
	kernels := fl.String("kernels", "6.1,6.12", "kernels (bench)")
	scenario := fl.String("scenario", "udevd", "scenario (run): "+strings.Join(append(qemu.Scenarios, qemu.StormScenarios...), ", "))
	scenarios := fl.String("scenarios", strings.Join(qemu.Scenarios, ","), "scenarios (bench)")
	cpus := fl.Int("cpus", 16, "vCPUs (run, demo)")
	cpuList := fl.String("cpu-list", "4,16,32,64", "vCPU counts (bench)")
	out := fl.String("out", "", "directory for results: the guest's files (run), bench.md, bench.svg and runs/ (bench; default bench-results)")
	only := fl.String("only", "", "capture: only \"kernel\" (modaliases and kernel datagrams), only \"libudev\", only \"coldplug\" (testdata/coldplug-KERNEL.txt), or only \"udev\" (systemd-udevd's database, udevadm test and test-builtin outputs and a sysfs snapshot, for the rules engine's conformance tests)")
	resume := fl.Bool("resume", true, "bench: reuse runs already in OUT/runs")
	reportOnly := fl.Bool("report-only", false, "bench: boot nothing, rewrite bench.md and bench.svg (requests.md with -requests) from OUT/runs")
	requests := fl.Bool("requests", false, "bench: the request storms ("+strings.Join(qemu.StormScenarios, ", ")+") instead of the coldplug scenarios, into OUT/requests.md; -cpu-list defaults to 4,16,64")
	limit := fl.Bool("limit", false, "bench: where the coldplug's time goes (oracle, udevd, gudevd, gudevd-scan; -scenarios may add variants such as gudevd-scan+load-workers=16) into OUT/limit.md and OUT/limit-KERNEL-NNN.svg; -cpu-list defaults to 4,16")
	config := fl.String("config", "stock", "boot: the full-boot configuration, stock, alongside or instead")
	daemonFlags := fl.String("daemon-flags", "", "flags added to every gudevd daemon in the guest, comma-separated (e.g. --load-workers=64)")
	if err := fl.Parse(args[1:]); err != nil {
		return err
	}
	h := &qemu.Harness{Cache: qemu.CacheDir(), Progress: os.Stderr, Console: *console, DaemonFlags: split(*daemonFlags)}
	defer h.Close()
	switch sub {
	case "capture":
		if *only == "udev" {
			// One kernel is enough: the reference is udevd's, and the
			// devices are the same on both.
			return h.CaptureUdev(ctx, qemu.Kernels[0], *repo)
		}
		for _, k := range qemu.Kernels {
			if *only == "coldplug" {
				if err := h.CaptureColdplugSet(ctx, k); err != nil {
					return err
				}
				continue
			}
			if *only != "libudev" {
				if err := h.Capture(ctx, k, *repo); err != nil {
					return err
				}
			}
			if *only != "kernel" {
				if err := h.CaptureLibudev(ctx, k, *repo); err != nil {
					return err
				}
			}
		}
		return nil
	case "boot":
		k, err := qemu.KernelByName(*kernel)
		if err != nil {
			return err
		}
		b, err := h.FullBoot(ctx, k, qemu.BootConfig(*config), *cpus)
		if b != nil && *out != "" {
			if werr := writeFiles(*out, b.Files); werr != nil && err == nil {
				err = werr
			}
		}
		return err
	case "boot-bench":
		if *out == "" {
			*out = "bench-results"
		}
		list := "4,16,64"
		fl.Visit(func(f *flag.Flag) {
			if f.Name == "cpu-list" {
				list = *cpuList
			}
		})
		return cmdBenchBoot(ctx, h, split(*kernels), list, *out, *resume, *reportOnly)
	case "faults":
		if *out == "" {
			*out = "bench-results"
		}
		list := "4"
		scs := qemu.FaultScenarios
		fl.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "cpu-list":
				list = *cpuList
			case "scenarios":
				scs = split(*scenarios)
			}
		})
		return cmdFaults(ctx, h, split(*kernels), list, scs, *out)
	case "run":
		return cmdRun(ctx, h, *kernel, *scenario, *cpus, *out)
	case "udev-diff":
		// -config names the two sides; udevd,gudevd unless given.
		pair := "udevd,gudevd"
		fl.Visit(func(f *flag.Flag) {
			if f.Name == "config" {
				pair = *config
			}
		})
		return cmdUdevDiff(ctx, h, *kernel, pair, *out, *reportOnly)
	case "udev-scale":
		// 6.12 at 4 vCPUs unless -kernel, -cpus say otherwise; -scenarios
		// sizes the bursts (blk=1000,net=1000,scsi=200,reps=2).
		kn, n, spec := "6.12", 4, ""
		fl.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "kernel":
				kn = *kernel
			case "cpus":
				n = *cpus
			case "scenarios":
				spec = *scenarios
			}
		})
		return cmdUdevScale(ctx, h, kn, n, spec, *out, *resume, *reportOnly)
	case "demo":
		return cmdDemo(ctx, h, *kernel, *cpus)
	case "bench":
		if *out == "" {
			*out = "bench-results"
		}
		if *limit {
			list := "4,16"
			var scs []string
			fl.Visit(func(f *flag.Flag) {
				switch f.Name {
				case "cpu-list":
					list = *cpuList
				case "scenarios":
					scs = split(*scenarios)
				}
			})
			return cmdBenchLimit(ctx, h, split(*kernels), scs, list, *out, *resume, *reportOnly)
		}
		if *requests {
			list := "4,16,64"
			fl.Visit(func(f *flag.Flag) {
				if f.Name == "cpu-list" {
					list = *cpuList
				}
			})
			return cmdBenchRequests(ctx, h, split(*kernels), list, *out, *resume, *reportOnly)
		}
		return cmdBench(ctx, h, split(*kernels), split(*scenarios), *cpuList, *out, *resume, *reportOnly)
	}
	return fmt.Errorf("unknown command %q; %s", sub, usage)
}

func split(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func cmdRun(ctx context.Context, h *qemu.Harness, kernel, scenario string, cpus int, out string) error {
	k, err := qemu.KernelByName(kernel)
	if err != nil {
		return err
	}
	res, err := h.Run(ctx, k, scenario, cpus)
	if err != nil {
		return err
	}
	if out != "" {
		if err := writeFiles(out, res.Files); err != nil {
			return err
		}
		// The same file bench keeps per run, so a run can join a bench.
		b, _ := json.MarshalIndent(res.Summary, "", "  ")
		if err := os.WriteFile(filepath.Join(out, "summary.json"), b, 0o644); err != nil {
			return err
		}
	}
	if res.Storm != nil {
		if out != "" {
			b, _ := json.MarshalIndent(res.Storm, "", "  ")
			if err := os.WriteFile(filepath.Join(out, "storm-summary.json"), b, 0o644); err != nil {
				return err
			}
		}
		return qemu.WriteStormSideBySide(os.Stdout, []report.StormSummary{*res.Storm})
	}
	if err := qemu.WriteSideBySide(os.Stdout, []report.Summary{res.Summary}); err != nil {
		return err
	}
	return nil
}

func writeFiles(dir string, files map[string][]byte) error {
	for name, b := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// cmdDemo is the headline: the same guest under systemd-udevd and gudevd.
func cmdDemo(ctx context.Context, h *qemu.Harness, kernel string, cpus int) error {
	k, err := qemu.KernelByName(kernel)
	if err != nil {
		return err
	}
	var sums []report.Summary
	for _, sc := range []string{"udevd", "gudevd"} {
		res, err := h.Run(ctx, k, sc, cpus)
		if err != nil {
			return err
		}
		sums = append(sums, res.Summary)
	}
	fmt.Printf("\nDebian %s kernel, %d vCPUs (QEMU TCG), same guest and devices; every finit_module/init_module counted with tracefs:\n\n", k.Name, cpus)
	return qemu.WriteSideBySide(os.Stdout, sums)
}

// cmdBench runs every kernel, scenario and vCPU count, saving each run so an
// interrupted bench resumes, and rewrites the table and plot after each.
func cmdBench(ctx context.Context, h *qemu.Harness, kernels, scenarios []string, cpuList, out string, resume, reportOnly bool) error {
	counts, err := parseCounts(cpuList)
	if err != nil {
		return err
	}
	l := benchLoop[report.Summary]{
		h: h, kernels: kernels, scenarios: scenarios, counts: counts, out: out, resume: resume, reportOnly: reportOnly,
		name: func(k qemu.Kernel, n int, sc string) string { return fmt.Sprintf("%s-%03d-%s", k.Name, n, sc) },
		boot: func(ctx context.Context, k qemu.Kernel, sc string, n int) (report.Summary, map[string][]byte, error) {
			res, err := h.Run(ctx, k, sc, n)
			if err != nil {
				return report.Summary{}, nil, err
			}
			return res.Summary, nil, nil
		},
		write: func(sums []report.Summary) error { return writeBench(out, sums) },
	}
	if err := l.run(ctx); err != nil {
		return err
	}
	fmt.Printf("wrote %s and %s\n", filepath.Join(out, "bench.md"), filepath.Join(out, "bench.svg"))
	return l.failure()
}

// benchLoop is a resumable benchmark: every vCPU count (outermost, so a
// bench cut short still covers every kernel, and the slow 64-vCPU runs
// come last), kernel and scenario, each run's summary saved in
// OUT/runs/NAME.json and reused on the next start.
type benchLoop[S any] struct {
	h                  *qemu.Harness
	kernels, scenarios []string
	counts             []int
	out                string
	resume, reportOnly bool
	name               func(k qemu.Kernel, cpus int, scenario string) string
	// boot boots one guest: its summary, and the guest's files to keep in
	// runs/NAME/ (nil keeps none).
	boot  func(ctx context.Context, k qemu.Kernel, scenario string, cpus int) (S, map[string][]byte, error)
	write func([]S) error // rewrites the tables after every run

	failed []string
}

func (l *benchLoop[S]) run(ctx context.Context) error {
	runs := filepath.Join(l.out, "runs")
	if err := os.MkdirAll(runs, 0o755); err != nil {
		return err
	}
	var sums []S
	for _, n := range l.counts {
		for _, kn := range l.kernels {
			k, err := qemu.KernelByName(kn)
			if err != nil {
				return err
			}
			for _, sc := range l.scenarios {
				p := filepath.Join(runs, l.name(k, n, sc)+".json")
				var s S
				if b, err := os.ReadFile(p); err == nil && l.resume && json.Unmarshal(b, &s) == nil {
					sums = append(sums, s)
					continue
				}
				if l.reportOnly {
					continue
				}
				s, files, err := l.boot(ctx, k, sc, n)
				if err != nil {
					if ctx.Err() != nil {
						return err
					}
					fmt.Fprintf(os.Stderr, "FAIL %s %s %d vCPUs: %v\n", k.Name, sc, n, err)
					l.failed = append(l.failed, fmt.Sprintf("%s/%s/%d", k.Name, sc, n))
					continue
				}
				b, _ := json.MarshalIndent(s, "", "  ")
				if err := os.WriteFile(p, b, 0o644); err != nil {
					return err
				}
				if files != nil {
					if err := writeFiles(filepath.Join(runs, l.name(k, n, sc)), files); err != nil {
						return err
					}
				}
				sums = append(sums, s)
				if err := l.write(sums); err != nil {
					return err
				}
			}
		}
	}
	return l.write(sums)
}

func (l *benchLoop[S]) failure() error {
	if len(l.failed) > 0 {
		return fmt.Errorf("%d runs failed: %s", len(l.failed), strings.Join(l.failed, ", "))
	}
	return nil
}

func writeBench(out string, sums []report.Summary) error {
	md, err := os.Create(filepath.Join(out, "bench.md"))
	if err != nil {
		return err
	}
	defer md.Close()
	if err := qemu.WriteMarkdown(md, sums); err != nil {
		return err
	}
	svg, err := os.Create(filepath.Join(out, "bench.svg"))
	if err != nil {
		return err
	}
	defer svg.Close()
	if err := qemu.WriteSVG(svg, sums); err != nil {
		return err
	}
	if err := md.Close(); err != nil {
		return err
	}
	return svg.Close()
}

// cmdBenchRequests runs the request storms under kmod's modprobe and under
// gudevd on every kernel and vCPU count into OUT/requests.md, resumable
// like cmdBench (runs/requests-KERNEL-NNN-SCENARIO.json). Each run's guest
// files (trace, dmesg, gudevd log, the storm's result) stay next to it.
func cmdBenchRequests(ctx context.Context, h *qemu.Harness, kernels []string, cpuList, out string, resume, reportOnly bool) error {
	counts, err := parseCounts(cpuList)
	if err != nil {
		return err
	}
	l := benchLoop[report.StormSummary]{
		h: h, kernels: kernels, scenarios: qemu.StormScenarios, counts: counts, out: out, resume: resume, reportOnly: reportOnly,
		name: func(k qemu.Kernel, n int, sc string) string { return fmt.Sprintf("requests-%s-%03d-%s", k.Name, n, sc) },
		boot: func(ctx context.Context, k qemu.Kernel, sc string, n int) (report.StormSummary, map[string][]byte, error) {
			res, err := h.Run(ctx, k, sc, n)
			if err != nil {
				return report.StormSummary{}, nil, err
			}
			return *res.Storm, res.Files, nil
		},
		write: func(sums []report.StormSummary) error {
			f, err := os.Create(filepath.Join(out, "requests.md"))
			if err != nil {
				return err
			}
			if err := qemu.WriteStormMarkdown(f, sums); err != nil {
				f.Close()
				return err
			}
			return f.Close()
		},
	}
	if err := l.run(ctx); err != nil {
		return err
	}
	fmt.Printf("wrote %s\n", filepath.Join(out, "requests.md"))
	return l.failure()
}

// cmdBenchBoot runs the full Debian boot in every configuration, kernel
// and vCPU count into OUT/boot.md and OUT/boot.svg, resumable like
// cmdBench (runs/boot-KERNEL-NNN-CONFIG.json, and the guest's files, the
// journal and trace among them, in runs/boot-KERNEL-NNN-CONFIG/).
func cmdBenchBoot(ctx context.Context, h *qemu.Harness, kernels []string, cpuList, out string, resume, reportOnly bool) error {
	counts, err := parseCounts(cpuList)
	if err != nil {
		return err
	}
	var configs []string
	for _, c := range qemu.BootConfigs {
		configs = append(configs, string(c))
	}
	if reportOnly {
		// The guest's files are kept: summarize them again, so a change
		// to the summary reaches every row without booting.
		if err := resummarizeBoots(filepath.Join(out, "runs")); err != nil {
			return err
		}
	}
	l := benchLoop[report.BootSummary]{
		h: h, kernels: kernels, scenarios: configs, counts: counts, out: out, resume: resume, reportOnly: reportOnly,
		name: func(k qemu.Kernel, n int, c string) string { return fmt.Sprintf("boot-%s-%03d-%s", k.Name, n, c) },
		boot: func(ctx context.Context, k qemu.Kernel, c string, n int) (report.BootSummary, map[string][]byte, error) {
			b, err := h.FullBoot(ctx, k, qemu.BootConfig(c), n)
			if err != nil {
				return report.BootSummary{}, nil, err
			}
			s, err := report.SummarizeBoot(c, k.Name, b.Files)
			return s, b.Files, err
		},
		write: func(sums []report.BootSummary) error { return writeBoot(out, sums) },
	}
	if err := l.run(ctx); err != nil {
		return err
	}
	fmt.Printf("wrote %s and %s\n", filepath.Join(out, "boot.md"), filepath.Join(out, "boot.svg"))
	return l.failure()
}

// resummarizeBoots rewrites runs/boot-KERNEL-NNN-CONFIG.json from the
// files kept in runs/boot-KERNEL-NNN-CONFIG/.
func resummarizeBoots(runs string) error {
	dirs, _ := filepath.Glob(filepath.Join(runs, "boot-*-*-*"))
	for _, dir := range dirs {
		fi, err := os.Stat(dir)
		if err != nil || !fi.IsDir() {
			continue
		}
		parts := strings.SplitN(filepath.Base(dir), "-", 4) // boot, kernel, vCPUs, config
		files, err := report.ReadRun(dir)
		if err != nil {
			return err
		}
		s, err := report.SummarizeBoot(parts[3], parts[1], files)
		if err != nil {
			return fmt.Errorf("summarize %s: %w", dir, err)
		}
		b, _ := json.MarshalIndent(s, "", "  ")
		if err := os.WriteFile(dir+".json", b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func writeBoot(out string, sums []report.BootSummary) error {
	for _, f := range []struct {
		name  string
		write func(io.Writer, []report.BootSummary) error
	}{{"boot.md", qemu.WriteBootTable}, {"boot.svg", qemu.WriteBootSVG}} {
		w, err := os.Create(filepath.Join(out, f.name))
		if err != nil {
			return err
		}
		if err := f.write(w, sums); err != nil {
			w.Close()
			return err
		}
		if err := w.Close(); err != nil {
			return err
		}
	}
	return nil
}

func parseCounts(cpuList string) ([]int, error) {
	var counts []int
	for _, c := range split(cpuList) {
		n, err := strconv.Atoi(c)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("parse -cpu-list %q: bad count %q", cpuList, c)
		}
		counts = append(counts, n)
	}
	return counts, nil
}
