package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gudevd/gudevd/test/qemu"
)

// cmdUdevDiff is `qemu-harness udev-diff [-kernel 6.1|6.12] [-config A,B]
// -out DIR`: the full-boot image booted under configuration A and under
// B (udevd,gudevd unless -config says otherwise; udevd,udevd shows which
// facts change between two boots of the same daemon), each boot's files in
// DIR/LABEL/, the differences in DIR/diff.txt and their counts by kind in
// DIR/summary.txt, which it also prints; -report-only boots nothing and
// diffs the boots DIR already holds. It fails when a check fails on
// either boot or a difference is not in the allow-list.
func cmdUdevDiff(ctx context.Context, h *qemu.Harness, kernel, configs, out string, reportOnly bool) error {
	k, err := qemu.KernelByName(kernel)
	if err != nil {
		return err
	}
	if out == "" {
		return errors.New("udev-diff: -out DIR is required")
	}
	cs := split(configs)
	if len(cs) != 2 {
		return fmt.Errorf("udev-diff: -config %q: want two configurations, such as udevd,gudevd", configs)
	}
	diff := h.UdevDiff
	if reportOnly {
		diff = func(_ context.Context, k qemu.Kernel, a, b qemu.DiffConfig, out string) (*qemu.UdevDiffResult, error) {
			return qemu.UdevDiffReport(k, a, b, out)
		}
	}
	res, err := diff(ctx, k, qemu.DiffConfig(cs[0]), qemu.DiffConfig(cs[1]), out)
	if err != nil {
		return err
	}
	if err := qemu.WriteUdevDiffSummary(os.Stdout, res); err != nil {
		return err
	}
	fmt.Printf("wrote %s and %s\n", filepath.Join(out, "diff.txt"), filepath.Join(out, "summary.txt"))
	if n := len(res.Unexplained()); n > 0 || len(res.Problems) > 0 {
		return fmt.Errorf("udev-diff: %d unexplained differences, %d problems (see %s)", n, len(res.Problems), filepath.Join(out, "diff.txt"))
	}
	return nil
}
