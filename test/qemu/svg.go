package qemu

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"

	"github.com/gudevd/gudevd/test/qemu/internal/report"
)

// series is one line of a plot: a kernel and scenario across vCPU counts.
type series struct {
	label string
	pts   [][2]float64 // vCPUs, value
}

var palette = []string{"#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"}

// WriteSVG draws two panels side by side, load syscalls and coldplug-to-
// settled seconds against vCPUs, one line per kernel and scenario.
func WriteSVG(w io.Writer, sums []report.Summary) error {
	const pw, ph, pad = 460.0, 320.0, 55.0
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", int(2*pw+40), int(ph+160))
	b.WriteString(`<rect width="100%" height="100%" fill="white"/>` + "\n")
	load := group(sums, func(s report.Summary) float64 { return float64(s.LoadSyscalls) })
	settle := group(sums, func(s report.Summary) float64 { return s.SettleSeconds })
	panel(&b, 10, 10, pw, ph, pad, "module load syscalls", load)
	panel(&b, pw+30, 10, pw, ph, pad, "coldplug to settled (s)", settle)
	for i, s := range load {
		x, y := 20+float64(i%4)*220, ph+60+float64(i/4)*20
		fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="%s" stroke-width="2"/>`, x, y-4, x+24, y-4, palette[i%len(palette)])
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f">%s</text>`+"\n", x+30, y, escape(s.label))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func group(sums []report.Summary, val func(report.Summary) float64) []series {
	idx := map[string]int{}
	var out []series
	for _, s := range sums {
		label := s.Kernel + " " + s.Scenario
		i, ok := idx[label]
		if !ok {
			i = len(out)
			idx[label] = i
			out = append(out, series{label: label})
		}
		out[i].pts = append(out[i].pts, [2]float64{float64(s.CPUs), val(s)})
	}
	for i := range out {
		sort.Slice(out[i].pts, func(a, b int) bool { return out[i].pts[a][0] < out[i].pts[b][0] })
	}
	return out
}

func panel(b *strings.Builder, x0, y0, w, h, pad float64, title string, ss []series) {
	maxX, maxY := 1.0, 1.0
	for _, s := range ss {
		for _, p := range s.pts {
			maxX, maxY = math.Max(maxX, p[0]), math.Max(maxY, p[1])
		}
	}
	maxY = niceCeil(maxY)
	px := func(v float64) float64 { return x0 + pad + v/maxX*(w-pad-10) }
	py := func(v float64) float64 { return y0 + h - pad + -v/maxY*(h-pad-25) }
	fmt.Fprintf(b, `<text x="%.0f" y="%.0f" font-weight="bold">%s</text>`+"\n", x0+pad, y0+15, escape(title))
	fmt.Fprintf(b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="black"/>`, px(0), py(0), px(maxX), py(0))
	fmt.Fprintf(b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="black"/>`+"\n", px(0), py(0), px(0), py(maxY))
	for i := 0; i <= 4; i++ {
		v := maxY * float64(i) / 4
		fmt.Fprintf(b, `<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#ddd"/>`, px(0), py(v), px(maxX), py(v))
		fmt.Fprintf(b, `<text x="%.0f" y="%.1f" text-anchor="end">%s</text>`+"\n", px(0)-4, py(v)+4, trimFloat(v))
	}
	ticks := map[float64]bool{}
	for _, s := range ss {
		for _, p := range s.pts {
			ticks[p[0]] = true
		}
	}
	for t := range ticks {
		fmt.Fprintf(b, `<text x="%.1f" y="%.0f" text-anchor="middle">%s</text>`+"\n", px(t), py(0)+16, trimFloat(t))
	}
	fmt.Fprintf(b, `<text x="%.0f" y="%.0f" text-anchor="middle">vCPUs</text>`+"\n", px(maxX/2), py(0)+34)
	for i, s := range ss {
		var pts []string
		for _, p := range s.pts {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(p[0]), py(p[1])))
		}
		c := palette[i%len(palette)]
		fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", c, strings.Join(pts, " "))
		for _, p := range s.pts {
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`, px(p[0]), py(p[1]), c)
		}
		b.WriteString("\n")
	}
}

// niceCeil rounds up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	e := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*e {
			return m * e
		}
	}
	return 10 * e
}

func trimFloat(v float64) string {
	s := fmt.Sprintf("%.1f", v)
	return strings.TrimSuffix(s, ".0")
}

func escape(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")
	return r.Replace(s)
}
