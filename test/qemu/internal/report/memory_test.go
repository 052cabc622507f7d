package report

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPeakMemory(t *testing.T) {
	tests := []struct {
		name   string
		series MemorySeries
		start  float64
		want   MemoryPeak
	}{
		{
			name:   "no samples",
			series: MemorySeries{CPU: 0.5},
			start:  10,
			want:   MemoryPeak{SamplerCPU: 0.5},
		},
		{
			name: "the baseline is the last sample at or before start",
			series: MemorySeries{CPU: 0.25, Samples: []MemorySample{
				{Time: 9.0, VmallocUsed: 1 << 20, Vmap: 5 << 20},
				{Time: 9.98, VmallocUsed: 2 << 20, Vmap: 6 << 20},
				{Time: 10.0, VmallocUsed: 3 << 20, Vmap: 7 << 20, PSS: 100, RSS: 300, Procs: 1},
				{Time: 10.02, VmallocUsed: 9 << 20, Vmap: 12 << 20, PSS: 900, RSS: 2000, Procs: 5},
				{Time: 10.04, VmallocUsed: 9 << 20, Vmap: 11 << 20, PSS: 700, RSS: 2500, Procs: 7},
				{Time: 10.06, VmallocUsed: 4 << 20, Vmap: 8 << 20, PSS: 200, RSS: 400, Procs: 1},
			}},
			start: 10,
			want: MemoryPeak{
				Samples: 4, IntervalMS: 20,
				VmallocStart: 3 << 20, VmallocPeak: 9 << 20, VmallocEnd: 4 << 20,
				VmallocPeakAt: 0.02, // the first of two equal peaks
				VmapStart:     7 << 20, VmapPeak: 12 << 20, VmapEnd: 8 << 20,
				ManagerPSS: 900, ManagerRSS: 2500, ManagerProcs: 7,
				SamplerCPU: 0.25,
			},
		},
		{
			name: "a sampler that started late has its first sample as the baseline",
			series: MemorySeries{Samples: []MemorySample{
				{Time: 10.5, VmallocUsed: 8 << 20},
				{Time: 11.5, VmallocUsed: 6 << 20},
			}},
			start: 10,
			want: MemoryPeak{
				Samples: 2, IntervalMS: 1000,
				VmallocStart: 8 << 20, VmallocPeak: 8 << 20, VmallocEnd: 6 << 20, VmallocPeakAt: 0.5,
			},
		},
		{
			name: "every sample before start: the last one is all there is",
			series: MemorySeries{Samples: []MemorySample{
				{Time: 1, VmallocUsed: 8 << 20, PSS: 5},
				{Time: 2, VmallocUsed: 7 << 20, PSS: 4},
			}},
			start: 10,
			want: MemoryPeak{
				Samples:      1,
				VmallocStart: 7 << 20, VmallocPeak: 7 << 20, VmallocEnd: 7 << 20, VmallocPeakAt: -8,
				ManagerPSS: 4,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := PeakMemory(tt.series, tt.start)
			if diff := cmp.Diff(tt.want, got, cmpFloat); diff != "" {
				t.Errorf("PeakMemory (-want +got):\n%s", diff)
			}
		})
	}
}

// cmpFloat compares seconds and milliseconds to a nanosecond: the test's
// times are decimal fractions, which float64 does not hold exactly.
var cmpFloat = cmp.Comparer(func(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 })

// FuzzPeakMemory builds a time-ordered series from the input, 16 bytes a
// sample, and checks what PeakMemory promises.
func FuzzPeakMemory(f *testing.F) {
	f.Add([]byte{}, 0.0)
	f.Add([]byte("0123456789abcdef0123456789abcdef"), 1.5)
	f.Add(make([]byte, 160), -3.0)
	f.Fuzz(func(t *testing.T, b []byte, start float64) {
		if start != start || start > 1e12 || start < -1e12 {
			return // uptimes are finite
		}
		var s MemorySeries
		tm := 0.0
		for ; len(b) >= 16; b = b[16:] {
			tm += float64(binary.LittleEndian.Uint16(b[0:])) / 1000
			s.Samples = append(s.Samples, MemorySample{
				Time:        tm,
				VmallocUsed: int64(binary.LittleEndian.Uint32(b[2:])),
				Vmap:        int64(binary.LittleEndian.Uint16(b[6:])) << 12,
				PSS:         int64(binary.LittleEndian.Uint32(b[8:])),
				RSS:         int64(binary.LittleEndian.Uint16(b[12:])) << 12,
				Procs:       int(b[14]),
			})
		}
		p := PeakMemory(s, start)
		checkPeak(t, s, start, p)
	})
}

func checkPeak(t *testing.T, s MemorySeries, start float64, p MemoryPeak) {
	t.Helper()
	if len(s.Samples) == 0 {
		if p != (MemoryPeak{SamplerCPU: s.CPU}) {
			t.Fatalf("no samples, got %+v", p)
		}
		return
	}
	if p.Samples < 1 || p.Samples > len(s.Samples) {
		t.Fatalf("Samples = %d of %d", p.Samples, len(s.Samples))
	}
	if p.VmallocPeak < p.VmallocStart || p.VmallocPeak < p.VmallocEnd || p.VmapPeak < p.VmapStart || p.VmapPeak < p.VmapEnd {
		t.Fatalf("a peak below its start or end: %+v", p)
	}
	w := s.Samples[len(s.Samples)-p.Samples:]
	if p.Samples < len(s.Samples) && w[0].Time > start {
		t.Fatalf("baseline at %v after start %v although an earlier sample exists", w[0].Time, start)
	}
	if at := p.VmallocPeakAt + start; at < w[0].Time-1e-6 || at > w[len(w)-1].Time+1e-6 {
		t.Fatalf("peak at %v outside the window [%v, %v]", at, w[0].Time, w[len(w)-1].Time)
	}
	for _, x := range w {
		if x.VmallocUsed > p.VmallocPeak || x.PSS > p.ManagerPSS || x.RSS > p.ManagerRSS || x.Procs > p.ManagerProcs || x.Vmap > p.VmapPeak {
			t.Fatalf("sample %+v above the peaks %+v", x, p)
		}
	}
	if p.IntervalMS < 0 {
		t.Fatalf("negative interval %v", p.IntervalMS)
	}
}

func TestParseKB(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want map[string]int64
	}{
		{
			name: "meminfo",
			in: "MemTotal:        2014420 kB\nVmallocTotal:   34359738367 kB\nVmallocUsed:       12348 kB\n" +
				"HugePages_Total:       0\nHugepagesize:       2048 kB\n",
			want: map[string]int64{"MemTotal": 2014420 << 10, "VmallocTotal": 34359738367 << 10, "VmallocUsed": 12348 << 10, "Hugepagesize": 2048 << 10},
		},
		{
			name: "smaps_rollup: the address header is no key",
			in: "55d0c9a1e000-7ffd5b3f2000 ---p 00000000 00:00 0                          [rollup]\n" +
				"Rss:                9880 kB\nPss:                5263 kB\nPss_Dirty:          3000 kB\nSwapPss:               0 kB\n",
			want: map[string]int64{"Rss": 9880 << 10, "Pss": 5263 << 10, "Pss_Dirty": 3000 << 10, "SwapPss": 0},
		},
		{
			name: "malformed values and units are skipped",
			in:   "A: -1 kB\nB: x kB\nC: 1 MB\nD 1 kB\n: 1 kB\nE: 99999999999999999999 kB\nF: 1 kB extra\n",
			want: map[string]int64{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, ParseKB([]byte(tt.in))); diff != "" {
				t.Errorf("ParseKB (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParseKB(f *testing.F) {
	f.Add("VmallocUsed:       12348 kB\nHugePages_Total:       0\n")
	f.Add("Rss: 1 kB\nPss: 0 kB\n")
	f.Fuzz(func(t *testing.T, in string) {
		m := ParseKB([]byte(in))
		if len(m) > strings.Count(in, "\n")+1 {
			t.Fatalf("%d keys from %d lines", len(m), strings.Count(in, "\n")+1)
		}
		for k, v := range m {
			if k == "" || strings.ContainsAny(k, " \t\n") || v < 0 || v%1024 != 0 {
				t.Fatalf("key %q value %d", k, v)
			}
			if !strings.Contains(in, k+":") {
				t.Fatalf("key %q not in the input", k)
			}
		}
	})
}

func TestVmapSize(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want int64
	}{
		{
			name: "6.1: vmalloc, vmap, ioremap and vm_map_ram areas count, unpurged ones do not",
			in: "0xffffc90000000000-0xffffc90000005000   20480 irq_init_percpu_irqstack+0x176/0x1c0 vmap\n" +
				"0xffffc9000001d000-0xffffc90000022000   20480 load_module+0x6b/0x1f10 pages=4 vmalloc N0=4\n" +
				"0xffffc90000040000-0xffffc90000042000    8192 acpi_os_map_iomem+0x1ac/0x1f0 phys=0x00000000fed00000 ioremap\n" +
				"0xffffc90000300000-0xffffc90000302000    8192 unpurged vm_area\n" +
				"0xffffc90000400000-0xffffc90000401000    4096 vm_map_ram\n",
			want: 20480 + 20480 + 8192 + 4096,
		},
		{
			name: "lines without an address range are skipped",
			in:   "garbage\n0xffff 12 x\n0x1-0x2 -5 x\n0x1-0x2 notanumber\n",
			want: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := VmapSize([]byte(tt.in)); got != tt.want {
				t.Errorf("VmapSize = %d, want %d", got, tt.want)
			}
		})
	}
}

func FuzzVmapSize(f *testing.F) {
	f.Add("0xffffc90000000000-0xffffc90000005000   20480 irq_init_percpu_irqstack+0x176/0x1c0 vmap\n")
	f.Add("0x1-0x2 8192 unpurged vm_area\n")
	f.Fuzz(func(t *testing.T, in string) {
		got := VmapSize([]byte(in))
		if got < 0 {
			t.Fatalf("negative size %d", got)
		}
		if !strings.Contains(in, "0x") && got != 0 {
			t.Fatalf("size %d from input without an address", got)
		}
		// Appending an unpurged area never changes the sum.
		if again := VmapSize([]byte(in + "\n0x1-0x2 4096 unpurged vm_area\n")); again != got {
			t.Fatalf("an unpurged area changed the sum from %d to %d", got, again)
		}
	})
}
