package qemu

import (
	"slices"
	"strings"
	"testing"

	"github.com/gudevd/gudevd/test/qemu/internal/report"
)

// TestOracleOnRealKernel is the limit bench's small case (make bench-limit
// runs the matrix): the oracle and gudevd on Debian's 6.1 at 4 vCPUs. The
// oracle must load the coldplug set (testdata/coldplug-6.1.txt) with one
// syscall per module, each only after every module it depends on has
// returned, and end with the modules gudevd ends with; both runs must come
// with a timeline and the memory sampler's peaks. -short skips it.
func TestOracleOnRealKernel(t *testing.T) {
	h := qemuHarness(t)
	k := Kernels[0]
	deps, err := h.ModuleDeps(t.Context(), k)
	if err != nil {
		t.Fatal(err)
	}
	var runs []TimelineRun
	for _, sc := range []string{"oracle", "gudevd"} {
		res, err := h.Run(t.Context(), k, sc, 4)
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, NewTimelineRun(res, deps))
	}
	var b strings.Builder
	WriteTimelineTable(&b, runs)
	t.Logf("\n%s", b.String())
	oracle, gudevd := runs[0], runs[1]

	want := coldplugModules(k)
	if len(want) == 0 {
		t.Fatal("no coldplug set: testdata/coldplug-6.1.txt is missing or empty")
	}
	got := make([]string, 0, len(oracle.Summary.PerModule))
	for m, n := range oracle.Summary.PerModule {
		got = append(got, m)
		if n != 1 {
			t.Errorf("oracle: %d load syscalls for %s, want 1", n, m)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("oracle loaded %v, want the coldplug set %v", got, want)
	}
	if o, g := oracle.Summary.ModulesLoaded, gudevd.Summary.ModulesLoaded; o != g || o == 0 {
		t.Errorf("modules loaded: oracle %d, gudevd %d; want the same, non-zero", o, g)
	}
	checkDependencyOrder(t, oracle.Timeline.Spans, deps)
	for _, r := range runs {
		if r.Timeline.Loads == 0 || r.Timeline.BusySeconds <= 0 || len(r.Timeline.CriticalPath) == 0 {
			t.Errorf("%s: empty timeline %+v", r.Summary.Scenario, r.Timeline)
		}
		if m := r.Memory; m == nil || m.Samples < 2 || m.VmallocStart <= 0 || m.VmallocPeak < m.VmallocStart {
			t.Errorf("%s: memory sampler gave %+v, want samples and a vmalloc peak at or above its start", r.Summary.Scenario, m)
		}
	}
	if m := gudevd.Memory; m != nil && (m.ManagerPSS <= 0 || m.ManagerProcs < 2) {
		t.Errorf("gudevd: family PSS %d bytes over %d processes, want the daemon and its workers", m.ManagerPSS, m.ManagerProcs)
	}
}

// checkDependencyOrder fails for an oracle load that began before a module
// it depends on had returned: the oracle's one promise about order.
func checkDependencyOrder(t *testing.T, spans []report.Span, deps func(string) []string) {
	t.Helper()
	end := map[string]float64{}
	for _, s := range spans {
		end[s.Module] = s.End
	}
	for _, s := range spans {
		for _, d := range deps(s.Module) {
			if e, ok := end[d]; ok && s.Start < e {
				t.Errorf("oracle started %s at %.3f s, before its dependency %s returned at %.3f s", s.Module, s.Start, d, e)
			}
		}
	}
}
