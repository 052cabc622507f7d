package daemon

// The coldplug storm, by simulation: a fake kernel emits the uevents of a
// machine with N CPUs (one per CPU, all with the same x86 CPU MODALIAS, plus
// the devices of a real QEMU guest), resolved against Debian 6.1's real
// module index. The events go the daemon's whole way: the event source,
// the queue, the dispatcher and the pipeline, to modules and the pool of
// real worker processes (this test binary re-executed), each running the
// real modload.Loader over modloadtest's model of the kernel, whose init
// takes simLatency and which records every load syscall in a file shared by
// the workers. The memory reported is the daemon's and its workers'.
//
//	go test -run '^$' -bench ColdplugStorm -benchtime 1x ./cmd/gudevd/internal/daemon
//	go test -run ColdplugStorm ./cmd/gudevd/internal/daemon     # the check, at 64 CPUs

import (
	"bufio"
	"compress/gzip"
	"context"
	"fmt"
	"io"
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

	"github.com/gudevd/gudevd/cmd/gudevd/internal/control"
	"github.com/gudevd/gudevd/cmd/gudevd/internal/modules"
	"github.com/gudevd/gudevd/modalias"
	"github.com/gudevd/gudevd/modload"
	"github.com/gudevd/gudevd/modload/modloadtest"
	"github.com/gudevd/gudevd/workers"
)

const (
	simWorkerEnv  = "GUDEVD_SIM_WORKER"  // the module tree: this process is a load worker over it
	simLogEnv     = "GUDEVD_SIM_LOG"     // file the fake kernel appends one line per load syscall to
	simNestedEnv  = "GUDEVD_SIM_NESTED"  // OUTER=INNER: OUTER's init requests INNER, as request_module() does
	simControlEnv = "GUDEVD_SIM_CONTROL" // the daemon's control socket, which a nested request asks
	simLatency    = 2 * time.Millisecond
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(simWorkerEnv); dir != "" {
		os.Exit(simWorker(dir))
	}
	os.Exit(m.Run())
}

// simWorker is a worker process as `gudevd worker` runs it, with the real
// Loader, but loading into modloadtest's kernel: its inits take simLatency,
// and every load syscall is appended to the file named by simLogEnv.
func simWorker(dir string) int {
	k := modloadtest.NewKernel()
	k.SetLatency(simLatency)
	k.RecordTo(os.Getenv(simLogEnv))
	conn, err := workers.WorkerConn()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer conn.Close()
	var kernel modload.Kernel = k
	if outer, inner, ok := strings.Cut(os.Getenv(simNestedEnv), "="); ok {
		kernel = nestingKernel{Kernel: k, outer: outer, inner: inner, control: os.Getenv(simControlEnv)}
	}
	l := modload.NewLoader(dir, "", nil, modload.WithKernel(kernel))
	if err := workers.Serve(context.Background(), conn, conn, modules.Handler(nil, l, "")); err != nil {
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

// nestingKernel is a kernel in which the init of module outer calls
// request_module(inner): the kernel runs the modprobe helper, which asks the
// daemon on control for inner, and the outer load waits for it while its
// worker holds its load slot.
type nestingKernel struct {
	*modloadtest.Kernel
	outer, inner, control string
}

func (k nestingKernel) FinitModule(fd int, params string, flags int) error {
	if name, err := imageName(fd); err == nil && name == k.outer {
		// The init runs a while before it asks, so that a test can
		// queue another load behind this one's slot first.
		time.Sleep(300 * time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := control.Call(ctx, k.control, control.Request{Op: control.OpModprobe, Modules: []string{k.inner}}); err != nil {
			return fmt.Errorf("request_module(%s) from %s's init: %w", k.inner, k.outer, err)
		}
	}
	return k.Kernel.FinitModule(fd, params, flags)
}

// imageName reads the module name from the file behind fd.
func imageName(fd int) (string, error) {
	b := make([]byte, 4096)
	n, err := syscall.Pread(fd, b, 0)
	if err != nil {
		return "", err
	}
	return modloadtest.NameOf(b[:n]), nil
}

// simCommand starts simWorker over dir, recording to log.
func simCommand(exe, dir, log string) func(ctx context.Context) *exec.Cmd {
	return func(ctx context.Context) *exec.Cmd {
		cmd := exec.CommandContext(ctx, exe)
		cmd.Env = append(os.Environ(), simWorkerEnv+"="+dir, simLogEnv+"="+log)
		cmd.Stderr = os.Stderr
		return cmd
	}
}

// syscallsPerModule counts the load syscalls recorded in path by module.
func syscallsPerModule(tb testing.TB, path string) map[string]int {
	tb.Helper()
	calls, err := modloadtest.ReadCalls(path)
	if err != nil {
		tb.Fatal(err)
	}
	n := map[string]int{}
	for _, c := range calls {
		n[c.Module]++
	}
	return n
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

// storm is one simulated coldplug and what it cost.
type storm struct {
	events, modules, syscalls int
	cpu                       time.Duration // the daemon's user+system time
	wall                      time.Duration
	daemonPeak, workerPeak    int // VmHWM in KiB
	workersTotal              int // sum of the workers' VmHWM in KiB
	workers                   uint64
}

// simulate runs the coldplug of a machine with cpus CPUs through a daemon
// and fails tb unless every module got exactly one load syscall.
func simulate(tb testing.TB, tree modules.Tree, cpu string, devices []string, cpus int) storm {
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	logPath := filepath.Join(tb.TempDir(), "syscalls")
	aliases := make([]string, 0, cpus+len(devices))
	for range cpus {
		aliases = append(aliases, cpu)
	}
	aliases = append(aliases, devices...)
	sysfs := writeTree(tb, fstest.MapFS{"kernel/uevent_seqnum": {Data: []byte(strconv.Itoa(len(aliases)) + "\n")}})
	src := &fakeSource{ch: make(chan sourceItem, len(aliases))}
	d, err := New(Config{
		Tree: tree,
		// udevd's children_max on a machine with plenty of memory: the
		// events the daemon handles at once.
		Children:      min(2*cpus+16, 2048),
		LoadWorkers:   runtime.NumCPU() + 2,
		Source:        src,
		SysfsFS:       os.DirFS(sysfs),
		WorkerCommand: simCommand(exe, tree.Dir, logPath),
	})
	if err != nil {
		tb.Fatal(err)
	}
	close(d.coldplugged)
	d.src = src
	unique := map[string]bool{}
	for _, a := range aliases {
		for _, s := range d.mods.Plan(a).Steps {
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
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	d.startEvents(ctx, &wg)
	for i, a := range aliases {
		src.ch <- sourceItem{ev: kernelEvent(tb, uint64(i+1), "add", fmt.Sprintf("/devices/sim/dev%d", i), "sim", "MODALIAS="+a)}
	}
	sctx, scancel := context.WithTimeout(ctx, 5*time.Minute)
	err = d.settle(sctx)
	scancel()
	elapsed := time.Since(start)
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cancel()
	wg.Wait()
	if err != nil {
		tb.Fatalf("settle: %v", err)
	}
	if err := d.stopWorkers(); err != nil {
		tb.Fatal(err)
	}
	st := storm{events: len(aliases), modules: len(unique), wall: elapsed, daemonPeak: peakRSS(), workers: d.pool.Stats().Spawned}
	for _, l := range strings.Fields(readFile(tb, logPath+".hwm")) {
		n, _ := strconv.Atoi(l)
		st.workerPeak = max(st.workerPeak, n)
		st.workersTotal += n
	}
	for m, c := range syscallsPerModule(tb, logPath) {
		st.syscalls += c
		if c != 1 {
			tb.Errorf("module %s: %d load syscalls, want 1", m, c)
		}
	}
	if st.syscalls != len(unique) {
		tb.Errorf("%d load syscalls for %d unique modules", st.syscalls, len(unique))
	}
	st.cpu = time.Duration(after.Utime.Nano()+after.Stime.Nano()-before.Utime.Nano()-before.Stime.Nano()) * time.Nanosecond
	return st
}

// TestColdplugStorm is the simulation's promise at a size plain go test
// affords: 64 CPUs' identical events and the guest's devices, through the
// queue, make one load syscall per module.
func TestColdplugStorm(t *testing.T) {
	tree := realTree(t)
	cpu, devices := guestModaliases(t)
	st := simulate(t, tree, cpu, devices, 64)
	if st.modules < 20 {
		t.Errorf("%d unique modules: the guest's modaliases should need dozens", st.modules)
	}
}

func BenchmarkColdplugStorm(b *testing.B) {
	tree := realTree(b)
	cpu, devices := guestModaliases(b)
	for _, n := range []int{64, 256, 1024, 4096} {
		b.Run(fmt.Sprintf("cpus=%d", n), func(b *testing.B) {
			for b.Loop() {
				st := simulate(b, tree, cpu, devices, n)
				b.ReportMetric(float64(st.events), "events")
				b.ReportMetric(float64(st.syscalls), "syscalls")
				b.ReportMetric(float64(st.modules), "modules")
				b.ReportMetric(float64(st.cpu.Microseconds())/float64(st.events), "cpu-µs/event")
				b.ReportMetric(float64(st.daemonPeak)/1024, "daemon-peak-MiB")
				b.ReportMetric(float64(st.workerPeak)/1024, "worker-peak-MiB")
				b.ReportMetric(float64(st.daemonPeak+st.workersTotal)/1024, "total-peak-MiB")
				b.ReportMetric(float64(st.workers), "workers")
				b.ReportMetric(st.wall.Seconds()*1000, "wall-ms")
			}
		})
	}
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
	writeModuleFiles(tb, dir)
	return modules.Tree{Root: dir, Dir: dir}
}

// writeModuleFiles gives every module of modules.dep in dir a file the
// Loader loads into modloadtest's kernel.
func writeModuleFiles(tb testing.TB, dir string) {
	tb.Helper()
	f, err := os.Open(filepath.Join(dir, "modules.dep"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		path, _, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		name := modalias.ModuleName(filepath.Base(path))
		p := filepath.Join(dir, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, modloadtest.MakeKo(name), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
}
