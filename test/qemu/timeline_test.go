package qemu

import (
	"bytes"
	"encoding/xml"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/gudevd/gudevd/test/qemu/internal/kmodset"
	"github.com/gudevd/gudevd/test/qemu/internal/report"
)

// realTimelineRuns are the coldplugs of internal/report/testdata (6.1,
// 4 vCPUs, udevd and gudevd), read back as the limit bench reads a kept
// run.
func realTimelineRuns(t *testing.T) []TimelineRun {
	t.Helper()
	const dir = "internal/report/testdata/"
	dep, err := os.ReadFile(dir + "timeline-6.1.modules.dep")
	if err != nil {
		t.Fatal(err)
	}
	set, err := kmodset.Load(fstest.MapFS{"modules.dep": {Data: dep}, "modules.alias": {}, "modules.softdep": {}, "modules.builtin": {}})
	if err != nil {
		t.Fatal(err)
	}
	var runs []TimelineRun
	for _, sc := range []string{"udevd", "gudevd"} {
		files := map[string][]byte{}
		for name, src := range map[string]string{ReportFile: ".json", "trace.txt": ".trace"} {
			if files[name], err = os.ReadFile(dir + "timeline-6.1-004-" + sc + src); err != nil {
				t.Fatal(err)
			}
		}
		rep, err := KeptReport(files)
		if err != nil {
			t.Fatal(err)
		}
		rep.Kernel = "6.1"
		runs = append(runs, NewTimelineRun(&Result{Report: *rep, Summary: report.Summarize(rep, nil)}, set.Deps))
	}
	return runs
}

// everyOutcome is a hand-made run with one load of each outcome and
// memory figures.
func everyOutcome() TimelineRun {
	r := &report.Report{Scenario: "oracle", Kernel: "6.12", CPUs: 16, Start: 1, Settled: 4, Calls: []report.Call{
		{Comm: "guesttool", Module: "virtio", Time: 1.5, End: 2, Done: true},
		{Comm: "guesttool", Module: "virtio", Time: 1.6, End: 2.1, Ret: -17, Errno: "EEXIST", Done: true},
		{Comm: "guesttool", Module: "pcspkr", Time: 1.7, End: 1.8, Ret: -19, Errno: "ENODEV", Done: true},
		{Comm: "guesttool", Module: "virtio_net", Time: 2.2},
	}}
	return TimelineRun{
		Summary:  report.Summarize(r, nil),
		Timeline: report.Analyze(r, func(m string) []string { return map[string][]string{"virtio_net": {"virtio"}}[m] }),
		Memory:   &report.MemoryPeak{VmallocStart: 10 << 20, VmallocPeak: 42 << 20, ManagerPSS: 3 << 19, ManagerRSS: 7 << 20},
	}
}

// svgNode is any element of the plot, with its children.
type svgNode struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Nodes   []svgNode  `xml:",any"`
}

func (n svgNode) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (n svgNode) num(t *testing.T, name string) float64 {
	v, err := strconv.ParseFloat(n.attr(name), 64)
	if err != nil {
		t.Fatalf("<%s %s=%q>: %v", n.XMLName.Local, name, n.attr(name), err)
	}
	return v
}

// walk calls f on n and every element under it.
func (n svgNode) walk(f func(svgNode)) {
	f(n)
	for _, c := range n.Nodes {
		c.walk(f)
	}
}

// panelFacts is what a panel of the plot shows, counted from its XML.
type panelFacts struct {
	Scenario string
	Bars     map[string]int // by outcome
	Settle   int            // settle lines
	Curves   int            // in-flight polylines
}

func TestWriteTimelineSVG(t *testing.T) {
	runs := append(realTimelineRuns(t), everyOutcome())
	var buf bytes.Buffer
	if err := WriteTimelineSVG(&buf, "6.1 & friends <4 vCPUs>", runs); err != nil {
		t.Fatal(err)
	}
	var root svgNode
	if err := xml.Unmarshal(buf.Bytes(), &root); err != nil {
		t.Fatalf("the plot is not XML: %v", err)
	}
	var want, got []panelFacts
	for _, r := range runs {
		f := panelFacts{Scenario: r.Summary.Scenario, Bars: map[string]int{}, Settle: 1, Curves: 1}
		for _, s := range r.Timeline.Spans {
			f.Bars[s.Outcome()]++
		}
		want = append(want, f)
	}
	root.walk(func(n svgNode) {
		if n.XMLName.Local != "g" || n.attr("class") != "panel" {
			return
		}
		f := panelFacts{Scenario: n.attr("data-scenario"), Bars: map[string]int{}}
		var bars []svgNode
		n.walk(func(c svgNode) {
			class := strings.Fields(c.attr("class"))
			switch {
			case len(class) == 2 && class[0] == "load":
				f.Bars[class[1]]++
				bars = append(bars, c)
			case len(class) == 1 && class[0] == "settle":
				f.Settle++
			case len(class) == 1 && class[0] == "inflight":
				f.Curves++
			}
		})
		checkBars(t, f.Scenario, bars)
		got = append(got, f)
	})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("panels (-want +got):\n%s", diff)
	}
}

// checkBars asserts that every bar lies on the time axis and that bars of
// one lane do not overlap (beyond the 1 px a bar of no length is drawn
// with).
func checkBars(t *testing.T, scenario string, bars []svgNode) {
	t.Helper()
	lanes := map[float64][][2]float64{}
	for _, b := range bars {
		x, w := b.num(t, "x"), b.num(t, "width")
		if x < tlLeft-0.1 || x+w > tlWidth-tlRight+1.1 || w < 1 {
			t.Errorf("%s: bar at x=%v width %v off the axis", scenario, x, w)
		}
		y := b.num(t, "y")
		lanes[y] = append(lanes[y], [2]float64{x, x + w})
	}
	for y, l := range lanes {
		sort.Slice(l, func(i, j int) bool { return l[i][0] < l[j][0] })
		for i := 1; i < len(l); i++ {
			if l[i][0] < l[i-1][1]-1.05 {
				t.Errorf("%s: lane at y=%v: bars %v and %v overlap", scenario, y, l[i-1], l[i])
			}
		}
	}
}

func TestPackLanes(t *testing.T) {
	spans := []report.Span{{Start: 0, End: 2}, {Start: 0.5, End: 1}, {Start: 1, End: 3}, {Start: 2, End: 2}, {Start: 2.5, End: 4}}
	if diff := cmp.Diff([]int{0, 1, 1, 0, 0}, packLanes(spans)); diff != "" {
		t.Errorf("packLanes (-want +got):\n%s", diff)
	}
}

func TestWriteTimelineTable(t *testing.T) {
	runs := append(realTimelineRuns(t), everyOutcome())
	var buf bytes.Buffer
	if err := WriteTimelineTable(&buf, runs); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 2+len(runs) {
		t.Fatalf("%d lines for %d runs:\n%s", len(lines), len(runs), buf.String())
	}
	cells := func(l string) []string { return strings.Split(strings.Trim(l, "| "), " | ") }
	head := cells(lines[0])
	var got [][]string
	for i, l := range lines[2:] {
		c := cells(l)
		if len(c) != len(head) {
			t.Errorf("row %d has %d cells, the header %d: %s", i, len(c), len(head), l)
		}
		got = append(got, c)
	}
	want := [][]string{
		{"6.1", "4", "udevd", "19.39", "126", "163.14", "17.97", "21 / 9.1", "10.70", "usb_common → usbcore → xhci_hcd → xhci_pci",
			"1.32", "19.29", "0.10", "64", "0.0 MiB", "—", "—", "—", "—"},
		{"6.1", "4", "gudevd", "14.16", "62", "63.42", "12.55", "6 / 5.1", "7.32", "irqbypass → kvm → kvm_amd",
			"1.51", "14.06", "0.10", "0", "0.0 MiB", "—", "—", "—", "—"},
		{"6.12", "16", "oracle", "3.00", "4", "2.90", "2.40", "3 / 1.2", "0.50", "virtio",
			"0.50", "3.00", "0.00", "1", "0.0 MiB", "42.0", "32.0", "1.5", "7.0"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
}

func TestShortChain(t *testing.T) {
	tests := []struct {
		name string
		path []string
		want string
	}{
		{"none", nil, "—"},
		{"short", []string{"a", "b"}, "a → b"},
		{"long", []string{"a", "b", "c", "d", "e", "f"}, "a → b → … → f (6 modules)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := shortChain(tt.path); got != tt.want {
				t.Errorf("shortChain(%q) = %q, want %q", tt.path, got, tt.want)
			}
		})
	}
}
