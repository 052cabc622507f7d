package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gudevd/gudevd/test/qemu"
)

// cmdFaults runs the fault scenarios (-scenarios, default all) on every kernel at every vCPU count
// of cpuList and writes OUT/faults.md, the faults table, rewritten after
// each run, with each run's guest files and row in OUT/faults/.
func cmdFaults(ctx context.Context, h *qemu.Harness, kernels []string, cpuList string, scenarios []string, out string) error {
	counts, err := parseCounts(cpuList)
	if err != nil {
		return err
	}
	var rows []*qemu.FaultResult
	for _, name := range kernels {
		k, err := qemu.KernelByName(name)
		if err != nil {
			return err
		}
		for _, cpus := range counts {
			for _, sc := range scenarios {
				row, err := h.RunFault(ctx, k, sc, cpus)
				if err != nil {
					return err
				}
				rows = append(rows, row)
				if err := saveFault(out, row); err != nil {
					return err
				}
				if err := writeFaultTable(out, rows); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// saveFault keeps one run's guest files and its row (without the run).
func saveFault(out string, r *qemu.FaultResult) error {
	dir := filepath.Join(out, "faults", fmt.Sprintf("%s-%03d-%s", r.Kernel, r.CPUs, r.Fault))
	if err := writeFiles(dir, r.Result.Files); err != nil {
		return fmt.Errorf("save fault run: %w", err)
	}
	row := *r
	row.Result = nil
	b, err := json.MarshalIndent(row, "", "  ")
	if err != nil {
		return fmt.Errorf("encode fault row: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "fault.json"), b, 0o644); err != nil {
		return fmt.Errorf("save fault row: %w", err)
	}
	return nil
}

// writeFaultTable writes OUT/faults.md and prints the table.
func writeFaultTable(out string, rows []*qemu.FaultResult) error {
	var b strings.Builder
	if err := qemu.WriteFaultTable(&b, rows); err != nil {
		return err
	}
	for _, r := range rows {
		for _, l := range r.Lost {
			fmt.Fprintf(&b, "\n- %s %s at %d vCPUs lost: %s", r.Kernel, r.Fault, r.CPUs, l)
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("write faults table: %w", err)
	}
	if err := os.WriteFile(filepath.Join(out, "faults.md"), []byte(b.String()+"\n"), 0o644); err != nil {
		return fmt.Errorf("write faults table: %w", err)
	}
	fmt.Print(b.String())
	return nil
}
