package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/gudevd/gudevd/test/qemu"
)

// cmdUdevScale is `qemu-harness udev-scale [-kernel 6.12|6.1] [-cpus 4]
// [-scenarios blk=1000,net=1000,scsi=200,reps=2] -out DIR`: the full-boot
// image booted under systemd-udevd and under gudevd as
// systemd-udevd.service, reps times each, interleaved, each boot making
// blk null_blk disks, net dummy interfaces and scsi scsi_debug disks after
// its coldplug and timing the daemon on them and on replays of the
// coldplug. Each boot's files go to DIR/KERNEL-NNN-CONFIG-REP/ (kept runs
// are reused unless -resume=false), the tables to DIR/udev-scale.md;
// -report-only boots nothing and rewrites the tables from DIR.
func cmdUdevScale(ctx context.Context, h *qemu.Harness, kernel string, cpus int, spec, out string, resume, reportOnly bool) error {
	if out == "" {
		return errors.New("udev-scale: -out DIR is required")
	}
	md := filepath.Join(out, "udev-scale.md")
	if reportOnly {
		runs, err := qemu.UdevScaleReport(out)
		if err != nil {
			return err
		}
		fmt.Printf("%d runs; wrote %s\n", len(runs), md)
		return nil
	}
	k, err := qemu.KernelByName(kernel)
	if err != nil {
		return err
	}
	o, err := qemu.ParseScaleSpec(spec, qemu.DefaultScaleOptions)
	if err != nil {
		return err
	}
	o.CPUs = cpus
	runs, err := h.UdevScale(ctx, k, o, out, resume)
	fmt.Printf("%d runs; wrote %s\n", len(runs), md)
	return err
}
