package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/gudevd/gudevd/test/qemu/internal/kmodset"
	"golang.org/x/sys/unix"
)

// cmdOracle is the floor of the coldplug scenarios: it knows the final
// module set in advance and loads it once, each module as soon as every
// module it depends on has finished, with as many loads in flight as -jobs
// allows. No uevent, no alias lookup, no rules: the best any device
// manager can do on this kernel and vCPU count.
//
// It reads the tree with kmodset, the harness's own reading of depmod's
// files, never with gudevd's packages: the floor must not depend on the
// code it is the floor of.
func cmdOracle(ctx context.Context, args []string, stdout io.Writer) error {
	fl := flag.NewFlagSet("oracle", flag.ContinueOnError)
	modules := fl.String("modules", "", "file of module names, whitespace separated")
	dir := fl.String("dir", "", "module directory (default /lib/modules/$(uname -r))")
	jobs := fl.Int("jobs", 0, "loads in flight at once, 0 for no limit")
	out := fl.String("out", "", "file for the JSON result (default stdout)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		var uts unix.Utsname
		if err := unix.Uname(&uts); err != nil {
			return fmt.Errorf("uname: %w", err)
		}
		*dir = filepath.Join("/lib/modules", unix.ByteSliceToString(uts.Release[:]))
	}
	b, err := os.ReadFile(*modules)
	if err != nil {
		return fmt.Errorf("read module list: %w", err)
	}
	p, err := loadPlan(os.DirFS(*dir), strings.Fields(string(b)), moduleLive)
	if err != nil {
		return err
	}
	res := OracleResult{Jobs: *jobs, Start: uptime()}
	res.Loads = p.run(ctx, *jobs, func(path string) error { return finitModule(filepath.Join(*dir, path)) }, uptime)
	res.End = uptime()
	return writeOracle(res, *out, stdout)
}

// OracleResult is what guesttool oracle writes.
type OracleResult struct {
	Jobs  int          `json:"jobs"`  // the -jobs limit, 0 for none
	Start float64      `json:"start"` // uptime before the first load
	End   float64      `json:"end"`   // uptime after the last
	Loads []OracleLoad `json:"loads"` // one per module, in dependency order
}

// OracleLoad is one module of the plan.
type OracleLoad struct {
	Module     string   `json:"module"`
	Skip       string   `json:"skip,omitempty"`        // "builtin", "live" or "missing" (not in modules.dep): not loaded
	Start      float64  `json:"start,omitempty"`       // uptime at finit_module
	End        float64  `json:"end,omitempty"`         // uptime at its return
	Ret        int      `json:"ret"`                   // 0, or -errno
	Errno      string   `json:"errno,omitempty"`       // "EEXIST" etc.
	FailedDeps []string `json:"failed_deps,omitempty"` // dependencies that failed before this one was tried
}

// failed says whether dependants see this module as missing: EEXIST means
// another loader got there first, which is as good as done.
func (l OracleLoad) failed() bool {
	return l.Skip == "missing" || (l.Ret < 0 && l.Errno != "EEXIST")
}

func writeOracle(res OracleResult, out string, stdout io.Writer) error {
	if err := writeJSON(res, out, stdout); err != nil || out == "" {
		return err
	}
	n, failed := 0, 0
	for _, l := range res.Loads {
		if l.Skip == "" {
			n++
		}
		if l.failed() {
			failed++
		}
	}
	fmt.Fprintf(stdout, "oracle: %d loads (%d failed) in %.3f s, jobs %d\n", n, failed, res.End-res.Start, res.Jobs)
	return nil
}

// writeJSON writes v to the file out, or to stdout if out is empty.
func writeJSON(v any, out string, stdout io.Writer) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	if out == "" {
		_, err = stdout.Write(append(b, '\n'))
		return err
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	return nil
}

// moduleLive reports whether the kernel already has the module: initstate
// reads "live" once its init returned. A module still "coming" is left to
// finit_module, which waits for it and returns EEXIST.
func moduleLive(name string) bool {
	b, err := os.ReadFile(filepath.Join("/sys/module", name, "initstate"))
	return err == nil && strings.TrimSpace(string(b)) == "live"
}

// uptime is CLOCK_BOOTTIME, the clock /proc/uptime reads, to the
// nanosecond rather than /proc/uptime's hundredth.
func uptime() float64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts)
	return float64(ts.Sec) + float64(ts.Nsec)/1e9
}

// finitModule loads one module file. 6.12's modules are .ko.xz, which the
// kernel decompresses itself when asked with MODULE_INIT_COMPRESSED_FILE
// (CONFIG_MODULE_DECOMPRESS); 6.1's are plain .ko.
func finitModule(p string) error {
	f, err := os.Open(p) // O_CLOEXEC, as os.Open always is
	if err != nil {
		return err
	}
	defer f.Close()
	flags := 0
	if !strings.HasSuffix(p, ".ko") {
		flags = unix.MODULE_INIT_COMPRESSED_FILE
	}
	return unix.FinitModule(int(f.Fd()), "", flags)
}

// plan is the module set with, for each module, the modules that must have
// finished before it is tried.
type plan struct {
	order []string // dependencies before dependants
	nodes map[string]*planNode
}

type planNode struct {
	path string   // relative to the module directory
	skip string   // see OracleLoad.Skip
	deps []string // must finish first
}

// loadPlan reads the tree in fsys and plans names with their dependencies.
func loadPlan(fsys fs.FS, names []string, live func(string) bool) (*plan, error) {
	set, err := kmodset.Load(fsys)
	if err != nil {
		return nil, err
	}
	return newPlan(set, names, live)
}

// newPlan adds every module of names, and what they need, to a plan. A
// module needs what modules.dep lists for it (set.Deps, every hard
// dependency, already transitive) and the modules its softdep pre: names
// (set.Pre) resolve to, which modprobe loads before it. A soft edge that would
// close a cycle is dropped; hard edges cannot form one (depmod refuses).
func newPlan(set *kmodset.Set, names []string, live func(string) bool) (*plan, error) {
	p := &plan{nodes: map[string]*planNode{}}
	soft := map[string][]string{}
	queue := append([]string(nil), names...)
	for len(queue) > 0 {
		name := kmodset.Name(queue[0])
		queue = queue[1:]
		if _, ok := p.nodes[name]; ok {
			continue
		}
		n := &planNode{}
		p.nodes[name] = n
		path, ok := set.Path(name)
		switch {
		case set.Builtin(name):
			n.skip = "builtin"
			continue
		case !ok:
			n.skip = "missing"
			continue
		case live(name):
			n.skip = "live"
		}
		n.path = path
		n.deps = set.Deps(name)
		for _, s := range set.Pre(name) {
			for _, m := range set.Match(s) {
				if m != name {
					soft[name] = append(soft[name], m)
				}
			}
		}
		queue = append(queue, n.deps...)
		queue = append(queue, soft[name]...)
	}
	p.addSoft(soft)
	return p, p.sort()
}

// addSoft adds each soft edge that does not close a cycle, in name order
// so the plan does not depend on map order.
func (p *plan) addSoft(soft map[string][]string) {
	names := make([]string, 0, len(soft))
	for n := range soft {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, d := range soft[n] {
			if !p.reaches(d, n) {
				p.nodes[n].deps = append(p.nodes[n].deps, d)
			}
		}
	}
}

// reaches reports whether from depends, directly or not, on to.
func (p *plan) reaches(from, to string) bool {
	seen := map[string]bool{}
	var walk func(string) bool
	walk = func(m string) bool {
		if m == to {
			return true
		}
		if seen[m] {
			return false
		}
		seen[m] = true
		for _, d := range p.nodes[m].deps {
			if walk(d) {
				return true
			}
		}
		return false
	}
	return walk(from)
}

// errCycle is a plan whose dependencies loop: a modules.dep that depmod
// would not have written.
var errCycle = errors.New("dependency cycle")

// sort fills order, dependencies first, names in order among equals.
func (p *plan) sort() error {
	names := make([]string, 0, len(p.nodes))
	for n := range p.nodes {
		names = append(names, n)
	}
	sort.Strings(names)
	state := map[string]int{} // 1: on the path, 2: placed
	var visit func(string) error
	visit = func(m string) error {
		switch state[m] {
		case 1:
			return fmt.Errorf("plan module %s: %w", m, errCycle)
		case 2:
			return nil
		}
		state[m] = 1
		for _, d := range p.nodes[m].deps {
			if err := visit(d); err != nil {
				return err
			}
		}
		state[m] = 2
		p.order = append(p.order, m)
		return nil
	}
	for _, n := range names {
		if err := visit(n); err != nil {
			return err
		}
	}
	return nil
}

// run loads the plan: one goroutine per module waits for its dependencies
// and then for a slot (jobs > 0), so independent modules load at once. A
// module whose dependency failed is still tried, as modprobe would try it
// and the kernel fail it with unknown symbols; the failed dependencies are
// recorded with it. run returns when every load has returned.
func (p *plan) run(ctx context.Context, jobs int, load func(path string) error, now func() float64) []OracleLoad {
	res := make([]OracleLoad, len(p.order))
	done := make(map[string]chan struct{}, len(p.order))
	index := make(map[string]int, len(p.order))
	for i, m := range p.order {
		done[m] = make(chan struct{})
		index[m] = i
	}
	var slots chan struct{}
	if jobs > 0 {
		slots = make(chan struct{}, jobs)
	}
	var wg sync.WaitGroup
	for i, m := range p.order {
		wg.Go(func() {
			// Closing after res[i] is written lets dependants read it.
			defer close(done[m])
			n := p.nodes[m]
			r := OracleLoad{Module: m, Skip: n.skip}
			for _, d := range n.deps {
				<-done[d]
				if res[index[d]].failed() {
					r.FailedDeps = append(r.FailedDeps, d)
				}
			}
			if r.Skip == "" {
				loadOne(ctx, &r, n.path, slots, load, now)
			}
			res[i] = r
		})
	}
	wg.Wait()
	return res
}

// loadOne takes a slot, if there is a limit, and loads one module.
func loadOne(ctx context.Context, r *OracleLoad, path string, slots chan struct{}, load func(string) error, now func() float64) {
	if slots != nil {
		slots <- struct{}{}
		defer func() { <-slots }()
	}
	if ctx.Err() != nil {
		r.Ret, r.Errno = -int(unix.ECANCELED), "ECANCELED"
		return
	}
	r.Start = now()
	err := load(path)
	r.End = now()
	if err == nil {
		return
	}
	var e unix.Errno
	if !errors.As(err, &e) {
		e = unix.EIO
	}
	r.Ret, r.Errno = -int(e), unix.ErrnoName(e)
}
