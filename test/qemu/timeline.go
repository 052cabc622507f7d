package qemu

import (
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/gudevd/gudevd/test/qemu/internal/report"
)

// TimelineRun is one coldplug run of the limit bench: its table row, where
// its load time went, and what it cost in memory (nil until the guest's
// sampler reports it). The bench keeps it as runs/limit-KERNEL-NNN-SCENARIO.json.
type TimelineRun struct {
	Summary  report.Summary     `json:"summary"`
	Timeline report.Timeline    `json:"timeline"`
	Memory   *report.MemoryPeak `json:"memory,omitempty"`
}

// The timeline plot's geometry, in pixels.
const (
	tlWidth   = 1200.0
	tlLeft    = 60.0 // room for the in-flight axis labels
	tlRight   = 20.0
	tlHeader  = 22.0 // a panel's title line
	tlCurve   = 44.0 // the in-flight curve under the bars
	tlAxis    = 30.0 // tick labels and the gap to the next panel
	tlMaxBars = 240.0
)

// outcomeStyle is the fill of a bar by outcome: light enough for a label
// on it to stay readable.
func outcomeStyle(outcome string) (fill, stroke string) {
	switch outcome {
	case report.OutcomeLoaded:
		return "#a1d99b", "#31a354"
	case report.OutcomeEEXIST:
		return "#fdd0a2", "#e6550d"
	case report.OutcomeError:
		return "#fc9272", "#de2d26"
	}
	return "#d9d9d9", "#636363"
}

// timeAxis maps seconds after coldplug start to x, shared by every panel.
type timeAxis struct{ t0, t1 float64 }

func newTimeAxis(runs []TimelineRun) timeAxis {
	a := timeAxis{t1: 1}
	for _, r := range runs {
		a.t0 = math.Min(a.t0, r.Timeline.FirstLoadAt)
		a.t1 = math.Max(a.t1, math.Max(r.Summary.SettleSeconds, r.Timeline.LastLoadEndAt))
	}
	a.t1 = niceCeil(a.t1)
	return a
}

func (a timeAxis) x(t float64) float64 {
	return tlLeft + (t-a.t0)/(a.t1-a.t0)*(tlWidth-tlLeft-tlRight)
}

// WriteTimelineSVG draws one panel per run, stacked on a shared time axis
// (seconds after coldplug start): every load syscall a bar, packed into
// lanes so that bars in one lane never overlap, coloured by outcome, a
// dashed line where the manager reported settled, and under the bars the
// number of loads in the kernel at once, on one scale for every panel.
func WriteTimelineSVG(w io.Writer, title string, runs []TimelineRun) error {
	ax := newTimeAxis(runs)
	maxN := 1
	for _, r := range runs {
		maxN = max(maxN, r.Timeline.MaxInFlight)
	}
	var body strings.Builder
	y := 50.0
	for _, r := range runs {
		y = timelinePanel(&body, ax, maxN, y, r)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="12">`+"\n", tlWidth, y+10)
	b.WriteString(`<rect width="100%" height="100%" fill="white"/>` + "\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="18" font-weight="bold" font-size="14">%s</text>`+"\n", tlLeft, escape(title))
	timelineLegend(&b)
	b.WriteString(body.String())
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func timelineLegend(b *strings.Builder) {
	x := tlLeft
	for _, o := range []struct{ outcome, label string }{
		{report.OutcomeLoaded, "loaded"}, {report.OutcomeEEXIST, "EEXIST (duplicate)"},
		{report.OutcomeError, "other error"}, {report.OutcomeOpen, "no exit seen"},
	} {
		fill, stroke := outcomeStyle(o.outcome)
		fmt.Fprintf(b, `<rect x="%.0f" y="28" width="18" height="10" fill="%s" stroke="%s"/><text x="%.0f" y="37">%s</text>`+"\n", x, fill, stroke, x+22, escape(o.label))
		x += 30 + 7*float64(len(o.label))
	}
	fmt.Fprintf(b, `<line x1="%.0f" y1="33" x2="%.0f" y2="33" stroke="#08519c" stroke-width="2" stroke-dasharray="5,3"/><text x="%.0f" y="37">settled</text>`+"\n", x, x+18, x+22)
	x += 90
	fmt.Fprintf(b, `<line x1="%.0f" y1="33" x2="%.0f" y2="33" stroke="#54278f" stroke-width="1.5"/><text x="%.0f" y="37">loads in the kernel at once</text>`+"\n", x, x+18, x+22)
	fmt.Fprintf(b, `<text x="%.0f" y="37" text-anchor="end" fill="#555">time: seconds after coldplug start</text>`+"\n", tlWidth-tlRight)
}

// timelinePanel draws one run from y down and returns where the next
// panel starts.
func timelinePanel(b *strings.Builder, ax timeAxis, maxN int, y float64, r TimelineRun) float64 {
	s, tl := r.Summary, r.Timeline
	lanes := packLanes(tl.Spans)
	nl := 1
	for _, l := range lanes {
		nl = max(nl, l+1)
	}
	laneH := math.Max(3, math.Min(12, math.Floor(tlMaxBars/float64(nl))))
	fmt.Fprintf(b, `<g class="panel" data-scenario="%s">`+"\n", escape(s.Scenario))
	fmt.Fprintf(b, `<text x="%.0f" y="%.0f"><tspan font-weight="bold">%s</tspan> (%s, %d vCPUs): settled after %.2f s, %.2f s after the last load; %d load syscalls, %.1f s in the kernel, busy %.2f s, at most %d at once; critical path %.2f s</text>`+"\n",
		tlLeft, y+15, escape(s.Scenario), escape(s.Kernel), s.CPUs, s.SettleSeconds, tl.SettleGap, tl.Loads, tl.KernelSeconds, tl.BusySeconds, tl.MaxInFlight, tl.CriticalSeconds)
	top := y + tlHeader
	bottom := top + float64(nl)*laneH + 4 + tlCurve
	timeGrid(b, ax, top, bottom)
	for i, sp := range tl.Spans {
		timelineBar(b, ax, top+float64(lanes[i])*laneH, laneH, sp)
	}
	inFlightCurve(b, ax, tl.Spans, maxN, bottom)
	settle := ax.x(s.SettleSeconds)
	fmt.Fprintf(b, `<line class="settle" x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#08519c" stroke-width="2" stroke-dasharray="5,3"><title>settled at %.2f s</title></line>`+"\n",
		settle, top-2, settle, bottom, s.SettleSeconds)
	b.WriteString("</g>\n")
	return bottom + tlAxis
}

// timeGrid draws the vertical grid and the seconds under the panel.
func timeGrid(b *strings.Builder, ax timeAxis, top, bottom float64) {
	step := niceCeil((ax.t1 - ax.t0) / 12)
	for t := math.Ceil(ax.t0/step) * step; t <= ax.t1+step/1e6; t += step {
		x := ax.x(t)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#e5e5e5"/>`, x, top, x, bottom)
		fmt.Fprintf(b, `<text x="%.1f" y="%.0f" text-anchor="middle" font-size="11">%s s</text>`+"\n", x, bottom+14, trimFloat(t))
	}
}

// timelineBar draws one load: a bar with its module's name on it when
// there is room, and every detail in a tooltip.
func timelineBar(b *strings.Builder, ax timeAxis, y, h float64, sp report.Span) {
	x0, x1 := ax.x(sp.Start), ax.x(sp.End)
	wd := math.Max(1, x1-x0)
	fill, stroke := outcomeStyle(sp.Outcome())
	name := sp.Module
	if name == "" {
		name = "(unnamed)"
	}
	what := sp.Outcome()
	if sp.Errno != "" {
		what = sp.Errno
	}
	fmt.Fprintf(b, `<rect class="load %s" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" stroke="%s" stroke-width="0.5"><title>%s by %s: %.3f–%.3f s (%.3f s), %s</title></rect>`,
		sp.Outcome(), x0, y, wd, h-1, fill, stroke, escape(name), escape(sp.Comm), sp.Start, sp.End, sp.Seconds(), escape(what))
	// About 5.5 px per character at 9 px.
	if h >= 10 && wd >= 5.5*float64(len(name))+4 {
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="9" fill="#222">%s</text>`, x0+2, y+h-3, escape(name))
	}
	b.WriteString("\n")
}

// inFlightCurve draws the loads in the kernel over time as a step line in
// the band above bottom, with its scale on the left.
func inFlightCurve(b *strings.Builder, ax timeAxis, spans []report.Span, maxN int, bottom float64) {
	band := tlCurve - 6
	py := func(n int) float64 { return bottom - float64(n)/float64(maxN)*band }
	fmt.Fprintf(b, `<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#999"/>`, tlLeft, bottom, tlWidth-tlRight, bottom)
	fmt.Fprintf(b, `<text x="%.0f" y="%.1f" text-anchor="end" font-size="10">%d</text><text x="%.0f" y="%.1f" text-anchor="end" font-size="10">0</text>`+"\n",
		tlLeft-4, py(maxN)+4, maxN, tlLeft-4, bottom)
	fmt.Fprintf(b, `<text x="%.0f" y="%.1f" text-anchor="end" font-size="10">in flight</text>`+"\n", tlLeft-4, py(maxN/2)+4)
	steps := report.InFlight(spans)
	if len(steps) == 0 {
		return
	}
	pts := []string{fmt.Sprintf("%.1f,%.1f", ax.x(steps[0].At), py(0))}
	prev := 0
	for _, st := range steps {
		x := ax.x(st.At)
		pts = append(pts, fmt.Sprintf("%.1f,%.1f %.1f,%.1f", x, py(prev), x, py(st.N)))
		prev = st.N
	}
	fmt.Fprintf(b, `<polyline class="inflight" fill="none" stroke="#54278f" stroke-width="1.5" points="%s"/>`+"\n", strings.Join(pts, " "))
}

// packLanes gives every span (sorted by start) the first lane whose last
// bar has ended: the fewest lanes a greedy pass needs, which is the most
// spans in flight at once.
func packLanes(spans []report.Span) []int {
	var ends []float64
	lanes := make([]int, len(spans))
	for i, s := range spans {
		l := 0
		for l < len(ends) && ends[l] > s.Start {
			l++
		}
		if l == len(ends) {
			ends = append(ends, 0)
		}
		ends[l] = math.Max(s.End, s.Start)
		lanes[i] = l
	}
	return lanes
}

// WriteTimelineTable writes the limit bench's table, one row per run:
// where the time between coldplug start and settled went, and what the
// run cost in memory ("—" when the guest did not sample it).
func WriteTimelineTable(w io.Writer, runs []TimelineRun) error {
	var b strings.Builder
	b.WriteString("| kernel | vCPUs | scenario | settle s | load syscalls | kernel s in loads | busy s | in flight max / mean | critical path s | critical path | first load at s | last load end s | gap to settle s | duplicate loads | bytes read by duplicates | vmalloc peak MiB | vmalloc growth MiB | manager PSS peak MiB | manager RSS peak MiB |\n")
	b.WriteString("|---|--:|---|--:|--:|--:|--:|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, r := range runs {
		s, t := r.Summary, r.Timeline
		fmt.Fprintf(&b, "| %s | %d | %s | %.2f | %d | %.2f | %.2f | %d / %.1f | %.2f | %s | %.2f | %.2f | %.2f | %d | %.1f MiB | %s |\n",
			s.Kernel, s.CPUs, s.Scenario, s.SettleSeconds, t.Loads, t.KernelSeconds, t.BusySeconds, t.MaxInFlight, t.MeanInFlight,
			t.CriticalSeconds, shortChain(t.CriticalPath), t.FirstLoadAt, t.LastLoadEndAt, t.SettleGap,
			s.Duplicates, float64(s.DuplicateBytes)/(1<<20), memoryCells(r.Memory))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// memoryCells are the four memory columns.
func memoryCells(m *report.MemoryPeak) string {
	if m == nil {
		return "— | — | — | —"
	}
	mib := func(n int64) string { return fmt.Sprintf("%.1f", float64(n)/(1<<20)) }
	return strings.Join([]string{mib(m.VmallocPeak), mib(m.VmallocPeak - m.VmallocStart), mib(m.ManagerPSS), mib(m.ManagerRSS)}, " | ")
}

// shortChain prints a critical path, its middle cut when it is long.
func shortChain(path []string) string {
	if len(path) == 0 {
		return "—"
	}
	if len(path) > 4 {
		return fmt.Sprintf("%s → %s → … → %s (%d modules)", path[0], path[1], path[len(path)-1], len(path))
	}
	return strings.Join(path, " → ")
}
