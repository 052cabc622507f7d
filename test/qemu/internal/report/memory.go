package report

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"
)

// MemoryPeak is what a coldplug cost in memory, from the guest's sampler
// (guesttool sample, /out/mem.json): the kernel's side, vmalloc space (the
// seeds' measure: every module image a load reads and every module's core
// sections live there), and the user side, the device manager's process
// family (systemd-udevd and its workers, or gudevd and its workers).
//
// Memory of a process family is a sum of PSS: udevd's forked workers share
// their pages with the main process, gudevd's re-executed workers do not,
// so a sum of RSS would count udevd's shared pages once per worker. RSS is
// kept beside it because the issue that asked for it names RSS.
type MemoryPeak struct {
	Samples       int     `json:"samples"`         // samples taken during the run
	IntervalMS    float64 `json:"interval_ms"`     // mean time between samples
	VmallocStart  int64   `json:"vmalloc_start"`   // VmallocUsed at the first sample, bytes
	VmallocPeak   int64   `json:"vmalloc_peak"`    // highest VmallocUsed, bytes
	VmallocEnd    int64   `json:"vmalloc_end"`     // VmallocUsed at the last sample, bytes
	ManagerPSS    int64   `json:"manager_pss"`     // highest sum of Pss over the family, bytes
	ManagerRSS    int64   `json:"manager_rss"`     // highest sum of Rss over the family, bytes
	ManagerProcs  int     `json:"manager_procs"`   // most processes of the family seen at once
	VmallocPeakAt float64 `json:"vmalloc_peak_at"` // seconds after coldplug start

	// The same three for the sum of /proc/vmallocinfo's area sizes, which
	// also holds what VmallocUsed does not count: vmap()ed areas such as
	// the pages 6.12 decompresses a .ko.xz into, and every area's guard
	// page. Zero when the sampler did not read vmallocinfo.
	VmapStart int64 `json:"vmap_start,omitempty"`
	VmapPeak  int64 `json:"vmap_peak,omitempty"`
	VmapEnd   int64 `json:"vmap_end,omitempty"`

	SamplerCPU float64 `json:"sampler_cpu"` // CPU seconds the sampler itself used, user and system
}

// MemorySample is one reading of guesttool sample.
type MemorySample struct {
	Time        float64 `json:"t"`                 // CLOCK_BOOTTIME, the clock of /proc/uptime, seconds
	VmallocUsed int64   `json:"vmalloc_used"`      // /proc/meminfo VmallocUsed, bytes
	Vmap        int64   `json:"vmap,omitempty"`    // sum of /proc/vmallocinfo sizes (VmapSize), bytes
	PSS         int64   `json:"pss"`               // sum of Pss over the family, bytes, when HasPSS
	RSS         int64   `json:"rss"`               // sum of Rss over the family, bytes
	HasPSS      bool    `json:"has_pss,omitempty"` // Pss was read (smaps_rollup, every PSSEvery samples)
	Procs       int     `json:"procs"`             // processes of the family
}

// MemorySeries is /out/mem.json, what guesttool sample writes when it is
// stopped.
type MemorySeries struct {
	IntervalMS float64        `json:"interval_ms"` // the interval asked for
	PSSEvery   int            `json:"pss_every"`   // Pss was read every PSSEvery samples, Rss in every one
	Comms      []string       `json:"comms"`       // the comms that make the family
	CPU        float64        `json:"cpu"`         // the sampler's own CPU seconds (getrusage)
	Members    []string       `json:"members"`     // "PID COMM ARGV1" of every family process seen, first seen first
	Samples    []MemorySample `json:"samples"`     // in time order
}

// PeakMemory reduces a series to its peaks from start (the uptime at which
// coldplug began) on. The baseline is the last sample taken at or before
// start, so the start values are what the kernel held before coldplug;
// samples before it are left out. The series must be in time order.
func PeakMemory(s MemorySeries, start float64) MemoryPeak {
	p := MemoryPeak{SamplerCPU: s.CPU}
	w := s.Samples
	for i, x := range w {
		if x.Time > start {
			break
		}
		w = s.Samples[i:]
	}
	if len(w) == 0 {
		return p
	}
	first, last := w[0], w[len(w)-1]
	p.Samples = len(w)
	if len(w) > 1 {
		p.IntervalMS = (last.Time - first.Time) / float64(len(w)-1) * 1000
	}
	p.VmallocStart, p.VmallocEnd = first.VmallocUsed, last.VmallocUsed
	p.VmapStart, p.VmapEnd = first.Vmap, last.Vmap
	p.VmallocPeak, p.VmallocPeakAt = first.VmallocUsed, first.Time-start
	for _, x := range w {
		if x.VmallocUsed > p.VmallocPeak {
			p.VmallocPeak, p.VmallocPeakAt = x.VmallocUsed, x.Time-start
		}
		p.VmapPeak = max(p.VmapPeak, x.Vmap)
		p.ManagerPSS = max(p.ManagerPSS, x.PSS)
		p.ManagerRSS = max(p.ManagerRSS, x.RSS)
		p.ManagerProcs = max(p.ManagerProcs, x.Procs)
	}
	return p
}

// ParseKB reads the "Key:   N kB" lines of /proc/meminfo and
// /proc/PID/smaps_rollup into bytes by key. Lines without the kB unit
// (meminfo's HugePages_Total, smaps_rollup's address header) are skipped,
// and so is a value that does not fit in int64 bytes.
func ParseKB(b []byte) map[string]int64 {
	out := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		f := strings.Fields(rest)
		if !ok || key == "" || strings.ContainsAny(key, " \t") || len(f) != 2 || f[1] != "kB" {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || n < 0 || n > 1<<53 {
			continue
		}
		out[key] = n << 10
	}
	return out
}

// VmapSize sums the area sizes of /proc/vmallocinfo, whose lines are
//
//	0xffffc90000000000-0xffffc90000005000   20480 irq_init_percpu_irqstack+0x176/0x1c0 vmap
//	0xffffc9000001d000-0xffffc90000022000   20480 load_module+0x6b/0x1f10 pages=4 vmalloc N0=4
//	0xffffc90000300000-0xffffc90000302000    8192 unpurged vm_area
//
// The size includes the area's guard page. Areas freed lazily and not yet
// purged ("unpurged vm_area") are left out: their pages are gone, only the
// address range waits for a TLB flush. Lines that do not start with an
// address range are skipped.
func VmapSize(b []byte) int64 {
	var sum int64
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 4096), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || !strings.HasPrefix(f[0], "0x") || !strings.Contains(f[0], "-") {
			continue
		}
		if len(f) >= 3 && f[2] == "unpurged" {
			continue
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil || n < 0 || n > 1<<50 {
			continue
		}
		sum += n
	}
	return sum
}
