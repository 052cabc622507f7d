package qemu

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gudevd/gudevd/test/qemu/internal/report"
)

// keptTrace is a guest trace of two loads, one still in the kernel when
// the trace stopped.
const keptTrace = "# entries-in-buffer/entries-written: 5/5   #P:4\n" +
	"gudevd-7 (7) [000] ..... 11.0: sys_finit_module(fd: 3, uargs: 0, flags: 0)\n" +
	"gudevd-7 (7) [000] ..... 11.1: modname: (find_module_all+0x0/0xa0) name=\"virtio\" unformed=1\n" +
	"gudevd-7 (7) [000] ..... 11.5: sys_finit_module -> 0x0\n" +
	"gudevd-8 (7) [001] ..... 11.6: sys_finit_module(fd: 4, uargs: 0, flags: 0)\n" +
	"gudevd-8 (7) [001] ..... 11.7: modname: (find_module_all+0x0/0xa0) name=\"virtio_net\" unformed=1\n"

func TestKeptReport(t *testing.T) {
	// The console report as a guest from before calls had an End sent
	// it: the kept trace gives them again.
	res := &Result{
		Report: report.Report{Scenario: "gudevd", Kernel: "6.1", CPUs: 4, Start: 10, Settled: 12,
			Calls: []report.Call{{Syscall: "finit_module", Comm: "gudevd", Module: "virtio", Time: 11, Done: true}}},
		Files: map[string][]byte{"trace.txt": []byte(keptTrace), "dmesg.txt": []byte("x")},
	}
	files, err := KeptFiles(res)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := res.Files[ReportFile]; ok {
		t.Errorf("KeptFiles added %s to the result's own files", ReportFile)
	}
	if diff := cmp.Diff([]string{"dmesg.txt", ReportFile, "trace.txt"}, slices.Sorted(maps.Keys(files))); diff != "" {
		t.Errorf("kept files (-want +got):\n%s", diff)
	}
	got, err := KeptReport(files)
	if err != nil {
		t.Fatal(err)
	}
	want := &report.Report{Scenario: "gudevd", Kernel: "6.1", CPUs: 4, Start: 10, Settled: 12, Calls: []report.Call{
		{Syscall: "finit_module", Comm: "gudevd", TID: 7, TGID: 7, Time: 11, End: 11.5, Module: "virtio", Done: true},
		{Syscall: "finit_module", Comm: "gudevd", TID: 8, TGID: 7, Time: 11.6, Module: "virtio_net"},
	}}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(report.Call{}, "Args")); diff != "" {
		t.Errorf("KeptReport (-want +got):\n%s", diff)
	}
	tl := NewTimelineRun(&Result{Report: *got}, func(m string) []string { return map[string][]string{"virtio_net": {"virtio"}}[m] }).Timeline
	if tl.Loads != 2 || tl.CriticalSeconds != 0.5 || tl.SettleGap != 0 || !tl.Spans[1].Open {
		t.Errorf("timeline of the kept run: %+v", tl)
	}
}

func TestKeptReportErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string][]byte
		want  string
	}{
		{"no report", map[string][]byte{"trace.txt": []byte(keptTrace)}, "no " + ReportFile},
		{"no trace", map[string][]byte{ReportFile: []byte("{}")}, "no trace.txt"},
		{"report not JSON", map[string][]byte{ReportFile: []byte("{"), "trace.txt": nil}, "unexpected end"},
		{"malformed trace", map[string][]byte{ReportFile: []byte("{}"), "trace.txt": []byte("x-1 (1) [000] ..... 1.0: sys_finit_module(fd: 3\n")}, "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := KeptReport(tt.files)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("KeptReport error = %v, want one saying %q", err, tt.want)
			}
		})
	}
}
