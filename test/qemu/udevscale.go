package qemu

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed guest/boot/gudevd-udev-scale
var udevScaleScript []byte

//go:embed guest/boot/gudevd-udev-scale.service
var udevScaleUnit []byte

// ScaleOptions sizes the scale benchmark. A count of 0 skips its bursts.
type ScaleOptions struct {
	Blk  int // null_blk devices (modprobe null_blk nr_devices=N)
	Net  int // dummy interfaces (modprobe dummy numdummies=N)
	SCSI int // scsi_debug disks (num_tgts=N, one LUN each)
	Reps int // boots of each configuration, interleaved
	CPUs int
	// MemoryMB is the guest's memory. A thousand null_blk disks with a
	// blk-mq queue per vCPU and a thousand interfaces need more than the
	// harness's default of 1 GiB and a little.
	MemoryMB int
	Timeout  time.Duration // one boot, scenarios included
}

// DefaultScaleOptions is the size: a thousand of each. scsi_debug
// stays at 200: every disk brings a scsi_device, a scsi_disk, a bsg device
// and 60-persistent-storage's scsi_id and blkid runs, about five times a
// null_blk disk's work, and the kernel scans its targets one by one.
var DefaultScaleOptions = ScaleOptions{Blk: 1000, Net: 1000, SCSI: 200, Reps: 2, CPUs: 4, MemoryMB: 2048, Timeout: 75 * time.Minute}

// ParseScaleSpec reads the sizes from a comma-separated list such as
// "blk=1000,net=1000,scsi=200,reps=2" over defaults: the harness's
// -scenarios flag of udev-scale.
func ParseScaleSpec(spec string, def ScaleOptions) (ScaleOptions, error) {
	o := def
	for _, f := range strings.Split(spec, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		k, v, ok := strings.Cut(f, "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil || n < 0 {
			return def, fmt.Errorf("parse scale spec %q: %q is not NAME=COUNT", spec, f)
		}
		switch k {
		case "blk":
			o.Blk = n
		case "net":
			o.Net = n
		case "scsi":
			o.SCSI = n
		case "reps":
			if n < 1 {
				return def, fmt.Errorf("parse scale spec %q: reps must be at least 1", spec)
			}
			o.Reps = n
		default:
			return def, fmt.Errorf("parse scale spec %q: unknown %q (have blk, net, scsi, reps)", spec, k)
		}
	}
	return o, nil
}

// ScaleScenario is one line "scenario NAME ..." of the guest's
// scale/results.txt (see gudevd-udev-scale).
type ScaleScenario struct {
	Name                string
	Devices             int
	WallNS, SettleNS    int64
	SettleRC, CmdRC     int
	Missing             int
	CPUUsec, CPUNsec    int64
	Pid1Usec            int64
	MemPeak, MemCurrent int64 // bytes
	PSSKB               int64
	Procs, Updated      int
}

// ScaleCounts is one line "counts POINT KEY=N ...": what the daemon had
// made after the boot or a scenario.
type ScaleCounts struct {
	Point  string
	Values map[string]int
}

// ScaleRun is one boot of the scale benchmark.
type ScaleRun struct {
	Label     string // KERNEL-NNN-CONFIG-REP, the run's directory
	Kernel    string
	CPUs      int
	Config    DiffConfig
	Rep       int
	Scenarios []ScaleScenario
	Counts    []ScaleCounts
	Raw       string // scale/results.txt as the guest wrote it
}

// scaleLabel names a run's directory; parseScaleLabel reads it back.
func scaleLabel(kernel string, cpus int, c DiffConfig, rep int) string {
	return fmt.Sprintf("%s-%03d-%s-%d", kernel, cpus, c, rep)
}

func parseScaleLabel(label string) (kernel string, cpus int, c DiffConfig, rep int, err error) {
	f := strings.Split(label, "-")
	if len(f) != 4 {
		return "", 0, "", 0, fmt.Errorf("parse scale run %q: want KERNEL-NNN-CONFIG-REP", label)
	}
	if cpus, err = strconv.Atoi(f[1]); err != nil {
		return "", 0, "", 0, fmt.Errorf("parse scale run %q: vCPUs: %w", label, err)
	}
	if rep, err = strconv.Atoi(f[3]); err != nil {
		return "", 0, "", 0, fmt.Errorf("parse scale run %q: repetition: %w", label, err)
	}
	return f[0], cpus, DiffConfig(f[2]), rep, nil
}

// ParseScaleResults reads the guest's scale/results.txt.
func ParseScaleResults(b []byte) ([]ScaleScenario, []ScaleCounts, error) {
	var scs []ScaleScenario
	var cts []ScaleCounts
	for i, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		if len(f) < 2 || f[0] != "scenario" && f[0] != "counts" {
			return nil, nil, fmt.Errorf("parse scale results line %d %q: want scenario or counts NAME KEY=VALUE...", i+1, l)
		}
		kv := map[string]int64{}
		for _, p := range f[2:] {
			k, v, ok := strings.Cut(p, "=")
			n, err := strconv.ParseInt(v, 10, 64)
			if !ok || err != nil {
				return nil, nil, fmt.Errorf("parse scale results line %d: %q is not KEY=INTEGER", i+1, p)
			}
			kv[k] = n
		}
		if f[0] == "counts" {
			c := ScaleCounts{Point: f[1], Values: map[string]int{}}
			for k, v := range kv {
				c.Values[k] = int(v)
			}
			cts = append(cts, c)
			continue
		}
		var missing []string
		get := func(k string) int64 {
			v, ok := kv[k]
			if !ok {
				missing = append(missing, k)
			}
			return v
		}
		s := ScaleScenario{
			Name:       f[1],
			Devices:    int(get("devices")),
			WallNS:     get("wall_ns"),
			SettleNS:   get("settle_ns"),
			SettleRC:   int(get("settle_rc")),
			CmdRC:      int(get("cmd_rc")),
			Missing:    int(get("missing")),
			CPUUsec:    get("cpu_usec"),
			CPUNsec:    get("cpu_nsec"),
			Pid1Usec:   get("pid1_usec"),
			MemPeak:    get("mem_peak"),
			MemCurrent: get("mem_current"),
			PSSKB:      get("pss_kb"),
			Procs:      int(get("procs")),
			Updated:    int(get("updated")),
		}
		if len(missing) > 0 {
			return nil, nil, fmt.Errorf("parse scale results line %d: scenario %s lacks %s", i+1, s.Name, strings.Join(missing, ", "))
		}
		scs = append(scs, s)
	}
	return scs, cts, nil
}

// UdevScale boots the full-boot image with kernel k under each
// configuration (systemd-udevd 252, and gudevd as systemd-udevd.service;
// see UdevDiff), o.Reps times each, interleaved (udevd, gudevd, udevd,
// gudevd), so that what else the host runs meanwhile weighs on both alike.
// Each boot runs the scale unit (gudevd-udev-scale) after the boot's
// coldplug; its files go to out/LABEL/. A run whose results out already
// holds is reused when resume is set. It writes out/udev-scale.md after
// every boot and returns every run it has, with the boots that failed
// joined in the error.
func (h *Harness) UdevScale(ctx context.Context, k Kernel, o ScaleOptions, out string, resume bool) ([]ScaleRun, error) {
	var errs []error
	for rep := 1; rep <= o.Reps; rep++ {
		for _, c := range DiffConfigs {
			label := scaleLabel(k.Name, o.CPUs, c, rep)
			dir := filepath.Join(out, label)
			if _, err := os.Stat(filepath.Join(dir, "scale", "results.txt")); err == nil && resume {
				continue
			}
			b, err := h.udevScaleBoot(ctx, k, c, o)
			if werr := writeDiffSide(dir, b); werr != nil && err == nil {
				err = werr
			}
			if err != nil {
				if ctx.Err() != nil {
					return nil, err
				}
				h.progress("FAIL %s: %v", label, err)
				errs = append(errs, fmt.Errorf("udev scale, %s: %w", label, err))
				continue
			}
			if _, err := UdevScaleReport(out); err != nil {
				return nil, err
			}
		}
	}
	runs, err := UdevScaleReport(out)
	if err != nil {
		return nil, err
	}
	return runs, errors.Join(errs...)
}

// UdevScaleReport reads every run out holds and rewrites out/udev-scale.md
// from them, booting nothing.
func UdevScaleReport(out string) ([]ScaleRun, error) {
	runs, err := ReadScaleRuns(out)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := WriteScaleMarkdown(&b, runs); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(out, "udev-scale.md"), b.Bytes(), 0o644); err != nil {
		return nil, fmt.Errorf("write udev scale report: %w", err)
	}
	return runs, nil
}

// ReadScaleRuns reads the runs kept in out: every out/LABEL/scale/results.txt.
func ReadScaleRuns(out string) ([]ScaleRun, error) {
	paths, err := filepath.Glob(filepath.Join(out, "*", "scale", "results.txt"))
	if err != nil {
		return nil, fmt.Errorf("read udev scale runs: %w", err)
	}
	var runs []ScaleRun
	for _, p := range paths {
		label := filepath.Base(filepath.Dir(filepath.Dir(p)))
		kernel, cpus, c, rep, err := parseScaleLabel(label)
		if err != nil {
			return nil, err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read udev scale run: %w", err)
		}
		scs, cts, err := ParseScaleResults(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", label, err)
		}
		runs = append(runs, ScaleRun{Label: label, Kernel: kernel, CPUs: cpus, Config: c, Rep: rep, Scenarios: scs, Counts: cts, Raw: string(b)})
	}
	sortScaleRuns(runs)
	return runs, nil
}

// configOrder puts udevd before gudevd, as DiffConfigs does.
func configOrder(c DiffConfig) int {
	for i, d := range DiffConfigs {
		if d == c {
			return i
		}
	}
	return len(DiffConfigs)
}

func sortScaleRuns(runs []ScaleRun) {
	sort.Slice(runs, func(i, j int) bool {
		a, b := runs[i], runs[j]
		if a.Kernel != b.Kernel {
			return a.Kernel < b.Kernel
		}
		if a.CPUs != b.CPUs {
			return a.CPUs < b.CPUs
		}
		if a.Rep != b.Rep {
			return a.Rep < b.Rep
		}
		return configOrder(a.Config) < configOrder(b.Config)
	})
}

// udevScaleBoot boots configuration c once with the scale unit.
func (h *Harness) udevScaleBoot(ctx context.Context, k Kernel, c DiffConfig, o ScaleOptions) (*Boot, error) {
	root, err := h.scaleRoot(ctx, c)
	if err != nil {
		return nil, err
	}
	img, err := h.rootImage(ctx, root)
	if err != nil {
		return nil, err
	}
	// The diff's initramfs: the root's daemon meets an untouched devtmpfs
	// and an empty /run/udev, whichever it is.
	initrd, err := h.diffInitramfs(ctx, root, k)
	if err != nil {
		return nil, err
	}
	disk := filepath.Join(h.Cache, "boot", "conformance-data.img")
	if err := dataDisk(ctx, disk); err != nil {
		return nil, err
	}
	vm := &VM{
		Kernel:    filepath.Join(root, "boot", "vmlinuz-"+k.Release),
		Initramfs: initrd,
		RootDisk:  img,
		CPUs:      o.CPUs,
		MemoryMB:  o.MemoryMB,
		Cmdline:   fmt.Sprintf("root=/dev/vda ro gudevd.scale.blk=%d gudevd.scale.net=%d gudevd.scale.scsi=%d", o.Blk, o.Net, o.SCSI),
		Timeout:   o.Timeout,
		Extra:     conformanceDevices(disk),
	}
	if h.Console {
		vm.Progress = h.Progress
	} else {
		vm.Status = h.Progress
	}
	h.progress("booting bookworm (udev scale, %s) with %s at %d vCPUs: %d null_blk, %d dummy, %d scsi_debug", c, k.Name, o.CPUs, o.Blk, o.Net, o.SCSI)
	b, err := vm.Run(ctx)
	if err != nil {
		return b, err
	}
	if len(b.Files["scale/results.txt"]) == 0 {
		return b, fmt.Errorf("%w: the guest sent no scale results (system state: %s)", ErrGuestFailed, b.Files["system-state.txt"])
	}
	return b, nil
}

// scaleRoot is the diff's root (udevRoot) with the scale unit in place of
// the snapshot.
func (h *Harness) scaleRoot(ctx context.Context, c DiffConfig) (string, error) {
	return h.udevRoot(ctx, c, "udevscale", guestUnit{"gudevd-udev-scale", udevScaleScript, udevScaleUnit})
}

// scaleKey groups the runs that compare: one kernel, vCPU count and
// scenario.
type scaleKey struct {
	kernel   string
	cpus     int
	scenario string
}

// meanOf averages f over the runs of configuration c in rows.
func meanOf(rows []scaleRow, c DiffConfig, f func(ScaleScenario) float64) (float64, int) {
	var sum float64
	n := 0
	for _, r := range rows {
		if r.run.Config == c {
			sum += f(r.s)
			n++
		}
	}
	if n == 0 {
		return 0, 0
	}
	return sum / float64(n), n
}

type scaleRow struct {
	run *ScaleRun
	s   ScaleScenario
}

const mib = 1 << 20

func wallS(s ScaleScenario) float64 { return float64(s.WallNS) / 1e9 }
func cpuS(s ScaleScenario) float64  { return float64(s.CPUUsec) / 1e6 }

// ratio formats b/a, or "-" where a is nothing to divide by.
func ratio(a, b float64) string {
	if a <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", b/a)
}

// pairedRatios is gudevd's f over udevd's, repetition by repetition, for
// the repetitions that have both: "1.01, 0.95".
func pairedRatios(rows []scaleRow, f func(ScaleScenario) float64) string {
	by := map[int]map[DiffConfig]float64{}
	var reps []int
	for _, r := range rows {
		if by[r.run.Rep] == nil {
			by[r.run.Rep] = map[DiffConfig]float64{}
			reps = append(reps, r.run.Rep)
		}
		by[r.run.Rep][r.run.Config] = f(r.s)
	}
	sort.Ints(reps)
	var out []string
	for _, rep := range reps {
		u, okU := by[rep][DiffUdevd]
		g, okG := by[rep][DiffGudevd]
		if okU && okG {
			out = append(out, ratio(u, g))
		}
	}
	if len(out) == 0 {
		return "-"
	}
	return strings.Join(out, ", ")
}

// WriteScaleMarkdown writes the benchmark's report: the runs' table, the
// configurations compared scenario by scenario, the counts that tell
// whether both daemons did the same work, and every run's raw results.
func WriteScaleMarkdown(w io.Writer, runs []ScaleRun) error {
	var b strings.Builder
	b.WriteString("# udev scale: a thousand block devices and a thousand interfaces\n\n")
	b.WriteString("`qemu-harness udev-scale` (test/qemu/udevscale.go, guest/boot/gudevd-udev-scale): the full-boot bookworm image " +
		"with the boot diff's busybox initramfs, booted under systemd-udevd 252 (`udevd`) and under `gudevd daemon --udev` " +
		"as systemd-udevd.service (`gudevd`, the shipped drop-in), the configurations interleaved in one harness run. " +
		"After the boot's coldplug, each scenario is timed from its modprobe or `udevadm trigger` until `udevadm settle` " +
		"returned and, for a burst, every new device had its /run/udev/data entry. CPU is systemd-udevd.service's " +
		"cgroup cpu.stat usage_usec over the scenario (daemon, workers and the programs rules run); memory peak is the " +
		"cgroup's memory.peak since the unit started (cumulative: the boot and every earlier scenario count); PSS is the sum " +
		"over the cgroup's processes right after the settle. QEMU TCG on a shared two-core host: compare the " +
		"configurations within one run only.\n\n")
	fmt.Fprintf(&b, "| kernel | vCPUs | config | rep | scenario | devices | settle wall s | CPU s | pid1 CPU s | memory peak MiB | PSS MiB | procs | missing | updated |\n")
	fmt.Fprintf(&b, "|---|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	groups := map[scaleKey][]scaleRow{}
	var keys []scaleKey
	for i := range runs {
		r := &runs[i]
		for _, s := range r.Scenarios {
			fmt.Fprintf(&b, "| %s | %d | %s | %d | %s | %d | %.1f | %.1f | %.1f | %.1f | %.1f | %d | %d | %d |\n",
				r.Kernel, r.CPUs, r.Config, r.Rep, s.Name, s.Devices, wallS(s), cpuS(s), float64(s.Pid1Usec)/1e6,
				float64(s.MemPeak)/mib, float64(s.PSSKB)/1024, s.Procs, s.Missing, s.Updated)
			k := scaleKey{r.Kernel, r.CPUs, s.Name}
			if groups[k] == nil {
				keys = append(keys, k)
			}
			groups[k] = append(groups[k], scaleRow{r, s})
		}
	}
	b.WriteString("\n## gudevd against systemd-udevd\n\n")
	b.WriteString("Means over the repetitions (n each); a ratio above 1 is gudevd slower or costlier. The per-repetition " +
		"ratios pair each gudevd boot with the udevd boot run just before it, which met the most similar host load: " +
		"trust them over the means, which the host's load between repetitions moves. The boot row is the boot's own " +
		"coldplug, CPU only.\n\n")
	b.WriteString("| kernel | vCPUs | scenario | n | udevd wall s | gudevd wall s | wall ratio | wall ratio per rep | udevd CPU s | gudevd CPU s | CPU ratio | CPU ratio per rep | udevd PSS MiB | gudevd PSS MiB |\n")
	b.WriteString("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, k := range keys {
		rows := groups[k]
		uw, nu := meanOf(rows, DiffUdevd, wallS)
		gw, ng := meanOf(rows, DiffGudevd, wallS)
		uc, _ := meanOf(rows, DiffUdevd, cpuS)
		gc, _ := meanOf(rows, DiffGudevd, cpuS)
		pss := func(s ScaleScenario) float64 { return float64(s.PSSKB) / 1024 }
		up, _ := meanOf(rows, DiffUdevd, pss)
		gp, _ := meanOf(rows, DiffGudevd, pss)
		fmt.Fprintf(&b, "| %s | %d | %s | %d/%d | %.1f | %.1f | %s | %s | %.1f | %.1f | %s | %s | %.1f | %.1f |\n",
			k.kernel, k.cpus, k.scenario, nu, ng, uw, gw, ratio(uw, gw), pairedRatios(rows, wallS),
			uc, gc, ratio(uc, gc), pairedRatios(rows, cpuS), up, gp)
	}
	writeScaleCounts(&b, runs)
	b.WriteString("\n## Raw results\n\nEach run's scale/results.txt as the guest wrote it (see guest/boot/gudevd-udev-scale for the fields).\n")
	for _, r := range runs {
		fmt.Fprintf(&b, "\n### %s\n\n```\n%s```\n", r.Label, r.Raw)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeScaleCounts writes, for every point of the runs' counts, each key's
// value per run, and flags the keys on which the runs of one kernel and
// vCPU count disagree.
func writeScaleCounts(b *strings.Builder, runs []ScaleRun) {
	b.WriteString("\n## Correctness at scale\n\nWhat each run had after the boot and after each scenario: /run/udev/data entries by kind " +
		"(b block, c char, n net, + other), the kernel's devices, /dev/disk/by-* links, /run/udev/tags/systemd, and systemd's " +
		"device units. A key whose value differs between the runs of one kernel and vCPU count is marked **differs**.\n")
	type group struct {
		kernel string
		cpus   int
	}
	var groups []group
	seen := map[group]bool{}
	for _, r := range runs {
		g := group{r.Kernel, r.CPUs}
		if !seen[g] {
			seen[g] = true
			groups = append(groups, g)
		}
	}
	for _, g := range groups {
		var rs []*ScaleRun
		for i := range runs {
			if runs[i].Kernel == g.kernel && runs[i].CPUs == g.cpus {
				rs = append(rs, &runs[i])
			}
		}
		var points []string
		keys := map[string]map[string]bool{}
		for _, r := range rs {
			for _, c := range r.Counts {
				if keys[c.Point] == nil {
					keys[c.Point] = map[string]bool{}
					points = append(points, c.Point)
				}
				for k := range c.Values {
					keys[c.Point][k] = true
				}
			}
		}
		fmt.Fprintf(b, "\n### %s, %d vCPUs\n\n| point | count |", g.kernel, g.cpus)
		for _, r := range rs {
			fmt.Fprintf(b, " %s-%d |", r.Config, r.Rep)
		}
		b.WriteString(" |\n|---|---|")
		for range rs {
			b.WriteString("---:|")
		}
		b.WriteString("---|\n")
		for _, p := range points {
			names := make([]string, 0, len(keys[p]))
			for k := range keys[p] {
				names = append(names, k)
			}
			sort.Strings(names)
			for _, k := range names {
				fmt.Fprintf(b, "| %s | %s |", p, k)
				vals := map[string]bool{}
				for _, r := range rs {
					v := "-"
					for _, c := range r.Counts {
						if c.Point == p {
							if n, ok := c.Values[k]; ok {
								v = strconv.Itoa(n)
							}
						}
					}
					vals[v] = true
					fmt.Fprintf(b, " %s |", v)
				}
				mark := ""
				if len(vals) > 1 {
					mark = "**differs**"
				}
				fmt.Fprintf(b, " %s |\n", mark)
			}
		}
	}
}
