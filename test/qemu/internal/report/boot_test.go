package report

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestParseTimespan(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		bad  bool
	}{
		{in: "812ms", want: 0.812},
		{in: "20.117s", want: 20.117},
		{in: "1min 2.345s", want: 62.345},
		{in: "1h 2min 3.000s", want: 3723},
		{in: "450us", want: 0.00045},
		{in: "450µs", want: 0.00045},
		{in: "", bad: true},
		{in: "12 s", bad: true},
		{in: "3.2parsecs", bad: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseTimespan(tc.in)
			if (err != nil) != tc.bad {
				t.Fatalf("ParseTimespan(%q) error %v, want error %v", tc.in, err, tc.bad)
			}
			if math.Abs(got-tc.want) > 1e-9 {
				t.Errorf("ParseTimespan(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

// formatTimespan writes a span of microseconds as systemd's
// format_timespan does with millisecond accuracy (src/basic/time-util.c):
// whole larger units, then seconds with a fraction, or milliseconds alone.
func formatTimespan(usec uint64) string {
	units := []struct {
		name string
		us   uint64
	}{{"d", 86400e6}, {"h", 3600e6}, {"min", 60e6}}
	var parts []string
	for _, u := range units {
		if usec >= u.us {
			parts = append(parts, fmt.Sprintf("%d%s", usec/u.us, u.name))
			usec %= u.us
		}
	}
	switch {
	case usec >= 1e6:
		parts = append(parts, fmt.Sprintf("%d.%03ds", usec/1e6, usec%1e6/1e3))
	case usec >= 1e3 || len(parts) == 0:
		parts = append(parts, fmt.Sprintf("%dms", usec/1e3))
	}
	return strings.Join(parts, " ")
}

// FuzzParseTimespan checks the round trip: a span systemd would print
// parses back to itself, to the millisecond it was printed with.
func FuzzParseTimespan(f *testing.F) {
	for _, us := range []uint64{0, 999, 812000, 20117000, 62345000, 3723000000, 90061001000} {
		f.Add(us)
	}
	f.Fuzz(func(t *testing.T, us uint64) {
		us %= 400 * 86400e6 // format_timespan's units above days are not in formatTimespan
		s := formatTimespan(us)
		got, err := ParseTimespan(s)
		if err != nil {
			t.Fatalf("ParseTimespan(%q): %v", s, err)
		}
		want := float64(us/1e3) / 1e3
		if math.Abs(got-want) > 1e-6*math.Max(1, want) {
			t.Errorf("ParseTimespan(%q) = %v, want %v", s, got, want)
		}
	})
}

func TestParseAnalyzeTime(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want AnalyzeTime
		bad  bool
	}{{
		name: "initramfs-tools (no initrd phase)",
		in:   "Startup finished in 18.516s (kernel) + 22.399s (userspace) = 40.915s \ngraphical.target reached after 15.703s in userspace.\n",
		want: AnalyzeTime{Kernel: 18.516, Userspace: 22.399, Total: 40.915, Target: "graphical.target", TargetAt: 15.703},
	}, {
		name: "systemd in the initrd, firmware and loader",
		in:   "Startup finished in 1.5s (firmware) + 250ms (loader) + 2.018s (kernel) + 4.201s (initrd) + 1min 20.117s (userspace) = 1min 28.086s\nmulti-user.target reached after 1min 20.080s in userspace.\n",
		want: AnalyzeTime{Firmware: 1.5, Loader: 0.25, Kernel: 2.018, Initrd: 4.201, Userspace: 80.117, Total: 88.086, Target: "multi-user.target", TargetAt: 80.08},
	}, {
		name: "boot not finished",
		in:   "Bootup is not yet finished (org.freedesktop.systemd1.Manager.FinishTimestampMonotonic=0).\n",
		bad:  true,
	}, {
		name: "no total",
		in:   "Startup finished in 18.516s (kernel) + 22.399s (userspace)\n",
		bad:  true,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseAnalyzeTime(tc.in)
			if (err != nil) != tc.bad {
				t.Fatalf("error %v, want error %v", err, tc.bad)
			}
			if tc.bad {
				return
			}
			if d := cmp.Diff(tc.want, got, cmpopts.EquateApprox(0, 1e-9)); d != "" {
				t.Errorf("ParseAnalyzeTime (-want +got):\n%s", d)
			}
		})
	}
}

func TestParseCriticalChain(t *testing.T) {
	in := `The time when unit became active or started is printed after the "@" character.
The time the unit took to start is printed after the "+" character.

multi-user.target @15.687s
└─getty.target @15.370s
  └─serial-getty@ttyS0.service @15.350s
    └─systemd-user-sessions.service @1min 9.957s +110ms
`
	want := []ChainLink{
		{Unit: "multi-user.target", At: 15.687},
		{Unit: "getty.target", Depth: 1, At: 15.37},
		{Unit: "serial-getty@ttyS0.service", Depth: 2, At: 15.35},
		{Unit: "systemd-user-sessions.service", Depth: 3, At: 69.957, Took: 0.11},
	}
	got, err := ParseCriticalChain(in)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got, cmpopts.EquateApprox(0, 1e-9)); d != "" {
		t.Errorf("ParseCriticalChain (-want +got):\n%s", d)
	}
	if _, err := ParseCriticalChain("└─getty.target @15.3 parsecs\n"); err == nil {
		t.Error("a chain line with a bad time parsed")
	}
}

func TestParseShowAndFailed(t *testing.T) {
	show := ParseShow("Id=a.service\nActiveState=active\n\nActiveState=failed\nId=b.service\n")
	want := map[string]map[string]string{
		"a.service": {"Id": "a.service", "ActiveState": "active"},
		"b.service": {"Id": "b.service", "ActiveState": "failed"},
	}
	if d := cmp.Diff(want, show); d != "" {
		t.Errorf("ParseShow (-want +got):\n%s", d)
	}
	failed := ParseFailedUnits("e2scrub_reap.service loaded failed failed Remove Stale Online ext4 Metadata\n\n")
	if d := cmp.Diff([]string{"e2scrub_reap.service"}, failed); d != "" {
		t.Errorf("ParseFailedUnits (-want +got):\n%s", d)
	}
}

// TestSummarizeBootReal reads a real boot's report: Debian bookworm, 6.1,
// 4 vCPUs, stock (regenerate with `go run ./test/qemu/cmd/qemu-harness
// boot -kernel 6.1 -cpus 4 -config stock -out DIR`).
func TestSummarizeBootReal(t *testing.T) {
	files, err := ReadRun(filepath.Join("testdata", "boot-6.1-004-stock"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := SummarizeBoot("stock", "6.1", files)
	if err != nil {
		t.Fatal(err)
	}
	got := struct {
		Release                  string
		CPUs                     int
		Kernel, Initramfs, Total float64
		Target                   string
		State                    string
		Failed                   []string
		Trigger, Settle          float64
		Loads, InitrdLoads       int
		Dups, Modules, Chain     int
		FirstBlame               string
	}{s.Release, s.CPUs, s.KernelSeconds(), s.InitramfsSeconds(), s.Time.Total, s.Time.Target, s.State, s.Failed,
		s.Trigger, s.SettleSeconds(), s.Loads.LoadSyscalls, s.InitrdLoads, s.Loads.Duplicates, len(s.Modules), len(s.Chain), s.Blame[0].Unit}
	want := got
	want.Release, want.CPUs, want.Target, want.State, want.Failed = "6.1.0-47-amd64", 4, "graphical.target", "running", nil
	want.Kernel, want.Initramfs, want.Total = 9.042706, 18.516-9.042706, 40.915
	want.Trigger, want.Settle = 3.591, 40.88-23.821944
	want.FirstBlame, want.Chain = "gudevd-boot-settle.service", 4
	// udevd's workers in the initramfs and the root system race on the
	// same modules: 150 load syscalls for 77 modules.
	want.Loads, want.InitrdLoads, want.Dups, want.Modules = 150, 60, 73, 73
	if d := cmp.Diff(want, got, cmpopts.EquateApprox(0, 1e-6)); d != "" {
		t.Errorf("SummarizeBoot (-want +got):\n%s", d)
	}
	if len(s.Blame) != 10 {
		t.Errorf("blame kept %d units, want the top 10", len(s.Blame))
	}
}
