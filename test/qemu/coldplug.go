package qemu

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// coldplugSetFile is testdata/coldplug-<kernel>.txt: the modules a coldplug
// of the harness guest asks the kernel for, every module named by a load
// syscall of gudevd's coldplug (systemd-udevd asks for the same ones). It
// is narrower than modules-<kernel>.txt, the closure of every modalias in
// sysfs: on 6.12 the CPU's modalias file matches aesni_intel (and its
// dependencies), but no CPU uevent carries that MODALIAS, so no manager
// loads it; and amd64_edac is never asked for because the module it needs
// (edac_mce_amd) fails with ENODEV. It is what the oracle loads and what
// the fault scenarios expect.
func coldplugSetFile(k Kernel) string {
	return filepath.Join(sourceDir(), "testdata", "coldplug-"+k.Name+".txt")
}

// coldplugModules reads testdata/coldplug-<kernel>.txt; before the first
// capture there is none, and an oracle run loads nothing.
func coldplugModules(k Kernel) []string {
	b, err := os.ReadFile(coldplugSetFile(k))
	if err != nil {
		return nil
	}
	return strings.Fields(string(b))
}

// CaptureColdplugSet runs gudevd's coldplug on k at 4 vCPUs and writes the
// modules its load syscalls named to testdata/coldplug-<kernel>.txt.
func (h *Harness) CaptureColdplugSet(ctx context.Context, k Kernel) error {
	res, err := h.Run(ctx, k, "gudevd", 4)
	if err != nil {
		return err
	}
	names := coldplugNames(res)
	if len(names) == 0 {
		return fmt.Errorf("capture coldplug set of %s: %w: no load syscall named a module", k.Name, ErrGuestFailed)
	}
	return os.WriteFile(coldplugSetFile(k), []byte(strings.Join(names, "\n")+"\n"), 0o644)
}

// coldplugNames are the distinct modules a run's load syscalls named.
func coldplugNames(res *Result) []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range res.Report.Calls {
		if c.Module != "" && !seen[c.Module] {
			seen[c.Module] = true
			out = append(out, c.Module)
		}
	}
	sort.Strings(out)
	return out
}
