package qemu

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/gudevd/gudevd/test/qemu/internal/report"
)

// humanBytes prints a byte count in binary units.
func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// columns returns a function that prints one row of a side-by-side table:
// a label, then f of each run.
func columns[S any](tw *tabwriter.Writer, sums []S) func(label string, f func(S) string) {
	return func(label string, f func(S) string) {
		cells := []string{label}
		for _, s := range sums {
			cells = append(cells, f(s))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
}

// WriteSideBySide prints one column per summary: the demo's table.
func WriteSideBySide(w io.Writer, sums []report.Summary) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', tabwriter.AlignRight)
	row := columns(tw, sums)
	row("", func(s report.Summary) string { return s.Scenario })
	row("kernel, vCPUs", func(s report.Summary) string { return fmt.Sprintf("%s, %d", s.Kernel, s.CPUs) })
	row("load syscalls", func(s report.Summary) string { return fmt.Sprint(s.LoadSyscalls) })
	row("distinct modules", func(s report.Summary) string { return fmt.Sprint(s.Distinct) })
	row("duplicate loads", func(s report.Summary) string { return fmt.Sprint(s.Duplicates) })
	row("EEXIST", func(s report.Summary) string { return fmt.Sprint(s.EEXIST) })
	row("other errors", func(s report.Summary) string { return fmt.Sprint(s.OtherErrors) })
	row("bytes read by duplicates", func(s report.Summary) string { return humanBytes(s.DuplicateBytes) })
	row("coldplug to settled", func(s report.Summary) string { return fmt.Sprintf("%.2f s", s.SettleSeconds) })
	row("modules loaded", func(s report.Summary) string { return fmt.Sprint(s.ModulesLoaded) })
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, s := range sums {
		d := s.Duplicated()
		if len(d) == 0 {
			continue
		}
		if len(d) > 8 {
			d = append(d[:8], "...")
		}
		fmt.Fprintf(w, "\n%s loaded more than once: %s\n", s.Scenario, strings.Join(d, " "))
	}
	for _, s := range sums {
		if len(s.Failures) == 0 {
			continue
		}
		var f []string
		for k, n := range s.Failures {
			f = append(f, fmt.Sprintf("%s×%d", k, n))
		}
		sort.Strings(f)
		fmt.Fprintf(w, "%s failed loads other than EEXIST (module:errno×calls): %s\n", s.Scenario, strings.Join(f, " "))
	}
	return nil
}

// WriteMarkdown writes the benchmark table, one row per run.
func WriteMarkdown(w io.Writer, sums []report.Summary) error {
	fmt.Fprintln(w, "| kernel | vCPUs | scenario | load syscalls | distinct | duplicates | EEXIST | other errors | duplicate bytes | settle (s) | modules loaded |")
	fmt.Fprintln(w, "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, s := range sums {
		_, err := fmt.Fprintf(w, "| %s | %d | %s | %d | %d | %d | %d | %d | %s | %.2f | %d |\n",
			s.Kernel, s.CPUs, s.Scenario, s.LoadSyscalls, s.Distinct, s.Duplicates, s.EEXIST,
			s.OtherErrors, humanBytes(s.DuplicateBytes), s.SettleSeconds, s.ModulesLoaded)
		if err != nil {
			return err
		}
	}
	return nil
}

// WriteStormSideBySide prints one column per request storm.
func WriteStormSideBySide(w io.Writer, sums []report.StormSummary) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', tabwriter.AlignRight)
	row := columns(tw, sums)
	row("", func(s report.StormSummary) string { return s.Scenario })
	row("kernel, vCPUs", func(s report.StormSummary) string { return fmt.Sprintf("%s, %d", s.Kernel, s.CPUs) })
	row("helper", func(s report.StormSummary) string { return s.Helper })
	row("storm processes", func(s report.StormSummary) string { return fmt.Sprint(s.Procs) })
	row("requests made", func(s report.StormSummary) string { return fmt.Sprint(s.Returns) })
	row("refused, kmod busy 5 s", func(s report.StormSummary) string { return fmt.Sprint(s.KmodBusy) })
	row("module_request events", func(s report.StormSummary) string { return fmt.Sprint(s.Requests) })
	row("helper executions", func(s report.StormSummary) string { return fmt.Sprint(s.Helpers) })
	row("load syscalls", func(s report.StormSummary) string { return fmt.Sprint(s.LoadSyscalls) })
	row("duplicate loads", func(s report.StormSummary) string { return fmt.Sprint(s.Duplicates) })
	row("EEXIST", func(s report.StormSummary) string { return fmt.Sprint(s.EEXIST) })
	row("other errors", func(s report.StormSummary) string { return fmt.Sprint(s.OtherErrors) })
	row("unnamed / named by helper", func(s report.StormSummary) string { return fmt.Sprintf("%d / %d", s.Unnamed, s.ByHelper) })
	row("calls that found no module", func(s report.StormSummary) string { return fmt.Sprint(s.Missing) })
	row("helper lifetime, median / max", func(s report.StormSummary) string {
		return fmt.Sprintf("%.2f / %.2f s", s.HelperMedian, s.HelperMax)
	})
	row("storm wall time", func(s report.StormSummary) string { return fmt.Sprintf("%.2f s", s.WallSeconds) })
	row("storm modules loaded", func(s report.StormSummary) string { return strings.Join(s.Loaded, " ") })
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, s := range sums {
		fmt.Fprintf(w, "\n%s: %s\n", s.Scenario, stormDetail(s))
	}
	return nil
}

// stormDetail is the per-name and per-module breakdown of a storm.
func stormDetail(s report.StormSummary) string {
	var parts []string
	for _, n := range report.StormRequestNames() {
		c := s.PerName[n]
		parts = append(parts, fmt.Sprintf("%s %d req/%d procs/%d helpers/%d failed", n, c.Requests, c.Processes, c.Helpers, c.Failed))
	}
	var mods []string
	for m := range s.PerModule {
		mods = append(mods, m)
	}
	sort.Strings(mods)
	for _, m := range mods {
		c := s.PerModule[m]
		name := m
		if name == "" {
			name = "(unnamed)"
		}
		parts = append(parts, fmt.Sprintf("%s ×%d (EEXIST %d, errors %d)", name, c.Loads, c.EEXIST, c.Errors))
	}
	var outs []string
	for o, n := range s.Outcomes {
		outs = append(outs, fmt.Sprintf("%s×%d", o, n))
	}
	sort.Strings(outs)
	return strings.Join(parts, "; ") + "; outcomes: " + strings.Join(outs, " ")
}

// WriteStormMarkdown writes the request-storm tables: kmod's modprobe and
// gudevd side by side per kernel and vCPU count, one row per run with every
// column, then the load syscalls per module and the requests per name of
// each run.
func WriteStormMarkdown(w io.Writer, sums []report.StormSummary) error {
	writeStormPairs(w, sums)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| kernel | vCPUs | helper | requests made | refused (kmod busy) | module_request | helper execs | load syscalls | duplicates | EEXIST | other errors | unnamed (named by helper) | calls that found no module | helper lifetime median / max (s) | storm wall (s) | storm modules loaded |")
	fmt.Fprintln(w, "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, s := range sums {
		// Runs from before the kretprobe on __request_module have no
		// returns: their requests made and refusals are unknown.
		made, busy := fmt.Sprint(s.Returns), fmt.Sprint(s.KmodBusy)
		if s.Returns == 0 && s.Requests > 0 {
			made, busy = "n/a", "n/a"
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %d | %d | %d | %d | %d | %d | %d (%d) | %d | %.2f / %.2f | %.2f | %d |\n",
			s.Kernel, s.CPUs, stormHelperName(s.Scenario), made, busy, s.Requests, s.Helpers, s.LoadSyscalls,
			s.Duplicates, s.EEXIST, s.OtherErrors, s.Unnamed, s.ByHelper, s.Missing, s.HelperMedian, s.HelperMax, s.WallSeconds, len(s.Loaded))
	}
	mods := map[string]bool{}
	for _, s := range sums {
		for m := range s.PerModule {
			mods[m] = true
		}
	}
	var ml []string
	for m := range mods {
		ml = append(ml, m)
	}
	sort.Strings(ml)
	names := report.StormRequestNames()
	fmt.Fprintln(w, "\nLoad syscalls per module (EEXIST in brackets), and per request name the module_request events / distinct processes / failed requests:")
	fmt.Fprintln(w)
	head := "| kernel | vCPUs | helper |"
	rule := "|---|---:|---|"
	for _, m := range ml {
		if m == "" {
			m = "(unnamed)"
		}
		head += " " + m + " |"
		rule += "---:|"
	}
	for _, n := range names {
		head += " " + n + " |"
		rule += "---:|"
	}
	fmt.Fprintln(w, head)
	fmt.Fprintln(w, rule)
	for _, s := range sums {
		line := fmt.Sprintf("| %s | %d | %s |", s.Kernel, s.CPUs, stormHelperName(s.Scenario))
		for _, m := range ml {
			c := s.PerModule[m]
			line += fmt.Sprintf(" %d (%d) |", c.Loads, c.EEXIST)
		}
		for _, n := range names {
			c := s.PerName[n]
			line += fmt.Sprintf(" %d / %d / %d |", c.Requests, c.Processes, c.Failed)
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	return nil
}

// writeStormPairs writes one row per kernel and vCPU count, each cell
// "kmod / gudevd"; a run that is missing shows as "–".
func writeStormPairs(w io.Writer, sums []report.StormSummary) {
	type key struct {
		kernel string
		cpus   int
	}
	runs := map[key]map[string]report.StormSummary{}
	var keys []key
	for _, s := range sums {
		k := key{s.Kernel, s.CPUs}
		if runs[k] == nil {
			runs[k] = map[string]report.StormSummary{}
			keys = append(keys, k)
		}
		runs[k][s.Scenario] = s
	}
	sort.SliceStable(keys, func(i, j int) bool {
		if keys[i].kernel != keys[j].kernel {
			return keys[i].kernel < keys[j].kernel
		}
		return keys[i].cpus < keys[j].cpus
	})
	fmt.Fprintln(w, "| kernel | vCPUs | requests made (refused), kmod / gudevd | helper execs | load syscalls | duplicates | EEXIST | calls that found no module | storm wall (s) |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, k := range keys {
		pair := func(f func(report.StormSummary) string) string {
			cell := func(sc string) string {
				s, ok := runs[k][sc]
				if !ok {
					return "–"
				}
				return f(s)
			}
			return cell("storm-kmod") + " / " + cell("storm-gudevd")
		}
		num := func(f func(report.StormSummary) int) string {
			return pair(func(s report.StormSummary) string { return fmt.Sprint(f(s)) })
		}
		made := pair(func(s report.StormSummary) string {
			if s.Returns == 0 && s.Requests > 0 {
				return "n/a"
			}
			return fmt.Sprintf("%d (%d)", s.Returns, s.KmodBusy)
		})
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %s | %s | %s |\n", k.kernel, k.cpus, made,
			num(func(s report.StormSummary) int { return s.Helpers }),
			num(func(s report.StormSummary) int { return s.LoadSyscalls }),
			num(func(s report.StormSummary) int { return s.Duplicates }),
			num(func(s report.StormSummary) int { return s.EEXIST }),
			num(func(s report.StormSummary) int { return s.Missing }),
			pair(func(s report.StormSummary) string { return fmt.Sprintf("%.1f", s.WallSeconds) }))
	}
}

func stormHelperName(scenario string) string {
	switch scenario {
	case "storm-kmod":
		return "kmod modprobe"
	case "storm-gudevd":
		return "gudevd"
	}
	return scenario
}
