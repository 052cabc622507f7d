package workers

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
)

// udevd's defaults for its number of workers (children_max): two per CPU
// plus sixteen, one per 128 MiB of memory but at least ten, and never more
// than 2048.
const (
	limitPerCPU   = 2
	limitBase     = 16
	limitMemUnit  = 128 << 20
	limitMemFloor = 10
	limitMax      = 2048
)

// DefaultLimit is the number of concurrent jobs udevd would allow on this
// machine: min(2*CPUs+16, max(RAM/128MiB, 10), 2048). CPUs are those in the
// affinity mask (runtime.NumCPU) and RAM is MemTotal from /proc/meminfo; if
// that cannot be read, memory does not limit.
func DefaultLimit() int {
	return defaultLimit(runtime.NumCPU(), func() ([]byte, error) { return os.ReadFile("/proc/meminfo") })
}

// defaultLimit computes DefaultLimit from a CPU count and a source of
// /proc/meminfo's contents.
func defaultLimit(cpus int, meminfo func() ([]byte, error)) int {
	limit := min(cpus*limitPerCPU+limitBase, limitMax)
	b, err := meminfo()
	if err != nil {
		return limit
	}
	total, err := parseMemTotal(b)
	if err != nil {
		return limit
	}
	return min(limit, int(max(total/limitMemUnit, limitMemFloor)))
}

var errNoMemTotal = errors.New("no MemTotal line")

// parseMemTotal returns MemTotal from /proc/meminfo, in bytes. The kernel
// prints it as "MemTotal:" padded with spaces, a decimal count and "kB",
// which means KiB.
func parseMemTotal(b []byte) (uint64, error) {
	s := bufio.NewScanner(bytes.NewReader(b))
	for s.Scan() {
		rest, ok := bytes.CutPrefix(s.Bytes(), []byte("MemTotal:"))
		if !ok {
			continue
		}
		fields := bytes.Fields(rest)
		if len(fields) != 2 || string(fields[1]) != "kB" {
			return 0, fmt.Errorf("parse MemTotal %q: want \"<n> kB\"", rest)
		}
		kib, err := strconv.ParseUint(string(fields[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse MemTotal: %w", err)
		}
		if kib > (1<<64-1)>>10 {
			return 0, fmt.Errorf("parse MemTotal %d kB: overflows bytes", kib)
		}
		return kib << 10, nil
	}
	if err := s.Err(); err != nil {
		return 0, fmt.Errorf("parse meminfo: %w", err)
	}
	return 0, fmt.Errorf("parse meminfo: %w", errNoMemTotal)
}
