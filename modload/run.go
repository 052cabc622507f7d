package modload

import (
	"context"
	"fmt"
	"sync"
)

// Run executes plan: it calls do once for every step, after the step's Deps
// and Pre finished and, for a Post softdep, after the module naming it, with
// at most limit calls at once (limit < 1 means 1). A step whose dependency
// failed is not run: its error is a *DependencyError wrapping the
// dependency's. Softdeps only order: their failure fails nobody, as in
// modprobe. A step still waiting when ctx ends fails with ctx's error.
//
// The result has an entry for every step (nil on success) and every module
// in plan.Errors. Run returns after all its goroutines have.
func Run(ctx context.Context, plan *Plan, limit int, do func(ctx context.Context, s Step) error) map[string]error {
	limit = max(limit, 1)
	r := &runner{
		plan:  plan,
		index: make(map[string]int, len(plan.Steps)),
		done:  make([]chan struct{}, len(plan.Steps)),
		errs:  make([]error, len(plan.Steps)),
		sem:   make(chan struct{}, limit),
		after: make([][]int, len(plan.Steps)),
	}
	for i, s := range plan.Steps {
		r.index[s.Name] = i
		r.done[i] = make(chan struct{})
	}
	for i, s := range plan.Steps {
		for _, p := range s.Post {
			if j, ok := r.index[p]; ok {
				r.after[j] = append(r.after[j], i)
			}
		}
	}
	var wg sync.WaitGroup
	for i := range plan.Steps {
		wg.Go(func() {
			defer close(r.done[i])
			r.errs[i] = r.runStep(ctx, i, do)
		})
	}
	wg.Wait()

	out := make(map[string]error, len(plan.Steps)+len(plan.Errors))
	for name, err := range plan.Errors {
		out[name] = err
	}
	for i, s := range plan.Steps {
		out[s.Name] = r.errs[i]
	}
	return out
}

type runner struct {
	plan  *Plan
	index map[string]int
	done  []chan struct{}
	errs  []error // errs[i] is written before done[i] closes
	sem   chan struct{}
	after [][]int // after[i]: steps that name step i in Post
}

func (r *runner) runStep(ctx context.Context, i int, do func(context.Context, Step) error) error {
	s := r.plan.Steps[i]
	for _, d := range s.Deps {
		if err := r.wait(ctx, i, d, true); err != nil {
			return err
		}
	}
	for _, p := range s.Pre {
		if err := r.wait(ctx, i, p, false); err != nil {
			return err
		}
	}
	for _, j := range r.after[i] {
		if err := r.wait(ctx, i, r.plan.Steps[j].Name, false); err != nil {
			return err
		}
	}
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return &ModuleError{Module: s.Name, Path: s.Path, Op: "wait", Err: ctx.Err()}
	}
	defer func() { <-r.sem }()
	if err := ctx.Err(); err != nil {
		// select chose the free slot over the ended context.
		return &ModuleError{Module: s.Name, Path: s.Path, Op: "wait", Err: err}
	}
	return do(ctx, s)
}

// wait waits for step dep to finish. It returns an error when step i
// cannot run: ctx ended, or dep is a hard dependency and failed.
func (r *runner) wait(ctx context.Context, i int, dep string, hard bool) error {
	name := r.plan.Steps[i].Name
	j, ok := r.index[dep]
	if !ok {
		if err, failed := r.plan.Errors[dep]; failed && hard {
			return &DependencyError{Module: name, Dep: dep, Err: err}
		}
		if hard {
			return &DependencyError{Module: name, Dep: dep, Err: &ModuleError{Module: dep, Op: "plan", Err: ErrUnknownModule}}
		}
		return nil
	}
	if j >= i {
		// Plans from Planner never order a prerequisite later; waiting
		// on one from a hand-made plan could deadlock.
		return &ModuleError{Module: name, Op: "plan", Err: fmt.Errorf("prerequisite %s comes later in the plan", dep)}
	}
	select {
	case <-r.done[j]:
	case <-ctx.Done():
		return &ModuleError{Module: name, Op: "wait", Err: ctx.Err()}
	}
	if hard && r.errs[j] != nil {
		return &DependencyError{Module: name, Dep: dep, Err: r.errs[j]}
	}
	return nil
}
