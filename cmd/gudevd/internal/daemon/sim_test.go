package daemon

// The coldplug storm, by simulation: a fake kernel emits the uevents of a
// machine with N CPUs (one per CPU, all with the same x86 CPU MODALIAS, plus
// the devices of a real QEMU guest), resolved against Debian 6.1's real
// module index, and a model of finit_module that takes simLatency per load.
// Loads run in real worker processes (this test binary re-executed), so the
// memory reported is the daemon's and its workers'.
//
//	go test -run '^$' -bench ColdplugStorm -benchtime 1x ./cmd/gudevd/internal/daemon

import (
	"bufio"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/gudevd/gudevd/cmd/gudevd/internal/modules"
	"github.com/gudevd/gudevd/modload"
	"github.com/gudevd/gudevd/workers"
)

const (
	simWorkerEnv = "GUDEVD_SIM_WORKER" // set: this process is a simulated load worker
	simLogEnv    = "GUDEVD_SIM_LOG"    // file the fake kernel appends one line per load syscall to
	simLatency   = 2 * time.Millisecond
)

func TestMain(m *testing.M) {
	if os.Getenv(simWorkerEnv) != "" {
		os.Exit(simWorker())
	}
	os.Exit(m.Run())
}

// simKernel models the kernel side of one load: it takes simLatency, as a
// small module's finit_module does, and records the call.
type simKernel struct{ log *os.File }

func (k simKernel) Load(ctx context.Context, s modload.Step) (modload.Result, error) {
	time.Sleep(simLatency)
	if _, err := fmt.Fprintln(k.log, s.Name); err != nil {
		return modload.Result{}, err
	}
	return modload.Result{Module: s.Name, Syscall: modload.SyscallFinit, Duration: simLatency}, nil
}

func simWorker() int {
	f, err := os.OpenFile(os.Getenv(simLogEnv), os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_CLOEXEC, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer f.Close()
	conn, err := workers.WorkerConn()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := workers.Serve(context.Background(), conn, conn, modules.Handler(simKernel{f})); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// The pool closed this worker's socket: report its peak memory.
	hwm, err := os.OpenFile(os.Getenv(simLogEnv)+".hwm", os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_CLOEXEC, 0o644)
	if err != nil {
		return 1
	}
	defer hwm.Close()
	fmt.Fprintln(hwm, peakRSS())
	return 0
}

// peakRSS returns this process's VmHWM in KiB. RUSAGE_CHILDREN cannot stand
// in for it: Go starts children with CLONE_VM, so a child's high-water mark
// starts at its parent's.
func peakRSS() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}

// resetPeakRSS starts this process's VmHWM over (Linux >= 4.0), so each
// simulation reports its own peak.
func resetPeakRSS() {
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// guestModaliases reads the modaliases captured in a QEMU guest.
func guestModaliases(tb testing.TB) (cpu string, devices []string) {
	tb.Helper()
	f, err := os.Open("../../../../modalias/testdata/guest/6.1.txt")
	if err != nil {
		tb.Skipf("no guest modaliases: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
		case strings.HasPrefix(line, "cpu:type:x86"):
			cpu = line
		default:
			devices = append(devices, line)
		}
	}
	if cpu == "" {
		tb.Fatal("guest modaliases have no x86 CPU")
	}
	return cpu, devices
}

func readFile(tb testing.TB, path string) string {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		tb.Fatal(err)
	}
	return string(b)
}

func countLines(tb testing.TB, path string) map[string]int {
	n := map[string]int{}
	for _, l := range strings.Fields(readFile(tb, path)) {
		n[l]++
	}
	return n
}

func BenchmarkColdplugStorm(b *testing.B) {
	tree := realTree(b)
	cat, err := modules.LoadCatalog(slog.New(slog.DiscardHandler), tree, "")
	if err != nil {
		b.Fatal(err)
	}
	cpu, devices := guestModaliases(b)
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{64, 256, 1024, 4096} {
		b.Run(fmt.Sprintf("cpus=%d", n), func(b *testing.B) {
			for b.Loop() {
				simulate(b, tree, cat, exe, cpu, devices, n)
			}
		})
	}
}

func simulate(b *testing.B, tree modules.Tree, cat *modules.Catalog, exe, cpu string, devices []string, cpus int) {
	logPath := filepath.Join(b.TempDir(), "syscalls")
	pool, err := workers.NewPool(workers.Config{
		Start: func(ctx context.Context) *exec.Cmd {
			cmd := exec.CommandContext(ctx, exe)
			cmd.Env = append(os.Environ(), simWorkerEnv+"=1", simLogEnv+"="+logPath)
			cmd.Stderr = os.Stderr
			return cmd
		},
		Max: runtime.NumCPU() + 2,
	})
	if err != nil {
		b.Fatal(err)
	}
	d, err := New(Config{Tree: tree, Runner: pool, LoadWorkers: runtime.NumCPU() + 2, Source: newFakeSource(), SysfsFS: testSysfs(0)})
	if err != nil {
		b.Fatal(err)
	}

	aliases := make([]string, 0, cpus+len(devices))
	for range cpus {
		aliases = append(aliases, cpu)
	}
	aliases = append(aliases, devices...)
	unique := map[string]bool{}
	for _, a := range aliases {
		for _, s := range cat.Plan(a).Steps {
			if !s.Builtin {
				unique[s.Name] = true
			}
		}
	}

	runtime.GC()
	resetPeakRSS()
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	start := time.Now()
	var wg sync.WaitGroup
	// udevd's children_max on a machine with plenty of memory: the events
	// the daemon handles at once.
	sem := make(chan struct{}, min(2*cpus+16, 2048))
	for i, a := range aliases {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ev := kernelEvent(b, uint64(i+1), "add", fmt.Sprintf("/devices/sim/dev%d", i), "sim", "MODALIAS="+a)
			d.handle(context.Background(), ev)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	if err := pool.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	daemonPeak := peakRSS()
	workerPeak, workersTotal := 0, 0
	for _, l := range strings.Fields(readFile(b, logPath+".hwm")) {
		n, _ := strconv.Atoi(l)
		workerPeak = max(workerPeak, n)
		workersTotal += n
	}

	calls := countLines(b, logPath)
	total := 0
	for m, c := range calls {
		total += c
		if c != 1 {
			b.Errorf("module %s: %d load syscalls, want 1", m, c)
		}
	}
	if total != len(unique) {
		b.Errorf("%d load syscalls for %d unique modules", total, len(unique))
	}
	cpuTime := time.Duration(after.Utime.Nano()+after.Stime.Nano()-before.Utime.Nano()-before.Stime.Nano()) * time.Nanosecond
	b.ReportMetric(float64(len(aliases)), "events")
	b.ReportMetric(float64(total), "syscalls")
	b.ReportMetric(float64(len(unique)), "modules")
	b.ReportMetric(float64(cpuTime.Microseconds())/float64(len(aliases)), "cpu-µs/event")
	b.ReportMetric(float64(daemonPeak)/1024, "daemon-peak-MiB")
	b.ReportMetric(float64(workerPeak)/1024, "worker-peak-MiB")
	b.ReportMetric(float64(daemonPeak+workersTotal)/1024, "total-peak-MiB")
	b.ReportMetric(float64(pool.Stats().Spawned), "workers")
	b.ReportMetric(elapsed.Seconds()*1000, "wall-ms")
}

// realTree writes the depmod output of Debian's 6.1.0-47-amd64 kernel, kept
// by the modalias conformance tests, to a module tree on disk.
func realTree(tb testing.TB) modules.Tree {
	tb.Helper()
	src := "../../../../modalias/testdata/6.1.0-47-amd64"
	tree := fstest.MapFS{}
	for _, name := range []string{"modules.alias", "modules.builtin", "modules.builtin.modinfo", "modules.dep", "modules.softdep"} {
		f, err := os.Open(filepath.Join(src, name+".gz"))
		if err != nil {
			tb.Fatal(err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			tb.Fatal(err)
		}
		b, err := io.ReadAll(zr)
		f.Close()
		if err != nil {
			tb.Fatalf("read %s: %v", name, err)
		}
		tree[name] = &fstest.MapFile{Data: b}
	}
	dir := writeTree(tb, tree)
	return modules.Tree{Root: dir, Dir: dir}
}
