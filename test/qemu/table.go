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

// WriteSideBySide prints one column per summary: the demo's table.
func WriteSideBySide(w io.Writer, sums []report.Summary) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', tabwriter.AlignRight)
	row := func(label string, f func(report.Summary) string) {
		cells := []string{label}
		for _, s := range sums {
			cells = append(cells, f(s))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
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
