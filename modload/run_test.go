package modload

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// recorder is a do function that records calls and fails chosen modules.
type recorder struct {
	mu    sync.Mutex // guards the fields below
	order []string
	calls map[string]int
	fail  map[string]error
}

func (r *recorder) do(ctx context.Context, s Step) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.calls == nil {
		r.calls = make(map[string]int)
	}
	r.calls[s.Name]++
	r.order = append(r.order, s.Name)
	return r.fail[s.Name]
}

func TestRun(t *testing.T) {
	plan := &Plan{
		Steps: []Step{
			{Name: "c"},
			{Name: "b", Deps: []string{"c"}},
			{Name: "a", Deps: []string{"b", "c"}},
			{Name: "soft"},
			{Name: "x", Deps: []string{"c"}, Pre: []string{"soft"}, Post: []string{"y"}},
			{Name: "y"},
			{Name: "z", Deps: []string{"a"}},
		},
		Errors: map[string]error{"gone": &ModuleError{Module: "gone", Op: "plan", Err: ErrUnknownModule}},
	}
	tests := []struct {
		name      string
		fail      map[string]error
		wantCalls map[string]int
		wantErrs  map[string]string
	}{
		{
			name:      "all succeed, each once",
			wantCalls: map[string]int{"a": 1, "b": 1, "c": 1, "soft": 1, "x": 1, "y": 1, "z": 1},
			wantErrs: map[string]string{
				"a": "", "b": "", "c": "", "soft": "", "x": "", "y": "", "z": "",
				"gone": "load module gone: plan: unknown module",
			},
		},
		{
			name:      "failed dependency fails dependants only",
			fail:      map[string]error{"b": &ModuleError{Module: "b", Op: "finit_module", Err: unix.EKEYREJECTED}},
			wantCalls: map[string]int{"b": 1, "c": 1, "soft": 1, "x": 1, "y": 1},
			wantErrs: map[string]string{
				"a":    "load module a: dependency b failed: load module b: finit_module: key was rejected by service",
				"b":    "load module b: finit_module: key was rejected by service",
				"c":    "",
				"soft": "", "x": "", "y": "",
				"z":    "load module z: dependency a failed: load module a: dependency b failed: load module b: finit_module: key was rejected by service",
				"gone": "load module gone: plan: unknown module",
			},
		},
		{
			name:      "failed softdeps fail nobody",
			fail:      map[string]error{"soft": unix.ENODEV, "y": unix.EBUSY},
			wantCalls: map[string]int{"a": 1, "b": 1, "c": 1, "soft": 1, "x": 1, "y": 1, "z": 1},
			wantErrs: map[string]string{
				"a": "", "b": "", "c": "", "x": "", "z": "",
				"soft": "no such device", "y": "device or resource busy",
				"gone": "load module gone: plan: unknown module",
			},
		},
	}
	for _, tt := range tests {
		for _, limit := range []int{0, 1, 4} {
			t.Run(fmt.Sprintf("%s/limit %d", tt.name, limit), func(t *testing.T) {
				r := &recorder{fail: tt.fail}
				errs := Run(t.Context(), plan, limit, r.do)
				if diff := cmp.Diff(tt.wantCalls, r.calls); diff != "" {
					t.Errorf("calls mismatch (-want +got):\n%s", diff)
				}
				got := make(map[string]string)
				for n, err := range errs {
					got[n] = ""
					if err != nil {
						got[n] = err.Error()
					}
				}
				if diff := cmp.Diff(tt.wantErrs, got); diff != "" {
					t.Errorf("errors mismatch (-want +got):\n%s", diff)
				}
				before := func(x, y string) {
					i, j := slices.Index(r.order, x), slices.Index(r.order, y)
					if i >= 0 && j >= 0 && i > j {
						t.Errorf("%s ran after %s: %v", x, y, r.order)
					}
				}
				before("c", "b")
				before("b", "a")
				before("soft", "x")
				before("x", "y")
				before("a", "z")
			})
		}
	}
}

func TestRunDependencyErrorKeepsErrno(t *testing.T) {
	plan := &Plan{Steps: []Step{{Name: "dep"}, {Name: "mod", Deps: []string{"dep"}}}}
	errs := Run(t.Context(), plan, 2, func(ctx context.Context, s Step) error {
		return &ModuleError{Module: s.Name, Op: "finit_module", Err: unix.EKEYREJECTED}
	})
	err := errs["mod"]
	var de *DependencyError
	if !errors.As(err, &de) || de.Dep != "dep" {
		t.Fatalf("error %v is not a *DependencyError on dep", err)
	}
	for _, target := range []error{unix.EKEYREJECTED, ErrDependencyFailed} {
		if !errors.Is(err, target) {
			t.Errorf("errors.Is(%v, %v) = false", err, target)
		}
	}
	if errors.Is(err, unix.ENOENT) {
		t.Errorf("errors.Is(%v, ENOENT) = true", err)
	}
}

// TestRunParallel checks that independent steps overlap up to the limit
// and never beyond: each call waits until limit calls are in flight, so a
// runner that serialised them would block until the deadline.
func TestRunParallel(t *testing.T) {
	const limit = 3
	var plan Plan
	for i := range 9 {
		plan.Steps = append(plan.Steps, Step{Name: fmt.Sprint("m", i)})
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var (
		mu       sync.Mutex
		inFlight int
		maxSeen  int
		full     = make(chan struct{})
		once     sync.Once
	)
	errs := Run(ctx, &plan, limit, func(ctx context.Context, s Step) error {
		mu.Lock()
		inFlight++
		maxSeen = max(maxSeen, inFlight)
		if inFlight == limit {
			once.Do(func() { close(full) })
		}
		mu.Unlock()
		defer func() {
			mu.Lock()
			inFlight--
			mu.Unlock()
		}()
		select {
		case <-full:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	for n, err := range errs {
		if err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
	if maxSeen != limit {
		t.Errorf("at most %d calls in flight, want %d", maxSeen, limit)
	}
}

// TestRunCancel: the first call holds the only slot until ctx ends; the
// steps queued for the slot or waiting on a dependency must then fail with
// ctx's error without being called.
func TestRunCancel(t *testing.T) {
	plan := &Plan{Steps: []Step{
		{Name: "one"},
		{Name: "two"},
		{Name: "after", Deps: []string{"one", "two"}},
	}}
	ctx, cancel := context.WithCancel(t.Context())
	started := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		<-started
		cancel()
	})
	calls := 0
	errs := Run(ctx, plan, 1, func(ctx context.Context, s Step) error {
		if calls++; calls > 1 {
			t.Errorf("%s called after cancel", s.Name)
			return nil
		}
		close(started)
		<-ctx.Done()
		return &ModuleError{Module: s.Name, Op: "install", Err: ctx.Err()}
	})
	for _, n := range []string{"one", "two", "after"} {
		if !errors.Is(errs[n], context.Canceled) {
			t.Errorf("%s: %v, want context.Canceled", n, errs[n])
		}
	}
}

func TestRunRejectsMisorderedPlan(t *testing.T) {
	plan := &Plan{Steps: []Step{
		{Name: "a", Deps: []string{"b"}},
		{Name: "b", Deps: []string{"a"}},
		{Name: "c", Deps: []string{"missing"}},
	}}
	errs := Run(t.Context(), plan, 2, func(context.Context, Step) error { return nil })
	want := map[string]string{
		"a": "load module a: plan: prerequisite b comes later in the plan",
		"b": "load module b: dependency a failed: load module a: plan: prerequisite b comes later in the plan",
		"c": "load module c: dependency missing failed: load module missing: plan: unknown module",
	}
	got := make(map[string]string)
	for n, err := range errs {
		got[n] = fmt.Sprint(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors mismatch (-want +got):\n%s", diff)
	}
}

// BenchmarkRunEveryModule runs the plan of all 4022 Debian modules with a
// do that does nothing: the cost of the graph runner itself.
func BenchmarkRunEveryModule(b *testing.B) {
	p, names := everyModule(b)
	plan := p.Plan(names)
	for b.Loop() {
		Run(b.Context(), plan, 8, func(context.Context, Step) error { return nil })
	}
}
