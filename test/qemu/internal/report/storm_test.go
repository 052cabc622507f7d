// testdata/storm-kmod-6.1.trace is the whole trace of a request storm under
// kmod's modprobe, 6.1 at 4 vCPUs:
//
//	go run ./test/qemu/cmd/qemu-harness run -kernel 6.1 -scenario storm-kmod -cpus 4 -out /tmp/k61
package report

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseRequests(t *testing.T) {
	tests := []struct {
		name    string
		trace   string
		reqs    []Request
		helpers []Helper
		rets    []RequestReturn
	}{
		{
			name: "request, helper run and its exec",
			trace: "       guesttool-310     (    300) [003] .....    26.547026: module_request: crypto-md4 wait=1 call_site=crypto_alg_mod_lookup\n" +
				"        modprobe-324     (    324) [003] .N...    26.572289: umh: (kernel_execve+0x0/0x1a0) file=\"/sbin/modprobe\" arg1=\"-q\" name=\"net-pf-29\"\n" +
				"        modprobe-324     (    324) [003] .....    26.575668: sched_process_exec: filename=/sbin/modprobe pid=324 old_pid=324\n" +
				"        modprobe-324     (    324) [003] .....    26.612289: sched_process_exit: comm=modprobe pid=324 prio=120\n",
			reqs:    []Request{{Name: "crypto-md4", TID: 310, TGID: 300, Time: 26.547026, Caller: "crypto_alg_mod_lookup"}},
			helpers: []Helper{{PID: 324, Time: 26.572289, File: "/sbin/modprobe", Name: "net-pf-29", Execd: true, Exit: 26.612289}},
		},
		{
			name: "a helper whose exec was not seen did not run",
			trace: "kworker/u8:1-40 (40) [000] ..... 1.0: umh: (kernel_execve+0x0/0x1a0) file=\"/run/gudevd/modprobe\" arg1=\"-q\" name=\"fs-minix\"\n" +
				"x-41 (41) [000] ..... 1.1: sched_process_exec: filename=/sbin/modprobe pid=41 old_pid=41\n",
			helpers: []Helper{{PID: 40, Time: 1.0, File: "/run/gudevd/modprobe", Name: "fs-minix"}},
		},
		{
			name: "returns pair with the task's request; a refused request has none",
			trace: "guesttool-310 (300) [003] ..... 26.5: module_request: fs-minix wait=1 call_site=get_fs_type+0x35/0xa0\n" +
				"guesttool-311 (300) [003] ..... 26.6: reqret: (get_fs_type+0x4c/0xa0 <- __request_module) ret=-62\n" +
				"guesttool-310 (300) [003] ..... 26.7: reqret: (get_fs_type+0x4c/0xa0 <- __request_module) ret=256\n",
			reqs: []Request{{Name: "fs-minix", TID: 310, TGID: 300, Time: 26.5, Caller: "get_fs_type+0x35/0xa0"}},
			rets: []RequestReturn{{TID: 311, Ret: -62}, {Name: "fs-minix", TID: 310, Ret: 256}},
		},
		{
			name:  "kernel_execve without -q is not the module helper",
			trace: "swapper-1 (1) [000] ..... 1.0: umh: (kernel_execve+0x0/0x1a0) file=\"/init\" arg1=(fault) name=(fault)\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reqs, helpers, rets, err := ParseRequests(strings.NewReader(tt.trace))
			if err != nil {
				t.Fatalf("ParseRequests: %v", err)
			}
			if diff := cmp.Diff(tt.reqs, reqs); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.helpers, helpers); diff != "" {
				t.Errorf("helpers (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.rets, rets); diff != "" {
				t.Errorf("returns (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseRequestsErrors(t *testing.T) {
	for _, line := range []string{
		"x-1 (1) [000] ..... 1.0: module_request: \n",
		"x-1 (1) [000] ..... 1.0: umh: (kernel_execve+0x0/0x1a0) file=\"/sbin/modprobe\"\n",
		"x-1 (1) [000] ..... 1.0: reqret: (x <- __request_module) ret=\n",
	} {
		if _, _, _, err := ParseRequests(strings.NewReader(line)); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseRequests(%q) error = %v, want ErrMalformed", line, err)
		}
	}
}

// TestParseRequestsRealTrace checks the parser against plain string counts
// of a real storm trace.
func TestParseRequestsRealTrace(t *testing.T) {
	b, err := os.ReadFile("testdata/storm-kmod-6.1.trace")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	reqs, helpers, _, err := ParseRequests(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(text, ": module_request: "); len(reqs) != n || n == 0 {
		t.Errorf("%d requests, text has %d module_request events", len(reqs), n)
	}
	execd := 0
	for _, h := range helpers {
		if h.Execd {
			execd++
		}
	}
	if n := strings.Count(text, ": sched_process_exec: filename=/sbin/modprobe "); execd != n || n == 0 {
		t.Errorf("%d helpers exec'd, text has %d exec events", execd, n)
	}
	if n := strings.Count(text, `arg1="-q"`); len(helpers) != n {
		t.Errorf("%d helpers, text has %d helper kernel_execve events", len(helpers), n)
	}
}

func TestSummarizeStorm(t *testing.T) {
	rep := &Report{
		Scenario: "storm-kmod", Kernel: "6.12", CPUs: 2,
		Calls: []Call{
			{Comm: "modprobe", TGID: 50, Module: "can", Done: true},
			{Comm: "modprobe", TGID: 51, Module: "can", Ret: -17, Errno: "EEXIST", Done: true},
			// Merged into the first by the kernel (6.4+): never named by
			// the kprobe, named by its helper's request.
			{Comm: "modprobe", TGID: 52, Done: true},
			{Comm: "modprobe", TGID: 99, Done: true},
			{Comm: "modprobe", TGID: 53, Module: "minix", Ret: -12, Errno: "ENOMEM", Done: true},
		},
		ModulesEnd: []string{"can", "e1000", "minix"},
	}
	st := &Storm{Procs: 2, Barrier: 10, Children: []StormChild{
		{CPU: 0, PID: 1, Start: 10, End: 11.5, Actions: []StormResult{
			{Action: "can", Steps: []StormStep{{Call: "socket"}}},
		}},
		{CPU: 1, PID: 2, Start: 10, End: 12.25, Actions: []StormResult{
			{Action: "can", Steps: []StormStep{{Call: "socket", Errno: "EAFNOSUPPORT", Missing: true}}},
		}},
	}}
	in := StormInput{
		Report: rep, Storm: st, Helper: "/sbin/modprobe",
		Requests: []Request{{Name: "net-pf-29", TGID: 1}, {Name: "net-pf-29", TGID: 2}, {Name: "net-pf-29", TGID: 2}},
		Helpers: []Helper{
			{PID: 50, Name: "net-pf-29", Execd: true, Time: 1, Exit: 1.5}, {PID: 51, Name: "net-pf-29", Execd: true, Time: 1, Exit: 3},
			{PID: 52, Name: "net-pf-29", Execd: true, Time: 2, Exit: 2.25}, {PID: 60, Name: "net-pf-29"},
		},
		Returns:     []RequestReturn{{Name: "net-pf-29"}, {Name: "net-pf-29", Ret: 256}, {Ret: -62}},
		ProbeMissed: 2,
		Resolve: func(name string) []string {
			return map[string][]string{"net-pf-29": {"can"}, "fs-minix": {"minix"}}[name]
		},
	}
	want := StormSummary{
		Scenario: "storm-kmod", Kernel: "6.12", CPUs: 2, Procs: 2, Helper: "/sbin/modprobe",
		WallSeconds: 2.25, Requests: 3, Helpers: 3,
		LoadSyscalls: 5, Duplicates: 2, EEXIST: 1, OtherErrors: 1, Unnamed: 1, ByHelper: 1,
		Missing: 1, KmodBusy: 1, Returns: 3, ProbeMissed: 2, HelperMedian: 0.5, HelperMax: 2,
		PerName:   map[string]NameCount{"net-pf-29": {Requests: 3, Processes: 2, Helpers: 3, Failed: 1}},
		PerModule: map[string]ModuleCount{"can": {Loads: 3, EEXIST: 1}, "": {Loads: 1}, "minix": {Loads: 1, Errors: 1}},
		Outcomes:  map[string]int{"can/socket:ok": 1, "can/socket:EAFNOSUPPORT": 1},
		Loaded:    []string{"can", "minix"},
	}
	if diff := cmp.Diff(want, SummarizeStorm(in)); diff != "" {
		t.Errorf("SummarizeStorm (-want +got):\n%s", diff)
	}
}

// TestStormNames: the barrier names are the first request of each action,
// and every name is listed once although alg and md4 both ask for md4.
func TestStormNames(t *testing.T) {
	if diff := cmp.Diff([]string{"net-pf-29", "fs-minix", "net-pf-38", "crypto-md4"}, StormBarrierNames()); diff != "" {
		t.Errorf("StormBarrierNames (-want +got):\n%s", diff)
	}
	want := []string{"net-pf-29", "can-proto-1", "fs-minix", "net-pf-38", "algif-hash", "crypto-md4", "crypto-md4-all"}
	if diff := cmp.Diff(want, StormRequestNames()); diff != "" {
		t.Errorf("StormRequestNames (-want +got):\n%s", diff)
	}
}
