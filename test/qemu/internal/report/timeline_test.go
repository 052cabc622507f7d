package report

import (
	"encoding/json"
	"math"
	"os"
	"slices"
	"sort"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gudevd/gudevd/test/qemu/internal/kmodset"
)

// approx compares the float sums of a timeline, which add up in another
// order than the hand-made want.
func approx() cmp.Options { return cmp.Options{cmpopts.EquateApprox(0, 1e-9), cmpopts.EquateEmpty()} }

// call is a finished load syscall of module m from start to end.
func call(m string, start, end float64, errno string) Call {
	c := Call{Comm: "w", Module: m, Time: start, End: end, Done: true}
	switch errno {
	case "EEXIST":
		c.Ret, c.Errno = -17, errno
	case "ENODEV":
		c.Ret, c.Errno = -19, errno
	}
	return c
}

func depsOf(m map[string][]string) func(string) []string {
	return func(name string) []string { return m[name] }
}

func TestAnalyze(t *testing.T) {
	tests := []struct {
		name string
		r    Report
		deps map[string][]string
		want Timeline
	}{
		{
			name: "no loads: the whole settle time is gap",
			r:    Report{Start: 10, Settled: 12},
			want: Timeline{SettleGap: 2},
		},
		{
			name: "a dependency, its dependent and a module beside them",
			r: Report{Start: 0.5, Settled: 5.5, Calls: []Call{
				call("b", 2.5, 4.5, ""), call("a", 1.5, 2.5, ""), call("c", 3, 3.5, ""),
			}},
			deps: map[string][]string{"b": {"a"}},
			want: Timeline{
				Spans: []Span{
					{Module: "a", Comm: "w", Start: 1, End: 2},
					{Module: "b", Comm: "w", Start: 2, End: 4},
					{Module: "c", Comm: "w", Start: 2.5, End: 3},
				},
				Loads: 3, Loaded: 3, KernelSeconds: 3.5, BusySeconds: 3, MaxInFlight: 2, MeanInFlight: 3.5 / 3,
				FirstLoadAt: 1, LastLoadEndAt: 4, SettleGap: 1,
				CriticalSeconds: 3, CriticalPath: []string{"a", "b"},
			},
		},
		{
			name: "duplicates wait for the first load and do not weigh on the chain",
			r: Report{Settled: 3, Calls: []Call{
				call("a", 0, 2, ""), call("a", 0.5, 2.1, "EEXIST"), call("x", 0.1, 0.2, "ENODEV"),
			}},
			want: Timeline{
				Spans: []Span{
					{Module: "a", Comm: "w", Start: 0, End: 2},
					{Module: "x", Comm: "w", Start: 0.1, End: 0.2, Ret: -19, Errno: "ENODEV"},
					{Module: "a", Comm: "w", Start: 0.5, End: 2.1, Ret: -17, Errno: "EEXIST"},
				},
				Loads: 3, Loaded: 1, KernelSeconds: 3.7, BusySeconds: 2.1, MaxInFlight: 2, MeanInFlight: 3.7 / 2.1,
				LastLoadEndAt: 2.1, SettleGap: 0.9,
				CriticalSeconds: 2, CriticalPath: []string{"a"},
			},
		},
		{
			name: "unfinished calls end at settled, or where they began if after it",
			r: Report{Start: 10, Settled: 13, Calls: []Call{
				{Comm: "w", Module: "a", Time: 11},
				{Comm: "w", Module: "b", Time: 14},
				{Comm: "w", Module: "c", Time: 12, Done: true}, // saved before calls had an End
			}},
			want: Timeline{
				Spans: []Span{
					{Module: "a", Comm: "w", Start: 1, End: 3, Open: true},
					{Module: "c", Comm: "w", Start: 2, End: 3, Open: true},
					{Module: "b", Comm: "w", Start: 4, End: 4, Open: true},
				},
				Loads: 3, KernelSeconds: 3, BusySeconds: 2, MaxInFlight: 2, MeanInFlight: 1.5,
				FirstLoadAt: 1, LastLoadEndAt: 4, SettleGap: -1,
			},
		},
		{
			name: "touching loads do not overlap",
			r:    Report{Settled: 2, Calls: []Call{call("a", 0, 1, ""), call("b", 1, 2, "")}},
			want: Timeline{
				Spans: []Span{
					{Module: "a", Comm: "w", Start: 0, End: 1},
					{Module: "b", Comm: "w", Start: 1, End: 2},
				},
				Loads: 2, Loaded: 2, KernelSeconds: 2, BusySeconds: 2, MaxInFlight: 1, MeanInFlight: 1,
				LastLoadEndAt:   2,
				CriticalSeconds: 1, CriticalPath: []string{"a"},
			},
		},
		{
			// modules.dep lists the transitive closure: d needs c and b.
			// e's dependency on a module that was live before the run
			// (or built in) is not in the DAG.
			name: "the heaviest chain wins, not the one with most modules",
			r: Report{Settled: 10, Calls: []Call{
				call("b", 0, 1, ""), call("c", 1, 2, ""), call("d", 2, 3, ""),
				call("a", 0, 5, ""), call("e", 5, 6, ""),
			}},
			deps: map[string][]string{"d": {"c", "b"}, "c": {"b"}, "e": {"live", "a"}},
			want: Timeline{
				Spans: []Span{
					{Module: "b", Comm: "w", Start: 0, End: 1},
					{Module: "a", Comm: "w", Start: 0, End: 5},
					{Module: "c", Comm: "w", Start: 1, End: 2},
					{Module: "d", Comm: "w", Start: 2, End: 3},
					{Module: "e", Comm: "w", Start: 5, End: 6},
				},
				Loads: 5, Loaded: 5, KernelSeconds: 9, BusySeconds: 6, MaxInFlight: 2, MeanInFlight: 1.5,
				LastLoadEndAt: 6, SettleGap: 4,
				CriticalSeconds: 6, CriticalPath: []string{"a", "e"},
			},
		},
		{
			// On 6.1 a load that needs a module still initialising sleeps
			// in resolve_symbol_wait; its length carries the wait, so the
			// chain is longer than the time anything was loading.
			name: "a dependent that waited for its dependency makes the chain longer than busy",
			r:    Report{Settled: 3, Calls: []Call{call("a", 0, 2, ""), call("b", 0.5, 2.5, "")}},
			deps: map[string][]string{"b": {"a"}},
			want: Timeline{
				Spans: []Span{
					{Module: "a", Comm: "w", Start: 0, End: 2},
					{Module: "b", Comm: "w", Start: 0.5, End: 2.5},
				},
				Loads: 2, Loaded: 2, KernelSeconds: 4, BusySeconds: 2.5, MaxInFlight: 2, MeanInFlight: 1.6,
				LastLoadEndAt: 2.5, SettleGap: 0.5,
				CriticalSeconds: 4, CriticalPath: []string{"a", "b"},
			},
		},
		{
			name: "a cycle in deps is cut, not followed forever",
			r:    Report{Settled: 3, Calls: []Call{call("a", 0, 1, ""), call("b", 1, 3, "")}},
			deps: map[string][]string{"a": {"b"}, "b": {"a"}},
			want: Timeline{
				Spans: []Span{
					{Module: "a", Comm: "w", Start: 0, End: 1},
					{Module: "b", Comm: "w", Start: 1, End: 3},
				},
				Loads: 2, Loaded: 2, KernelSeconds: 3, BusySeconds: 3, MaxInFlight: 1, MeanInFlight: 1,
				LastLoadEndAt:   3,
				CriticalSeconds: 3, CriticalPath: []string{"b", "a"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Analyze(&tt.r, depsOf(tt.deps))
			if diff := cmp.Diff(tt.want, got, approx()); diff != "" {
				t.Errorf("Analyze (-want +got):\n%s", diff)
			}
		})
	}
}

func TestInFlight(t *testing.T) {
	got := InFlight([]Span{{Start: 0, End: 2}, {Start: 1, End: 3}, {Start: 1, End: 1}, {Start: 3, End: 4}})
	want := []Step{{0, 1}, {1, 2}, {2, 1}, {3, 1}, {4, 0}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("InFlight (-want +got):\n%s", diff)
	}
}

// FuzzAnalyze checks the invariants of a timeline over made-up runs: every
// 3 bytes are a call (module, start, length and outcome).
func FuzzAnalyze(f *testing.F) {
	f.Add([]byte{0, 0, 10, 1, 5, 10, 2, 20, 30})
	f.Add([]byte{4, 0, 0, 3, 0, 3, 3, 0, 255})
	// A small modules.dep: transitive, as depmod writes it.
	fuzzDeps := map[string][]string{"m1": {"m0"}, "m2": {"m1", "m0"}, "m3": {"m0"}, "m4": {"m3", "m0", "m2", "m1"}}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := fuzzReport(b)
		tl := Analyze(&r, func(m string) []string { return fuzzDeps[m] })
		checkTimeline(t, &r, tl)
		for i := 1; i < len(tl.CriticalPath); i++ {
			if !slices.Contains(fuzzDeps[tl.CriticalPath[i]], tl.CriticalPath[i-1]) {
				t.Fatalf("critical path %v: %s does not need %s", tl.CriticalPath, tl.CriticalPath[i], tl.CriticalPath[i-1])
			}
		}
	})
}

func fuzzReport(b []byte) Report {
	r := Report{Start: 1, Settled: 1 + float64(len(b))/10}
	for i := 0; i+2 < len(b); i += 3 {
		c := call(fmtModule(b[i]%5), 1+float64(b[i+1])/10, 1+float64(b[i+1])/10+float64(b[i+2]>>2)/10, "")
		switch b[i] >> 5 {
		case 1:
			c.Ret, c.Errno = -17, "EEXIST"
		case 2:
			c.Ret, c.Errno = -19, "ENODEV"
		case 3:
			c.Done, c.End = false, 0
		}
		r.Calls = append(r.Calls, c)
	}
	return r
}

func fmtModule(i byte) string { return "m" + string('0'+rune(i)) }

// checkTimeline asserts what holds for every timeline.
func checkTimeline(t *testing.T, r *Report, tl Timeline) {
	t.Helper()
	const eps = 1e-9
	if tl.Loads != len(r.Calls) || len(tl.Spans) != tl.Loads {
		t.Fatalf("%d calls, %d loads, %d spans", len(r.Calls), tl.Loads, len(tl.Spans))
	}
	if !sort.SliceIsSorted(tl.Spans, func(i, j int) bool { return tl.Spans[i].Start < tl.Spans[j].Start }) {
		t.Fatalf("spans not sorted by start")
	}
	for _, s := range tl.Spans {
		if s.End < s.Start {
			t.Fatalf("span %+v ends before it starts", s)
		}
	}
	if tl.BusySeconds > tl.KernelSeconds+eps {
		t.Fatalf("busy %v > kernel %v", tl.BusySeconds, tl.KernelSeconds)
	}
	if tl.BusySeconds > tl.LastLoadEndAt-tl.FirstLoadAt+eps {
		t.Fatalf("busy %v longer than first load to last end %v..%v", tl.BusySeconds, tl.FirstLoadAt, tl.LastLoadEndAt)
	}
	if (tl.MaxInFlight >= 1) != (tl.BusySeconds > 0) {
		t.Fatalf("max in flight %d with busy %v", tl.MaxInFlight, tl.BusySeconds)
	}
	if tl.BusySeconds > 0 && (tl.MeanInFlight < 1-eps || tl.MeanInFlight > float64(tl.MaxInFlight)+eps) {
		t.Fatalf("mean in flight %v outside [1, %d]", tl.MeanInFlight, tl.MaxInFlight)
	}
	// Each module of the chain weighs one distinct successful span, so the
	// chain is at most the kernel time. It can exceed BusySeconds: see the
	// resolve_symbol_wait case of TestAnalyze.
	if tl.CriticalSeconds > tl.KernelSeconds+eps {
		t.Fatalf("critical %v > kernel %v", tl.CriticalSeconds, tl.KernelSeconds)
	}
	if (tl.Loaded > 0) != (len(tl.CriticalPath) > 0) {
		t.Fatalf("%d loaded, critical path %v", tl.Loaded, tl.CriticalPath)
	}
	seen := map[string]bool{}
	for _, m := range tl.CriticalPath {
		if seen[m] {
			t.Fatalf("critical path %v repeats %s", tl.CriticalPath, m)
		}
		seen[m] = true
	}
	if gap := r.Settled - r.Start - tl.LastLoadEndAt; math.Abs(gap-tl.SettleGap) > eps {
		t.Fatalf("settle gap %v, want %v", tl.SettleGap, gap)
	}
}

// TestAnalyzeRealRuns checks Analyze against whole traces of a coldplug
// under udevd and gudevd (6.1, 4 vCPUs; testdata/README), with modules.dep
// trimmed to the modules that loaded. The numbers were worked out from the
// raw trace text with a separate script: calls paired by thread, lengths
// summed, enter and exit events swept for the most at once.
func TestAnalyzeRealRuns(t *testing.T) {
	deps := realDeps(t)
	type facts struct {
		Loads, Loaded, MaxInFlight                             int
		KernelSeconds, BusySeconds, CriticalSeconds, SettleGap float64
		FirstLoadAt, LastLoadEndAt                             float64
		CriticalPath                                           []string
	}
	tests := []struct {
		scenario string
		want     facts
	}{
		{
			// 126 calls for 58 modules: every worker whose device wants
			// a module already loading asks again and waits for EEXIST.
			scenario: "udevd",
			want: facts{Loads: 126, Loaded: 58, MaxInFlight: 21,
				KernelSeconds: 163.136605, BusySeconds: 17.974221, CriticalSeconds: 10.69581, SettleGap: 0.096168,
				FirstLoadAt: 1.319611, LastLoadEndAt: 19.293832,
				CriticalPath: []string{"usb_common", "usbcore", "xhci_hcd", "xhci_pci"}},
		},
		{
			// One call per module; the four failures are the cpufreq and
			// EDAC drivers the machine has no hardware for (ENODEV).
			scenario: "gudevd",
			want: facts{Loads: 62, Loaded: 58, MaxInFlight: 6,
				KernelSeconds: 63.422849, BusySeconds: 12.554704, CriticalSeconds: 7.316183, SettleGap: 0.099224,
				FirstLoadAt: 1.506072, LastLoadEndAt: 14.060776,
				CriticalPath: []string{"irqbypass", "kvm", "kvm_amd"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			r := realReport(t, tt.scenario)
			tl := Analyze(r, deps)
			checkTimeline(t, r, tl)
			got := facts{tl.Loads, tl.Loaded, tl.MaxInFlight, tl.KernelSeconds, tl.BusySeconds, tl.CriticalSeconds,
				tl.SettleGap, tl.FirstLoadAt, tl.LastLoadEndAt, tl.CriticalPath}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateApprox(0, 1e-6)); diff != "" {
				t.Errorf("Analyze (-want +got):\n%s", diff)
			}
			// Both managers load a module's dependencies before it (kmod
			// and gudevd alike), so on the chain each load begins after
			// the one before it ended.
			for i := 1; i < len(tl.CriticalPath); i++ {
				dep, mod := loadOf(tl, tl.CriticalPath[i-1]), loadOf(tl, tl.CriticalPath[i])
				if dep.End > mod.Start {
					t.Errorf("%s began at %.6f, before its dependency %s ended at %.6f", mod.Module, mod.Start, dep.Module, dep.End)
				}
			}
		})
	}
}

// loadOf returns the first successful load of module m.
func loadOf(tl Timeline, m string) Span {
	for _, s := range tl.Spans {
		if s.Module == m && s.Outcome() == OutcomeLoaded {
			return s
		}
	}
	return Span{}
}

// realDeps reads testdata's modules.dep with kmodset, as the harness reads
// a kernel's.
func realDeps(t *testing.T) func(string) []string {
	t.Helper()
	dep, err := os.ReadFile("testdata/timeline-6.1.modules.dep")
	if err != nil {
		t.Fatal(err)
	}
	set, err := kmodset.Load(fstest.MapFS{
		"modules.dep": {Data: dep}, "modules.alias": {}, "modules.softdep": {}, "modules.builtin": {},
	})
	if err != nil {
		t.Fatal(err)
	}
	return set.Deps
}

// realReport is a kept run: the report's times from its JSON, the calls
// parsed from its trace.
func realReport(t *testing.T, scenario string) *Report {
	t.Helper()
	b, err := os.ReadFile("testdata/timeline-6.1-004-" + scenario + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("testdata/timeline-6.1-004-" + scenario + ".trace")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if r.Calls, r.Loaded, r.Lost, err = ParseTrace(f); err != nil {
		t.Fatal(err)
	}
	return &r
}
