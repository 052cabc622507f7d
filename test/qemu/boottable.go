package qemu

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/gudevd/gudevd/test/qemu/internal/report"
)

// sortBoots orders full boots for the table: kernel, vCPUs, configuration.
func sortBoots(sums []report.BootSummary) {
	order := map[string]int{}
	for i, c := range BootConfigs {
		order[string(c)] = i
	}
	sort.SliceStable(sums, func(i, j int) bool {
		a, b := sums[i], sums[j]
		if a.Kernel != b.Kernel {
			return a.Kernel < b.Kernel
		}
		if a.CPUs != b.CPUs {
			return a.CPUs < b.CPUs
		}
		return order[a.Config] < order[b.Config]
	})
}

// WriteBootTable writes boot.md: one row per boot with systemd-analyze's
// phases, the root system's coldplug, the load syscalls of the whole boot
// and the failed units, then each boot's blame top 10 and critical chain.
func WriteBootTable(w io.Writer, sums []report.BootSummary) error {
	sortBoots(sums)
	var b strings.Builder
	b.WriteString("| kernel | vCPUs | configuration | kernel s | initramfs s | userspace s | total s | default target s | trigger s | trigger to settled s | loads done at s | load syscalls (initrd + root) | duplicates | modules | failed units |\n")
	b.WriteString("|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
	for _, s := range sums {
		failed := strings.Join(s.Failed, ", ")
		if failed == "" {
			failed = "none"
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %d (%d + %d) | %d | %d | %s |\n",
			s.Kernel, s.CPUs, s.Config, s.KernelSeconds(), s.InitramfsSeconds(), s.Time.Userspace, s.Time.Total,
			s.Time.TargetAt, s.Trigger, s.SettleSeconds(), s.LoadsDoneAt(), s.Loads.LoadSyscalls, s.InitrdLoads,
			s.Loads.LoadSyscalls-s.InitrdLoads, s.Loads.Duplicates, len(s.Modules), failed)
	}
	for _, s := range sums {
		fmt.Fprintf(&b, "\n### %s, %d vCPUs, %s\n\n", s.Kernel, s.CPUs, s.Config)
		if d := s.Loads.Duplicated(); len(d) > 0 {
			fmt.Fprintf(&b, "Loaded more than once: %s.\n\n", strings.Join(d, ", "))
		}
		b.WriteString("systemd-analyze blame (top 10):\n\n```\n")
		for _, u := range s.Blame {
			fmt.Fprintf(&b, "%9.3fs %s\n", u.Seconds, u.Unit)
		}
		b.WriteString("```\n\nsystemd-analyze critical-chain multi-user.target:\n\n```\n")
		for _, l := range s.Chain {
			took := ""
			if l.Took > 0 {
				took = fmt.Sprintf(" +%.3fs", l.Took)
			}
			fmt.Fprintf(&b, "%s%s @%.3fs%s\n", strings.Repeat("  ", l.Depth), l.Unit, l.At, took)
		}
		b.WriteString("```\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteBootSVG draws each boot as a stacked bar of systemd-analyze's
// kernel, initrd and userspace seconds, grouped by kernel and vCPU count,
// the configurations side by side in BootConfigs' order (stock, alongside,
// instead), with the load syscalls written above.
func WriteBootSVG(w io.Writer, sums []report.BootSummary) error {
	sortBoots(sums)
	const barW, gap, groupGap, top, plotH, left = 34.0, 6.0, 30.0, 40.0, 300.0, 60.0
	maxT := 1.0
	for _, s := range sums {
		maxT = max(maxT, s.Time.Total)
	}
	maxT = niceCeil(maxT)
	width := left + 20
	type bar struct {
		x float64
		s report.BootSummary
	}
	var bars []bar
	var groups [][2]float64 // x start, x end
	var labels []string
	x := left + 10
	for i, s := range sums {
		if i > 0 && (s.Kernel != sums[i-1].Kernel || s.CPUs != sums[i-1].CPUs) {
			x += groupGap
		}
		if i == 0 || s.Kernel != sums[i-1].Kernel || s.CPUs != sums[i-1].CPUs {
			groups = append(groups, [2]float64{x, x})
			labels = append(labels, fmt.Sprintf("%s, %d vCPUs", s.Kernel, s.CPUs))
		}
		bars = append(bars, bar{x, s})
		x += barW + gap
		groups[len(groups)-1][1] = x - gap
	}
	width = max(width, x+20, 760) // room for the title and the legend
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="11">`+"\n", width, top+plotH+90)
	b.WriteString(`<rect width="100%" height="100%" fill="white"/>` + "\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="20" font-size="13">systemd-analyze time (s), Debian bookworm, QEMU TCG; above each bar: load syscalls of the boot</text>`+"\n", left)
	y := func(v float64) float64 { return top + plotH - v/maxT*plotH }
	for i := 0; i <= 5; i++ {
		v := maxT * float64(i) / 5
		fmt.Fprintf(&b, `<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#ddd"/><text x="%.0f" y="%.1f" text-anchor="end">%.0f</text>`+"\n", left, y(v), width-10, y(v), left-5, y(v)+4, v)
	}
	phases := []struct {
		name  string
		color string
		v     func(report.BootSummary) float64
	}{
		{"kernel", "#7f7f7f", report.BootSummary.KernelSeconds},
		{"initramfs", "#ff7f0e", report.BootSummary.InitramfsSeconds},
		{"userspace", "#1f77b4", func(s report.BootSummary) float64 { return s.Time.Userspace }},
	}
	for _, br := range bars {
		base := 0.0
		for _, p := range phases {
			v := p.v(br.s)
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.0f" height="%.1f" fill="%s"><title>%s %s %d vCPUs: %s %.2f s</title></rect>`+"\n",
				br.x, y(base+v), barW, y(base)-y(base+v), p.color, br.s.Config, br.s.Kernel, br.s.CPUs, p.name, v)
			base += v
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%d</text>`+"\n", br.x+barW/2, y(base)-4, br.s.Loads.LoadSyscalls)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end" transform="rotate(-40 %.1f %.1f)">%s</text>`+"\n", br.x+barW/2, top+plotH+14, br.x+barW/2, top+plotH+14, escape(br.s.Config))
	}
	for i, g := range groups {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle" font-weight="bold">%s</text>`+"\n", (g[0]+g[1])/2, top+plotH+62, escape(labels[i]))
	}
	for i, p := range phases {
		lx := left + float64(i)*110
		fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="12" height="12" fill="%s"/><text x="%.0f" y="%.0f">%s</text>`+"\n", lx, top+plotH+74, p.color, lx+16, top+plotH+84, p.name)
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}
