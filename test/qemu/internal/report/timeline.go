package report

import (
	"maps"
	"slices"
	"sort"
)

// Span is one load syscall on a run's time axis, in seconds after the
// run's Start (coldplug began). Start is the syscall's enter event, End its
// exit event: the whole time the caller spent in the kernel, which
// includes waiting, not only work. On 6.1 a duplicate finit_module sleeps
// in add_unformed_module until the first load of the same module finishes
// and only then fails with EEXIST; a module whose dependency is still
// coming sleeps in resolve_symbol_wait until that dependency is live.
type Span struct {
	Module string  `json:"module,omitempty"` // empty when the kprobe could not name the call
	Comm   string  `json:"comm"`
	Start  float64 `json:"start"`
	End    float64 `json:"end"`
	Ret    int64   `json:"ret"`
	Errno  string  `json:"errno,omitempty"`
	Open   bool    `json:"open,omitempty"` // no exit event: End is where the run stopped looking
}

// Outcomes of a span, for plots and tables.
const (
	OutcomeLoaded = "loaded"
	OutcomeEEXIST = "EEXIST"
	OutcomeError  = "error"
	OutcomeOpen   = "unfinished"
)

// Outcome says how the load ended: loaded, EEXIST (a duplicate), error
// (any other errno) or unfinished (no exit event).
func (s Span) Outcome() string {
	switch {
	case s.Open:
		return OutcomeOpen
	case s.Errno == "EEXIST":
		return OutcomeEEXIST
	case s.Ret < 0:
		return OutcomeError
	}
	return OutcomeLoaded
}

// Seconds is the span's length.
func (s Span) Seconds() float64 { return s.End - s.Start }

// Step is the number of load syscalls in the kernel from At until the next
// step.
type Step struct {
	At float64 `json:"at"`
	N  int     `json:"n"`
}

// Timeline is where the time of a coldplug run went, from its load
// syscalls. Times are seconds after the run's Start.
type Timeline struct {
	Spans         []Span  `json:"spans"`         // sorted by start, then end
	Loads         int     `json:"loads"`         // load syscalls
	Loaded        int     `json:"loaded"`        // of which succeeded
	KernelSeconds float64 `json:"kernel_s"`      // sum of the spans' lengths
	BusySeconds   float64 `json:"busy_s"`        // length of their union: time with at least one load in the kernel
	MaxInFlight   int     `json:"max_inflight"`  // most loads in the kernel at once
	MeanInFlight  float64 `json:"mean_inflight"` // KernelSeconds / BusySeconds: loads in the kernel while any is
	FirstLoadAt   float64 `json:"first_load_at"`
	LastLoadEndAt float64 `json:"last_load_end_at"`
	SettleGap     float64 `json:"settle_gap"` // settled − LastLoadEndAt; negative when a load ended after settle

	// CriticalSeconds is the longest chain through the dependency DAG of
	// the modules that loaded, each module weighted by the length of its
	// first successful load: no loader can finish these modules, loaded
	// this fast, in less time, however parallel. CriticalPath is that
	// chain in load order, dependencies first.
	CriticalSeconds float64  `json:"critical_s"`
	CriticalPath    []string `json:"critical_path,omitempty"`
}

// Analyze puts a report's load syscalls on its time axis. deps gives the
// modules a module needs (kmodset.Set.Deps: modules.dep, which lists the
// whole transitive closure of symbol dependencies and no soft
// dependencies); it may be nil, which makes every module its own chain.
//
// A call without an exit event (still in the kernel when the trace
// stopped, or whose exit the ring buffer dropped) ends at Settled, or at
// its start if it began after Settled.
func Analyze(r *Report, deps func(string) []string) Timeline {
	t := Timeline{Spans: spans(r)}
	t.Loads = len(t.Spans)
	steps := InFlight(t.Spans)
	for i, st := range steps {
		t.MaxInFlight = max(t.MaxInFlight, st.N)
		if i+1 < len(steps) && st.N > 0 {
			t.BusySeconds += steps[i+1].At - st.At
		}
	}
	for i, s := range t.Spans {
		t.KernelSeconds += s.Seconds()
		if s.Outcome() == OutcomeLoaded {
			t.Loaded++
		}
		if i == 0 || s.Start < t.FirstLoadAt {
			t.FirstLoadAt = s.Start
		}
		t.LastLoadEndAt = max(t.LastLoadEndAt, s.End)
	}
	if t.BusySeconds > 0 {
		t.MeanInFlight = t.KernelSeconds / t.BusySeconds
	}
	t.SettleGap = r.Settled - r.Start - t.LastLoadEndAt
	t.CriticalSeconds, t.CriticalPath = criticalPath(t.Spans, deps)
	return t
}

// spans turns a report's calls into spans, sorted by start and end.
func spans(r *Report) []Span {
	settled := r.Settled - r.Start
	out := make([]Span, 0, len(r.Calls))
	for _, c := range r.Calls {
		s := Span{Module: c.Module, Comm: c.Comm, Start: c.Time - r.Start, End: c.End - r.Start, Ret: c.Ret, Errno: c.Errno}
		// A report saved before calls had an End carries Done without
		// one: it counts as open too.
		if !c.Done || c.End < c.Time {
			s.Open, s.End = true, max(settled, s.Start)
		}
		out = append(out, s)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Start != out[j].Start {
			return out[i].Start < out[j].Start
		}
		return out[i].End < out[j].End
	})
	return out
}

// InFlight returns how many spans are in the kernel over time: a step at
// every start and end, the last one at zero. A span covers [Start, End),
// so one that ends when another starts does not overlap it and a span of
// no length is never in flight.
func InFlight(spans []Span) []Step {
	delta := map[float64]int{}
	for _, s := range spans {
		if s.End > s.Start {
			delta[s.Start]++
			delta[s.End]--
		}
	}
	at := make([]float64, 0, len(delta))
	for a := range delta {
		at = append(at, a)
	}
	sort.Float64s(at)
	steps := make([]Step, 0, len(at))
	n := 0
	for _, a := range at {
		n += delta[a]
		steps = append(steps, Step{At: a, N: n})
	}
	return steps
}

// criticalPath returns the longest dependency chain of the modules that
// loaded. Modules already live before the run, built in, or never loaded
// successfully are not in the DAG: the chain does not wait for them.
//
// The weights are measured, so the bound holds for these durations only:
// a module that slept in resolve_symbol_wait for a dependency another
// loader was still initialising carries that wait in its own length, and
// its chain can then be longer than the time the run was busy.
func criticalPath(spans []Span, deps func(string) []string) (float64, []string) {
	weight := map[string]float64{}
	for _, s := range spans {
		if _, seen := weight[s.Module]; !seen && s.Module != "" && s.Outcome() == OutcomeLoaded {
			weight[s.Module] = s.Seconds()
		}
	}
	c := chains{weight: weight, deps: deps, memo: map[string]chain{}}
	var best chain
	for _, m := range slices.Sorted(maps.Keys(weight)) {
		if ch := c.longest(m, map[string]bool{}); ch.seconds > best.seconds || best.path == nil {
			best = ch
		}
	}
	return best.seconds, best.path
}

type chain struct {
	seconds float64
	path    []string // dependencies first
}

// chains finds, memoised, the longest chain ending at each module.
type chains struct {
	weight map[string]float64
	deps   func(string) []string
	memo   map[string]chain
}

// longest returns the longest chain ending at m. onPath guards against a
// cycle, which depmod never writes but a deps function could: the edge
// that closes it is ignored.
func (c chains) longest(m string, onPath map[string]bool) chain {
	if ch, ok := c.memo[m]; ok {
		return ch
	}
	onPath[m] = true
	var best chain
	if c.deps != nil {
		ds := slices.Clone(c.deps(m))
		slices.Sort(ds) // ties go to the first name: the result does not depend on depmod's order
		for _, d := range ds {
			if _, ok := c.weight[d]; !ok || onPath[d] {
				continue
			}
			if ch := c.longest(d, onPath); ch.seconds > best.seconds || best.path == nil {
				best = ch
			}
		}
	}
	delete(onPath, m)
	out := chain{seconds: best.seconds + c.weight[m], path: append(append([]string(nil), best.path...), m)}
	c.memo[m] = out
	return out
}
