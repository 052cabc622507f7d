package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"

	"github.com/gudevd/gudevd/test/qemu/internal/report"
	"golang.org/x/sys/unix"
)

// cmdReport turns the trace and /proc/modules into the JSON report the host
// reads between the GUDEVD-REPORT markers.
func cmdReport(ctx context.Context, args []string, stdout io.Writer) error {
	fl := flag.NewFlagSet("report", flag.ContinueOnError)
	trace := fl.String("trace", "/sys/kernel/tracing/trace", "tracefs trace file")
	start := fl.String("start", "0", "uptime when coldplug began")
	settled := fl.String("settled", "0", "uptime when settled")
	scenario := fl.String("scenario", "", "scenario name")
	settleExit := fl.Int("settle-exit", 0, "exit status of the settle command")
	if err := fl.Parse(args); err != nil {
		return err
	}
	f, err := os.Open(*trace)
	if err != nil {
		return fmt.Errorf("open trace: %w", err)
	}
	defer f.Close()
	calls, loaded, lost, err := report.ParseTrace(f)
	if err != nil {
		return err
	}
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return fmt.Errorf("uname: %w", err)
	}
	r := report.Report{
		Scenario: *scenario,
		Kernel:   unix.ByteSliceToString(uts.Release[:]),
		CPUs:     runtime.NumCPU(),
		Calls:    calls,
		Loaded:   loaded,
		Lost:     lost,

		SettleExit: *settleExit,
	}
	r.Start, _ = strconv.ParseFloat(*start, 64)
	r.Settled, _ = strconv.ParseFloat(*settled, 64)
	if b, err := os.ReadFile("/out/modules-start.txt"); err == nil {
		r.ModulesStart = report.ParseModules(b)
	}
	if b, err := os.ReadFile("/proc/modules"); err == nil {
		r.ModulesEnd = report.ParseModules(b)
	}
	enc := json.NewEncoder(stdout)
	return enc.Encode(r)
}
