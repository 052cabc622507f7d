package report

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// StormAction is one thing every storm process does at the barrier, and
// the request_module() names the kernel asks its helper for while doing it,
// in the order it asks. A name marked Nested is only requested once an
// earlier name of the same action has been served (the module that asks for
// it is the one just loaded), so it does not start at the barrier.
type StormAction struct {
	Name     string
	Requests []StormRequest
}

// StormRequest is a name the kernel passes to `modprobe -q -- NAME`.
type StormRequest struct {
	Name   string
	Nested bool
}

// StormActions are the request storm's actions, chosen so that every
// request is a real request_module() on Debian's 6.1 and 6.12 and every
// module it loads is small and loaded by nothing else in the guest:
//
//   - can: socket(AF_CAN, SOCK_RAW, CAN_RAW). __sock_create finds no
//     family 29 and requests net-pf-29 (can); can_create, in the module
//     just loaded, finds no protocol 1 and requests can-proto-1 (can_raw,
//     which depends on can).
//   - minix: fsopen("minix"). get_fs_type requests fs-minix (minix).
//   - alg: socket(AF_ALG, SOCK_SEQPACKET, 0), then bind to the hash "md4".
//     net-pf-38 loads af_alg; af_alg's bind asks for the type "hash" with
//     algif-hash, which is no alias but names algif_hash once modprobe
//     turns '-' into '_' (which gudevd does too), a module that depends on
//     af_alg; then algif_hash looks md4 up, requesting crypto-md4 unless
//     the md4 action has loaded it already.
//   - md4: keyctl(KEYCTL_DH_COMPUTE) with a KDF named "md4". kdf_alloc's
//     crypto_alloc_shash finds no md4 and crypto_larval_lookup requests
//     crypto-md4 (md4) and then crypto-md4-all (no module has that alias,
//     so every helper for it fails), before the call fails for the
//     missing keys (ENOKEY). A lookup that still finds nothing also
//     requests cryptomgr (built in on Debian), which is in no list here:
//     it shows in the counts of requests made, not per name.
func StormActions() []StormAction {
	return []StormAction{
		{"can", []StormRequest{{Name: "net-pf-29"}, {Name: "can-proto-1", Nested: true}}},
		{"minix", []StormRequest{{Name: "fs-minix"}}},
		{"alg", []StormRequest{{Name: "net-pf-38"}, {Name: "algif-hash", Nested: true}, {Name: "crypto-md4", Nested: true}}},
		{"md4", []StormRequest{{Name: "crypto-md4"}, {Name: "crypto-md4-all", Nested: true}}},
	}
}

// StormRequestNames returns every name the storm makes the kernel request,
// once each, in the order of StormActions.
func StormRequestNames() []string {
	var out []string
	seen := map[string]bool{}
	for _, a := range StormActions() {
		for _, r := range a.Requests {
			if !seen[r.Name] {
				seen[r.Name] = true
				out = append(out, r.Name)
			}
		}
	}
	return out
}

// StormBarrierNames returns the names every storm process requests at the
// barrier, before any of its requests has been served: the first of each
// action.
func StormBarrierNames() []string {
	var out []string
	for _, a := range StormActions() {
		out = append(out, a.Requests[0].Name)
	}
	return out
}

// Storm is what the storm program (guesttool storm) writes: when the
// barrier opened and what every process got back. Times are
// CLOCK_MONOTONIC seconds, the clock the trace uses in a storm (trace_clock
// mono), so they compare with trace timestamps.
type Storm struct {
	Procs    int          `json:"procs"`
	Barrier  float64      `json:"barrier"` // the parent closed the barrier pipe
	Children []StormChild `json:"children"`
}

// StormChild is one storm process, pinned to one CPU.
type StormChild struct {
	CPU     int           `json:"cpu"`
	PID     int           `json:"pid"`
	Start   float64       `json:"start"` // its read of the barrier returned
	End     float64       `json:"end"`   // its last action returned
	Actions []StormResult `json:"actions"`
}

// StormResult is one action of one process: its syscalls and their errors.
type StormResult struct {
	Action string      `json:"action"`
	Start  float64     `json:"start"`
	End    float64     `json:"end"`
	Steps  []StormStep `json:"steps"`
}

// StormStep is one syscall of an action. Missing is set when the error is
// the one the call returns because the module it needed was not there
// (EAFNOSUPPORT, EPROTONOSUPPORT, ENODEV for a file system, ENOENT for a
// crypto algorithm or an AF_ALG type).
type StormStep struct {
	Call    string `json:"call"`
	Errno   string `json:"errno,omitempty"`
	Missing bool   `json:"missing,omitempty"`
}

// Wall is the storm's wall time: from the barrier to the return of the
// last process's last action.
func (s *Storm) Wall() float64 {
	end := s.Barrier
	for _, c := range s.Children {
		if c.End > end {
			end = c.End
		}
	}
	return end - s.Barrier
}

// Request is one module:module_request event: the kernel is about to run
// its helper for Name. The event fires after request_module() got one of
// the kernel's 50 helper slots (kmod_concurrent_max), in the requesting
// task, so TGID is the storm process.
type Request struct {
	Name   string  `json:"name"`
	TID    int     `json:"tid"`
	TGID   int     `json:"tgid"`
	Time   float64 `json:"time"`
	Caller string  `json:"caller"` // call_site, e.g. __sock_create+0x1a0/0x2b0
}

// RequestReturn is what one __request_module() call returned (a kretprobe,
// in the requesting task): 0 when the helper exited 0, the helper's wait
// status when it failed (256: exit 1), or a negative errno from the kernel:
// -ETIME when no helper slot came free in 5 s. Name is that of the
// module_request event of the same task before it; a request refused
// before that event has none.
type RequestReturn struct {
	Name string `json:"name,omitempty"`
	TID  int    `json:"tid"`
	Ret  int64  `json:"ret"`
}

// Helper is one run of the kernel's usermode helper: kernel_execve of
// /proc/sys/kernel/modprobe with `-q -- NAME`, seen by a kprobe in the new
// task, and Execd once sched_process_exec shows the exec succeeded.
type Helper struct {
	PID   int     `json:"pid"`
	Time  float64 `json:"time"`
	File  string  `json:"file"`
	Name  string  `json:"name"`
	Execd bool    `json:"execd"`
	Exit  float64 `json:"exit,omitempty"` // sched_process_exit; 0 if not seen
}

// In a storm trace:
//
//	guesttool-301 (301) [002] ..... 41.20: module_request: net-pf-29 wait=1 call_site=__sock_create+0x1a0/0x2b0
//	kworker/u8:1-312 (312) [001] ..... 41.21: umh: (kernel_execve+0x0/0x1b0) file="/sbin/modprobe" arg1="-q" name="net-pf-29"
//	modprobe-312 (312) [001] ..... 41.22: sched_process_exec: filename=/sbin/modprobe pid=312 old_pid=312
var (
	requestRE = regexp.MustCompile(`^module_request: (\S+) wait=(\d+) call_site=(\S*)`)
	// A string the kprobe could not read prints as (fault), unquoted.
	umhRE        = regexp.MustCompile(`^umh: \(.*\) file=("(?:.*)"|\(fault\)) arg1=("(?:.*)"|\(fault\)) name=("(?:.*)"|\(fault\))$`)
	execRE       = regexp.MustCompile(`^sched_process_exec: filename=(\S+) pid=(\d+) old_pid=(\d+)`)
	helperExitRE = regexp.MustCompile(`^sched_process_exit: comm=\S+ pid=(\d+)`)
	retRE        = regexp.MustCompile(`^reqret: \(.* <- __request_module\) ret=(-?\d+)$`)
)

// ParseRequests reads the module requests and helper runs of a trace (the
// same text ParseTrace reads). A helper is a kernel_execve whose first
// argument is -q, which is how call_modprobe runs it; /init's own exec is
// not one.
func ParseRequests(r io.Reader) (reqs []Request, helpers []Helper, rets []RequestReturn, err error) {
	byPID := map[int]int{}      // pid -> index in helpers of its latest kernel_execve
	pending := map[int]string{} // tid -> name of its module_request not yet returned
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		m := lineRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		tid, _ := strconv.Atoi(m[2])
		tgid, _ := strconv.Atoi(m[3])
		ts, _ := strconv.ParseFloat(m[5], 64)
		ev := m[6]
		switch {
		case requestRE.MatchString(ev):
			e := requestRE.FindStringSubmatch(ev)
			reqs = append(reqs, Request{Name: e[1], TID: tid, TGID: tgid, Time: ts, Caller: e[3]})
			pending[tid] = e[1]
		case helperExitRE.MatchString(ev):
			pid, _ := strconv.Atoi(helperExitRE.FindStringSubmatch(ev)[1])
			if i, ok := byPID[pid]; ok {
				helpers[i].Exit = ts
			}
		case retRE.MatchString(ev):
			ret, _ := strconv.ParseInt(retRE.FindStringSubmatch(ev)[1], 10, 64)
			rets = append(rets, RequestReturn{Name: pending[tid], TID: tid, Ret: ret})
			delete(pending, tid)
		case umhRE.MatchString(ev):
			e := umhRE.FindStringSubmatch(ev)
			if e[2] != `"-q"` {
				continue
			}
			byPID[tid] = len(helpers)
			helpers = append(helpers, Helper{PID: tid, Time: ts, File: strings.Trim(e[1], `"`), Name: strings.Trim(e[3], `"`)})
		case execRE.MatchString(ev):
			e := execRE.FindStringSubmatch(ev)
			pid, _ := strconv.Atoi(e[2])
			if i, ok := byPID[pid]; ok {
				helpers[i].Execd = true
			}
		case strings.HasPrefix(ev, "module_request:") || strings.HasPrefix(ev, "umh:") || strings.HasPrefix(ev, "reqret:"):
			return nil, nil, nil, fmt.Errorf("parse line %d %q: %w", n, line, ErrMalformed)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, nil, fmt.Errorf("read trace: %w", err)
	}
	return reqs, helpers, rets, nil
}

// StormSummary is the table row of one request storm.
type StormSummary struct {
	Scenario string
	Kernel   string
	CPUs     int
	Procs    int
	Helper   string // /proc/sys/kernel/modprobe during the storm

	WallSeconds  float64
	Requests     int // module_request events
	Helpers      int // helper executions that exec'd
	LoadSyscalls int
	Duplicates   int // load syscalls beyond the first for a module
	EEXIST       int
	OtherErrors  int
	Unnamed      int // load syscalls neither the kprobe nor the helper's request could name
	ByHelper     int // load syscalls named by the request of the helper that made them
	Missing      int // storm syscalls that failed for want of a module that should be there
	KmodBusy     int // requests refused because all 50 helper slots stayed busy for 5 s (-ETIME)
	Returns      int // __request_module returns seen: requests made, refused ones included
	Lost         int64
	ProbeMissed  int64 // kretprobe returns not recorded (kprobe_profile)

	HelperMedian float64 // seconds from a helper's kernel_execve to its exit, median
	HelperMax    float64

	PerName   map[string]NameCount   // request name -> counts
	PerModule map[string]ModuleCount // module -> load syscalls
	Outcomes  map[string]int         // "action/call:ERRNO" (or ":ok") -> processes
	Loaded    []string               // storm modules in /proc/modules at the end
}

// NameCount is what happened to one request name.
type NameCount struct {
	Requests  int // module_request events
	Processes int // distinct storm processes that requested it
	Helpers   int // helper executions for it
	Failed    int // requests that returned non-zero (the helper failed)
}

// ModuleCount is the load syscalls for one module.
type ModuleCount struct {
	Loads  int
	EEXIST int
	Errors int // other failures
}

// StormInput is everything SummarizeStorm reads.
type StormInput struct {
	Report   *Report
	Storm    *Storm
	Requests []Request
	Helpers  []Helper
	Returns  []RequestReturn
	Helper   string
	// ProbeMissed is the missed count of the reqret kretprobe.
	ProbeMissed int64
	// Resolve gives the modules a request name loads (the alias's module,
	// not its dependencies); nil leaves helper-named loads unnamed.
	Resolve func(name string) []string
}

// SummarizeStorm counts a storm. A load syscall the find_module_all kprobe
// did not name is one the kernel never handed to load_module: on 6.4+
// concurrent finit_module calls on one file wait for the first and return
// its result. If a helper made it, it is named after the module the
// helper's request resolves to, when that is exactly one.
func SummarizeStorm(in StormInput) StormSummary {
	r := in.Report
	s := StormSummary{
		Scenario: r.Scenario, Kernel: r.Kernel, CPUs: r.CPUs, Helper: in.Helper,
		Requests:  len(in.Requests),
		Lost:      r.Lost,
		PerName:   map[string]NameCount{},
		PerModule: map[string]ModuleCount{},
		Outcomes:  map[string]int{},
	}
	if in.Storm != nil {
		s.Procs = len(in.Storm.Children)
		s.WallSeconds = in.Storm.Wall()
		for _, c := range in.Storm.Children {
			for _, a := range c.Actions {
				for _, st := range a.Steps {
					k := a.Action + "/" + st.Call + ":ok"
					if st.Errno != "" {
						k = a.Action + "/" + st.Call + ":" + st.Errno
					}
					s.Outcomes[k]++
					if st.Missing {
						s.Missing++
					}
				}
			}
		}
	}
	procs := map[string]map[int]bool{}
	for _, q := range in.Requests {
		nc := s.PerName[q.Name]
		nc.Requests++
		s.PerName[q.Name] = nc
		if procs[q.Name] == nil {
			procs[q.Name] = map[int]bool{}
		}
		procs[q.Name][q.TGID] = true
	}
	for name, p := range procs {
		nc := s.PerName[name]
		nc.Processes = len(p)
		s.PerName[name] = nc
	}
	helperOf := map[int]string{} // helper pid -> request name
	var lives []float64
	for _, h := range in.Helpers {
		if !h.Execd {
			continue
		}
		if h.Exit > 0 {
			lives = append(lives, h.Exit-h.Time)
		}
		s.Helpers++
		nc := s.PerName[h.Name]
		nc.Helpers++
		s.PerName[h.Name] = nc
		helperOf[h.PID] = h.Name
	}
	for _, c := range r.Calls {
		s.LoadSyscalls++
		mod := c.Module
		if mod == "" && in.Resolve != nil {
			if name, ok := helperOf[c.TGID]; ok {
				if m := in.Resolve(name); len(m) == 1 {
					mod = m[0]
					s.ByHelper++
				}
			}
		}
		mc := s.PerModule[mod]
		mc.Loads++
		switch {
		case c.Errno == "EEXIST":
			mc.EEXIST++
			s.EEXIST++
		case c.Ret < 0:
			mc.Errors++
			s.OtherErrors++
		}
		if mod == "" {
			s.Unnamed++
		} else if mc.Loads > 1 {
			s.Duplicates++
		}
		s.PerModule[mod] = mc
	}
	if len(lives) > 0 {
		sort.Float64s(lives)
		s.HelperMedian, s.HelperMax = lives[len(lives)/2], lives[len(lives)-1]
	}
	s.Returns = len(in.Returns)
	s.ProbeMissed = in.ProbeMissed
	for _, rr := range in.Returns {
		switch {
		case rr.Ret == -62: // ETIME: down_timeout on kmod_concurrent_max
			s.KmodBusy++
		case rr.Ret != 0 && rr.Name != "":
			nc := s.PerName[rr.Name]
			nc.Failed++
			s.PerName[rr.Name] = nc
		}
	}
	want := map[string]bool{}
	if in.Resolve != nil {
		for _, n := range StormRequestNames() {
			for _, m := range in.Resolve(n) {
				want[m] = true
			}
		}
	}
	for _, m := range r.ModulesEnd {
		if want[m] {
			s.Loaded = append(s.Loaded, m)
		}
	}
	sort.Strings(s.Loaded)
	return s
}
