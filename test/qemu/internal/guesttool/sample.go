package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gudevd/gudevd/test/qemu/internal/report"
	"golang.org/x/sys/unix"
)

// cmdSample samples memory until it is signalled, then writes the series
// (report.MemorySeries) as JSON: the kernel's vmalloc use (/proc/meminfo
// VmallocUsed, the pages vmalloc allocated, and optionally the sum of
// /proc/vmallocinfo's areas) and the device manager's process family, the
// processes whose comm is in -comm, as sums of Rss (/proc/PID/status) and,
// every -pss-every samples, of Pss and Rss (/proc/PID/smaps_rollup).
//
// The defaults are what the sampler can afford: under TCG one sample with
// smaps_rollup of gudevd's seven processes took 36 ms of guest CPU, so at
// 20 ms a sampler would take more than a vCPU from the run it measures.
//
// The family by comm: udevd's forked workers rename themselves
// "(udev-worker)" (systemd 252), gudevd's workers are re-executed
// /usr/sbin/gudevd and so are "gudevd". Processes whose argv[1] is in
// -skip-arg are left out: `gudevd settle` and `gudevd stats` are clients
// waiting on the daemon, as udevadm is, not part of it.
func cmdSample(ctx context.Context, args []string, stdout io.Writer) error {
	fl := flag.NewFlagSet("sample", flag.ContinueOnError)
	interval := fl.Duration("interval", 50*time.Millisecond, "time between samples")
	pssEvery := fl.Int("pss-every", 10, "read Pss (smaps_rollup) every Nth sample, Rss (status) in the others")
	comms := fl.String("comm", "systemd-udevd,(udev-worker),gudevd", "comma-separated comms of the process family")
	skip := fl.String("skip-arg", "settle,stats", "comma-separated argv[1] values of family comms to leave out")
	vmap := fl.Bool("vmallocinfo", false, "also sum /proc/vmallocinfo (costly: it resolves every area's caller symbol)")
	out := fl.String("out", "", "file for the JSON series (default stdout)")
	ready := fl.String("ready", "", "file to create once the first sample is taken")
	if err := fl.Parse(args); err != nil {
		return err
	}
	s := &sampler{
		proc:    "/proc",
		comms:   splitSet(*comms),
		skip:    splitSet(*skip),
		vmap:    *vmap,
		seen:    map[int]string{},
		kthread: map[int]bool{},
	}
	// One thread: the sampler does one thing at a time, and idle Ps of a
	// larger GOMAXPROCS spin looking for work at every tick, CPU taken from
	// the run being measured.
	runtime.GOMAXPROCS(1)
	if *pssEvery < 1 {
		return fmt.Errorf("-pss-every %d: want at least 1", *pssEvery)
	}
	series := report.MemorySeries{IntervalMS: float64(*interval) / float64(time.Millisecond), PSSEvery: *pssEvery, Comms: strings.Split(*comms, ",")}
	series.Samples = append(series.Samples, s.sample(true))
	if *ready != "" {
		if err := os.WriteFile(*ready, nil, 0o644); err != nil {
			return fmt.Errorf("signal readiness: %w", err)
		}
	}
	t := time.NewTicker(*interval)
	defer t.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-t.C:
			series.Samples = append(series.Samples, s.sample(len(series.Samples)%*pssEvery == 0))
		}
	}
	series.CPU = selfCPU()
	series.Members = s.members
	return writeSeries(series, *out, stdout)
}

func splitSet(s string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Split(s, ",") {
		if w != "" {
			m[w] = true
		}
	}
	return m
}

// selfCPU is the sampler's own user and system time: its cost to the run
// it measures.
func selfCPU() float64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func writeSeries(series report.MemorySeries, out string, stdout io.Writer) error {
	if err := writeJSON(series, out, stdout); err != nil || out == "" {
		return err
	}
	fmt.Fprintf(stdout, "sample: %d samples, %.3f CPU seconds\n", len(series.Samples), series.CPU)
	return nil
}

// sampler reads one /proc. Its state is the family seen so far.
type sampler struct {
	proc    string
	comms   map[string]bool
	skip    map[string]bool
	vmap    bool
	seen    map[int]string // pid -> comm when it was first counted
	kthread map[int]bool   // pid -> whether it is a kernel thread, once looked at
	members []string
}

// sample takes one reading. A process that exits between the directory
// listing and the read of its files is not counted: it holds nothing.
func (s *sampler) sample(pss bool) report.MemorySample {
	x := report.MemorySample{Time: uptime()}
	if b, err := os.ReadFile(filepath.Join(s.proc, "meminfo")); err == nil {
		x.VmallocUsed = report.ParseKB(b)["VmallocUsed"]
	}
	if s.vmap {
		if b, err := os.ReadFile(filepath.Join(s.proc, "vmallocinfo")); err == nil {
			x.Vmap = report.VmapSize(b)
		}
	}
	for _, pid := range s.pids() {
		comm, arg1, ok := s.member(pid)
		if !ok {
			continue
		}
		rss, pssKB, ok := s.processMemory(pid, pss)
		if !ok {
			continue
		}
		x.RSS += rss
		x.PSS += pssKB
		x.Procs++
		if s.seen[pid] != comm {
			s.seen[pid] = comm
			s.members = append(s.members, fmt.Sprintf("%d %s %s", pid, comm, arg1))
		}
	}
	x.HasPSS = pss
	return x
}

// processMemory reads one process's Rss and, if asked, its Pss. Rss is a
// counter in /proc/PID/status; Pss needs smaps_rollup, which walks every
// resident page to divide it by its map count: under TCG about 4 ms for
// one of gudevd's processes, which is why it is read less often.
func (s *sampler) processMemory(pid int, pss bool) (rss, pssB int64, ok bool) {
	dir := filepath.Join(s.proc, strconv.Itoa(pid))
	if !pss {
		b, err := os.ReadFile(filepath.Join(dir, "status"))
		if err != nil {
			return 0, 0, false
		}
		rss, ok = report.ParseKB(b)["VmRSS"]
		return rss, 0, ok
	}
	b, err := os.ReadFile(filepath.Join(dir, "smaps_rollup"))
	if err != nil {
		return 0, 0, false
	}
	kb := report.ParseKB(b)
	return kb["Rss"], kb["Pss"], true
}

// pids lists the processes that may be of the family: every pid but the
// kernel threads. Each sample costs a file read per process, and under TCG
// a read is tens of microseconds, so the hundred-odd kernel threads of a
// guest (more with every vCPU) are looked at once: kthreadd is pid 2 and
// every kernel thread is its child, and a kernel thread never execs. (The
// kernel's usermode helpers are children of kthreadd too, CLONE_PARENT
// from a kworker, and are left out with them: they run modprobe, no
// device manager.) An empty cmdline is no test: a process in the middle
// of execve has one until the new image's arguments are set up.
func (s *sampler) pids() []int {
	d, err := os.Open(s.proc)
	if err != nil {
		return nil
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	var out []int
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		kthread, ok := s.kthread[pid]
		if !ok {
			b, err := os.ReadFile(filepath.Join(s.proc, n, "status"))
			if err != nil {
				continue // gone; a new process with this pid is looked at afresh
			}
			ppid, _ := statusField(b, "PPid")
			kthread = pid == 2 || ppid == "2"
			s.kthread[pid] = kthread
		}
		if !kthread {
			out = append(out, pid)
		}
	}
	slices.Sort(out) // /proc lists in pid order; other directories need not
	return out
}

// statusField returns the value of a "Key:\tvalue" line of
// /proc/PID/status, trimmed.
func statusField(b []byte, key string) (string, bool) {
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if ok && k == key {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// member reads a process's comm and argv[1] and says whether it is of the
// family. The comm is read every time: a pid that is a shell now may exec
// gudevd next.
func (s *sampler) member(pid int) (comm, arg1 string, ok bool) {
	dir := filepath.Join(s.proc, strconv.Itoa(pid))
	b, err := os.ReadFile(filepath.Join(dir, "comm"))
	comm = strings.TrimSuffix(string(b), "\n")
	if err != nil || !s.comms[comm] {
		return "", "", false
	}
	// cmdline is argv NUL-separated; a kernel thread's is empty.
	cmd, _ := os.ReadFile(filepath.Join(dir, "cmdline"))
	if argv := bytes.Split(cmd, []byte{0}); len(argv) > 1 {
		arg1 = string(argv[1])
	}
	return comm, arg1, !s.skip[arg1]
}
