// The traces in testdata are the first lines of real guest traces, copied
// from the trace.txt a run leaves in its -out directory:
//
//	go run ./test/qemu/cmd/qemu-harness run -kernel 6.1 -scenario udevd -cpus 4 -out /tmp/u61
//	go run ./test/qemu/cmd/qemu-harness run -kernel 6.12 -scenario udevd -cpus 4 -out /tmp/u612
package report

import (
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const hdr = "# entries-in-buffer/entries-written: 10/12   #P:4\n"

func TestParseTrace(t *testing.T) {
	tests := []struct {
		name   string
		trace  string
		calls  []Call
		loaded []string
		lost   int64
	}{
		{
			name: "named success",
			trace: hdr +
				"   (udev-worker)-123     (    123) [002] ...1.     6.259611: sys_finit_module(fd: 5, uargs: 7fbeb1001efd, flags: 0)\n" +
				"   (udev-worker)-123     (    123) [002] .....     6.264975: modname: (find_module_all+0x0/0xa0) name=\"button\" unformed=1\n" +
				"   (udev-worker)-123     (    123) [002] .....     6.300000: module_load: button\n" +
				"   (udev-worker)-123     (    123) [002] ...1.     6.358512: sys_finit_module -> 0x0\n",
			calls: []Call{{Syscall: "finit_module", Comm: "(udev-worker)", TID: 123, TGID: 123, Time: 6.259611,
				Args: "fd: 5, uargs: 7fbeb1001efd, flags: 0", Module: "button", End: 6.358512, Done: true}},
			loaded: []string{"button"},
			lost:   2,
		},
		{
			name: "duplicate fails with EEXIST",
			trace: "   (udev-worker)-126     (    126) [002] ...1.     6.30: sys_finit_module(fd: 5, uargs: 7f, flags: 0)\n" +
				"   (udev-worker)-126     (    126) [002] .....     6.31: modname: (find_module_all+0x0/0xa0) name=\"acpi_cpufreq\" unformed=1\n" +
				"   (udev-worker)-126     (    126) [002] ...1.     6.32: sys_finit_module -> 0xffffffffffffffef\n",
			calls: []Call{{Syscall: "finit_module", Comm: "(udev-worker)", TID: 126, TGID: 126, Time: 6.30,
				Args: "fd: 5, uargs: 7f, flags: 0", Module: "acpi_cpufreq", Ret: -17, Errno: "EEXIST", End: 6.32, Done: true}},
		},
		{
			name: "lookups of formed modules and later lookups do not rename the call",
			trace: "gudevd-7 (7) [000] ..... 1.0: sys_finit_module(fd: 3, uargs: 0, flags: 0)\n" +
				"gudevd-7 (7) [000] ..... 1.1: modname: (find_module_all+0x0/0xa0) name=\"other\" unformed=0\n" +
				"gudevd-7 (7) [000] ..... 1.2: modname: (find_module_all+0x0/0xa0) name=\"e1000\" unformed=1\n" +
				"gudevd-7 (7) [000] ..... 1.3: modname: (find_module_all+0x0/0xa0) name=\"later\" unformed=1\n" +
				"gudevd-7 (7) [000] ..... 1.4: sys_finit_module -> 0x0\n",
			calls: []Call{{Syscall: "finit_module", Comm: "gudevd", TID: 7, TGID: 7, Time: 1.0,
				Args: "fd: 3, uargs: 0, flags: 0", Module: "e1000", End: 1.4, Done: true}},
		},
		{
			name: "threads interleave and names follow the thread",
			trace: "a-b-10 (9) [000] ..... 1.0: sys_init_module(umod: 5577, len: 9500, uargs: 7f81)\n" +
				"c-11 (-------) [001] ..... 1.1: sys_finit_module(fd: 4, uargs: 0, flags: 4)\n" +
				"c-11 (-------) [001] ..... 1.2: modname: (find_module_all+0x4/0xd0) name=\"virtio\" unformed=1\n" +
				"a-b-10 (9) [000] ..... 1.3: modname: (find_module_all+0x4/0xd0) name=\"kvm\" unformed=1\n" +
				"c-11 (-------) [001] ..... 1.4: sys_finit_module -> 0xffffffffffffffed\n",
			calls: []Call{
				{Syscall: "init_module", Comm: "a-b", TID: 10, TGID: 9, Time: 1.0, Args: "umod: 5577, len: 9500, uargs: 7f81", Module: "kvm", Len: 0x9500},
				{Syscall: "finit_module", Comm: "c", TID: 11, Time: 1.1, Args: "fd: 4, uargs: 0, flags: 4", Module: "virtio", Ret: -19, Errno: "ENODEV", End: 1.4, Done: true},
			},
		},
		{
			name: "a killed waiter returns ERESTARTSYS",
			trace: "(udev-worker)-9 (9) [000] ..... 1.0: sys_finit_module(fd: 5, uargs: 0, flags: 0)\n" +
				"(udev-worker)-9 (9) [000] ..... 2.0: sys_finit_module -> 0xfffffffffffffe00\n",
			calls: []Call{{Syscall: "finit_module", Comm: "(udev-worker)", TID: 9, TGID: 9, Time: 1.0,
				Args: "fd: 5, uargs: 0, flags: 0", Ret: -512, Errno: "ERESTARTSYS", End: 2.0, Done: true}},
		},
		{
			name:  "exit of a call entered before tracing began is dropped",
			trace: "x-1 (1) [000] ..... 1.0: sys_finit_module -> 0x0\n",
		},
		{
			name:  "other events and comments are skipped",
			trace: "# tracer: nop\nx-1 (1) [000] ..... 1.0: sys_openat(dfd: ffffff9c, filename: 7ff, flags: 0, mode: 0)\n\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls, loaded, lost, err := ParseTrace(strings.NewReader(tt.trace))
			if err != nil {
				t.Fatalf("ParseTrace: %v", err)
			}
			if diff := cmp.Diff(tt.calls, calls); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.loaded, loaded); diff != "" {
				t.Errorf("loaded (-want +got):\n%s", diff)
			}
			if lost != tt.lost {
				t.Errorf("lost = %d, want %d", lost, tt.lost)
			}
		})
	}
}

func TestParseTraceErrors(t *testing.T) {
	for _, line := range []string{
		"x-1 (1) [000] ..... 1.0: sys_finit_module(fd: 3\n",
		"x-1 (1) [000] ..... 1.0: sys_finit_module(fd: 3, uargs: 0, flags: 0)\nx-1 (1) [000] ..... 1.1: sys_finit_module -> 0xfffffffffffffffffffff\n",
	} {
		if _, _, _, err := ParseTrace(strings.NewReader(line)); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseTrace(%q) error = %v, want ErrMalformed", line, err)
		}
	}
}

// TestParseRealTraces checks the parser against counts taken from the raw
// text of real traces with plain string matching.
func TestParseRealTraces(t *testing.T) {
	for _, name := range []string{"testdata/udevd-6.1.trace", "testdata/udevd-6.12.trace"} {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			text := string(b)
			f, err := os.Open(name)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			calls, loaded, _, err := ParseTrace(f)
			if err != nil {
				t.Fatal(err)
			}
			enters := strings.Count(text, ": sys_finit_module(") + strings.Count(text, ": sys_init_module(")
			if len(calls) != enters {
				t.Errorf("%d calls, text has %d enter events", len(calls), enters)
			}
			eexist := strings.Count(text, "-> 0xffffffffffffffef")
			done, gotEEXIST := 0, 0
			for _, c := range calls {
				if c.Done {
					done++
				}
				if c.Errno == "EEXIST" {
					gotEEXIST++
				}
				// The kprobe fires inside the syscall, so a call whose
				// exit is in the excerpt must have its name.
				if c.Done && c.Module == "" {
					t.Errorf("finished call at %v has no module name", c.Time)
				}
				if c.Done && c.End < c.Time {
					t.Errorf("call at %v ends before it began, at %v", c.Time, c.End)
				}
			}
			if gotEEXIST != eexist {
				t.Errorf("%d EEXIST calls, text has %d", gotEEXIST, eexist)
			}
			exits := len(regexp.MustCompile(`sys_(f?init_module) -> `).FindAllString(text, -1))
			if done > exits {
				t.Errorf("%d finished calls but only %d exit events", done, exits)
			}
			if len(loaded) != strings.Count(text, "module_load: ") {
				t.Errorf("%d loaded, text has %d module_load events", len(loaded), strings.Count(text, "module_load: "))
			}
		})
	}
}

func FuzzParseTrace(f *testing.F) {
	for _, name := range []string{"testdata/udevd-6.1.trace", "testdata/udevd-6.12.trace"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("x-1 (1) [000] ..... 1.0: sys_finit_module(fd: 3, uargs: 0, flags: 0)\nx-1 (1) [000] ..... 1.1: sys_finit_module -> 0xffffffffffffffef\n")
	f.Fuzz(func(t *testing.T, trace string) {
		calls, loaded, _, err := ParseTrace(strings.NewReader(trace))
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !strings.Contains(err.Error(), "read trace") {
				t.Fatalf("error %v is neither ErrMalformed nor a read error", err)
			}
			return
		}
		lines := strings.Count(trace, "\n") + 1
		if len(calls)+len(loaded) > lines {
			t.Fatalf("%d calls and %d loads from %d lines", len(calls), len(loaded), lines)
		}
		for _, c := range calls {
			if (c.Errno != "") != (c.Ret < 0) {
				t.Fatalf("call %+v: errno set iff ret < 0 violated", c)
			}
			if !c.Done && (c.Ret != 0 || c.End != 0) {
				t.Fatalf("unfinished call %+v has a return value or an end", c)
			}
			if c.Syscall != "finit_module" && c.Syscall != "init_module" {
				t.Fatalf("call %+v: unknown syscall", c)
			}
		}
	})
}

func TestSummarize(t *testing.T) {
	r := &Report{
		Scenario: "udevd", Kernel: "6.1", CPUs: 4, Start: 5, Settled: 7.5,
		Calls: []Call{
			{Comm: "w", Module: "a", Done: true},
			{Comm: "w", Module: "a", Ret: -17, Errno: "EEXIST", Done: true},
			{Comm: "w", Module: "a", Ret: -17, Errno: "EEXIST", Done: true, Len: 100},
			{Comm: "modprobe", Module: "b", Ret: -19, Errno: "ENODEV", Done: true},
			{Comm: "w"},
		},
		ModulesStart: []string{"x"},
		ModulesEnd:   []string{"a", "x"},
	}
	got := Summarize(r, func(m string) int64 { return map[string]int64{"a": 1000}[m] })
	want := Summary{
		Scenario: "udevd", Kernel: "6.1", CPUs: 4,
		LoadSyscalls: 5, Distinct: 2, Duplicates: 2, EEXIST: 2, OtherErrors: 1, Unnamed: 1,
		SettleSeconds: 2.5, ModulesLoaded: 1,
		DuplicateBytes: 1000 + 100, // the init_module call carries its own length
		PerModule:      map[string]int{"a": 3, "b": 1},
		ByComm:         map[string]int{"w": 4, "modprobe": 1},
		Failures:       map[string]int{"b:ENODEV": 1},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Summarize (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"a×3"}, got.Duplicated()); diff != "" {
		t.Errorf("Duplicated (-want +got):\n%s", diff)
	}
}
