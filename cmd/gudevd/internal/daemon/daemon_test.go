package daemon

import (
	"context"
	"fmt"
	iofs "io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gudevd/gudevd/cmd/gudevd/internal/modules"
	"github.com/gudevd/gudevd/modload"
	"github.com/gudevd/gudevd/uevent"
	"github.com/gudevd/gudevd/workers"
	"golang.org/x/sys/unix"
)

// cpuAlias is a CPU modalias as the kernel builds it: on x86 every CPU has
// the same one, so an N-CPU machine asks for the same modules N times.
const cpuAlias = "cpu:type:x86,ven0000fam0006mod0055:feature:,0000,0001,0080,0081,0089"

// testTree is a small module tree in depmod's formats.
var testTree = fstest.MapFS{
	"modules.alias": {Data: []byte(`# Aliases extracted from modules themselves.
alias cpu:type:x86,ven*fam*mod*:feature:*0081* aesni_intel
alias cpu:type:x86,ven*fam*mod*:feature:*0080* crc32c_intel
alias cpu:type:x86,ven*fam*mod*:feature:*0089* broken_mod
alias pci:v00008086d0000100Esv*sd*bc*sc*i* e1000
alias virtio:d00000004v* virtio_rng
`)},
	"modules.dep": {Data: []byte(`kernel/arch/x86/crypto/aesni-intel.ko: kernel/crypto/crypto_simd.ko kernel/crypto/cryptd.ko
kernel/crypto/crypto_simd.ko: kernel/crypto/cryptd.ko
kernel/crypto/cryptd.ko:
kernel/arch/x86/crypto/crc32c-intel.ko:
kernel/drivers/broken/broken_mod.ko:
kernel/drivers/net/ethernet/intel/e1000/e1000.ko:
kernel/drivers/char/hw_random/virtio-rng.ko:
`)},
	"modules.builtin": {Data: []byte("kernel/drivers/virtio/virtio.ko\n")},
}

// writeTree writes files under a new temporary directory and returns it.
func writeTree(t testing.TB, files fstest.MapFS) string {
	t.Helper()
	dir := t.TempDir()
	for name, f := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// testModules is testTree as a module tree on disk.
func testModules(t testing.TB) modules.Tree {
	dir := writeTree(t, testTree)
	return modules.Tree{Root: dir, Dir: dir}
}

// fakeKernel stands in for the worker pool: it "loads" a module by counting
// a finit_module call, and fails broken_mod with ENODEV as a driver whose
// hardware is absent does.
type fakeKernel struct {
	latency time.Duration

	mu       sync.Mutex     // guards the fields below
	started  int            // loads ever started
	inflight int            // loads running now
	most     int            // most loads seen running at once
	calls    map[string]int // load syscalls per module
	enomem   map[string]int // loads of a module that fail with ENOMEM before one succeeds
	hang     map[string]int // loads of a module whose worker times out before one succeeds
	// died are loads of a module whose worker dies mid-job with this exit
	// status, once each, before one succeeds.
	died map[string][]*os.ProcessState
}

func (k *fakeKernel) Run(ctx context.Context, job []byte) ([]byte, error) {
	s, err := modload.UnmarshalStep(job)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	k.started++
	k.inflight++
	k.most = max(k.most, k.inflight)
	k.mu.Unlock()
	time.Sleep(k.latency)
	k.mu.Lock()
	k.inflight--
	if k.calls == nil {
		k.calls = map[string]int{}
	}
	k.calls[s.Name]++
	r := modload.Result{Module: s.Name, Syscall: modload.SyscallFinit, Duration: k.latency}
	if k.hang[s.Name] > 0 {
		// The pool killed the worker at the timeout; no result came back.
		k.hang[s.Name]--
		k.mu.Unlock()
		reaped := make(chan struct{})
		close(reaped)
		return nil, &workers.TimeoutError{Pid: 1, Timeout: time.Second, Reaped: reaped}
	}
	if st := k.died[s.Name]; len(st) > 0 {
		k.died[s.Name] = st[1:]
		k.mu.Unlock()
		reaped := make(chan struct{})
		close(reaped)
		return nil, &workers.WorkerDiedError{Pid: 1, Reason: "read reply: EOF", State: st[0], Reaped: reaped}
	}
	if k.enomem[s.Name] > 0 {
		k.enomem[s.Name]--
		k.mu.Unlock()
		return modload.MarshalResult(r, &modload.ModuleError{Module: s.Name, Path: s.Path, Op: modload.SyscallFinit, Err: unix.ENOMEM})
	}
	k.mu.Unlock()
	if s.Name == "broken_mod" {
		return modload.MarshalResult(r, &modload.ModuleError{Module: s.Name, Path: s.Path, Op: modload.SyscallFinit, Err: unix.ENODEV})
	}
	return modload.MarshalResult(r, nil)
}

func (k *fakeKernel) Stats() workers.PoolStats { return workers.PoolStats{} }

func (k *fakeKernel) snapshot() map[string]int {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make(map[string]int, len(k.calls))
	for m, n := range k.calls {
		out[m] = n
	}
	return out
}

// fakeSource is a uevent socket fed by the test.
type fakeSource struct {
	ch chan sourceItem

	mu    sync.Mutex // guards stats
	stats uevent.Stats
}

type sourceItem struct {
	ev  *uevent.Event
	err error
}

func newFakeSource() *fakeSource { return &fakeSource{ch: make(chan sourceItem, 16)} }

func (s *fakeSource) Receive(ctx context.Context) (*uevent.Event, error) {
	select {
	case it := <-s.ch:
		s.mu.Lock()
		s.stats.Received++
		if it.err != nil {
			s.stats.Overflows++
		}
		s.mu.Unlock()
		return it.ev, it.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *fakeSource) Close() error { return nil }

func (s *fakeSource) Stats() uevent.Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

func kernelEvent(t testing.TB, seq uint64, action, devpath, subsystem string, props ...string) *uevent.Event {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%s@%s\x00ACTION=%s\x00DEVPATH=%s\x00SUBSYSTEM=%s\x00SEQNUM=%d\x00", action, devpath, action, devpath, subsystem, seq)
	for _, p := range props {
		b.WriteString(p + "\x00")
	}
	ev, err := uevent.ParseKernel([]byte(b.String()))
	if err != nil {
		t.Fatalf("build event: %v", err)
	}
	return ev
}

// testSysfs is a machine with two CPUs, an e1000 and a virtio-rng.
const symlink = iofs.ModeSymlink | 0o777

func testSysfs(seqnum uint64) fstest.MapFS {
	fs := fstest.MapFS{
		"kernel/uevent_seqnum": {Data: []byte(fmt.Sprintf("%d\n", seqnum))},
		"bus/cpu":              {Mode: iofs.ModeDir | 0o755},
		"bus/pci":              {Mode: iofs.ModeDir | 0o755},
		"bus/virtio":           {Mode: iofs.ModeDir | 0o755},
	}
	dev := func(dir, subsystem, alias string) {
		fs[dir+"/uevent"] = &fstest.MapFile{Data: []byte("MODALIAS=" + alias + "\n")}
		fs[dir+"/modalias"] = &fstest.MapFile{Data: []byte(alias + "\n")}
		up := strings.Repeat("../", strings.Count(dir, "/"))
		fs[dir+"/subsystem"] = &fstest.MapFile{Mode: symlink, Data: []byte(up + "bus/" + subsystem)}
	}
	dev("devices/system/cpu/cpu0", "cpu", cpuAlias)
	dev("devices/system/cpu/cpu1", "cpu", cpuAlias)
	dev("devices/pci0000:00/0000:00:03.0", "pci", "pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00")
	dev("devices/pci0000:00/0000:00:04.0/virtio0", "virtio", "virtio:d00000004v00001AF4")
	return fs
}

func newTestDaemon(t testing.TB, k *fakeKernel, src EventSource, sysfs fstest.MapFS) *Daemon {
	t.Helper()
	d, err := New(Config{
		Tree:     testModules(t),
		Children: 8, LoadWorkers: 4,
		Source:  src,
		Runner:  k,
		SysfsFS: sysfs,
		Backoff: []time.Duration{time.Millisecond, time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	d.src = src
	close(d.coldplugged)
	return d
}

// TestDaemonOneLoadPerModule is the daemon's promise: 4096 CPUs' uevents
// with the same MODALIAS, all at once, make one load per module.
func TestDaemonOneLoadPerModule(t *testing.T) {
	k := &fakeKernel{latency: time.Millisecond}
	d := newTestDaemon(t, k, newFakeSource(), testSysfs(0))
	const cpus = 4096
	var wg sync.WaitGroup
	for i := range cpus {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Two CPU models whose modules overlap: their plans run side
			// by side and share aesni_intel's chain through the group.
			alias := cpuAlias
			if i%2 == 1 {
				alias = "cpu:type:x86,ven0000fam0006mod0056:feature:,0081,0089"
			}
			d.handle(context.Background(), kernelEvent(t, uint64(i+1), "add", fmt.Sprintf("/devices/system/cpu/cpu%d", i), "cpu", "MODALIAS="+alias))
		}()
	}
	wg.Wait()
	d.walks.Wait()
	want := map[string]int{"aesni_intel": 1, "crypto_simd": 1, "cryptd": 1, "crc32c_intel": 1, "broken_mod": 1}
	if diff := cmp.Diff(want, k.snapshot()); diff != "" {
		t.Errorf("load syscalls per module (-want +got):\n%s", diff)
	}
	s := d.stats()
	// An event whose alias is being walked looks nothing up: it shares that
	// walk (requestModalias). Each of the two aliases is looked up at least
	// once, and no event more than once.
	if s.ModaliasLookups < 2 || s.ModaliasLookups > cpus {
		t.Errorf("modalias lookups = %d, want between 2 and %d", s.ModaliasLookups, cpus)
	}
	if got, want := s.LoadSyscalls, map[string]uint64{"ok": 4, "ENODEV": 1}; !cmp.Equal(got, want) {
		t.Errorf("load syscalls by result = %v, want %v", got, want)
	}
	if s.JoinedInFlight+s.ServedFromDone != s.ModuleRequests-5 {
		t.Errorf("requests %d = 5 started + %d joined + %d served: does not add up", s.ModuleRequests, s.JoinedInFlight, s.ServedFromDone)
	}
	if !strings.Contains(s.Failed["broken_mod"], "no such device") {
		t.Errorf("failed[broken_mod] = %q, want the ENODEV reason", s.Failed["broken_mod"])
	}
}

// TestDaemonRemovedModuleLoadsAgain: after the kernel reports a module's
// removal, the next request loads it again instead of sharing a stale result.
func TestDaemonRemovedModuleLoadsAgain(t *testing.T) {
	k := &fakeKernel{}
	d := newTestDaemon(t, k, newFakeSource(), testSysfs(0))
	ctx := context.Background()
	nic := kernelEvent(t, 1, "add", "/devices/pci0000:00/0000:00:03.0", "pci", "MODALIAS=pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00")
	handleWait(d, ctx, nic)
	handleWait(d, ctx, nic)
	handleWait(d, ctx, kernelEvent(t, 2, "remove", "/module/e1000", "module"))
	handleWait(d, ctx, nic)
	if got := k.snapshot()["e1000"]; got != 2 {
		t.Errorf("e1000 loads = %d, want 2 (once, then again after its removal)", got)
	}
}

// TestDaemonFailedModuleStaysFailed: the kernel sends remove for a module
// whose init failed; that must not make every later CPU retry it.
func TestDaemonFailedModuleStaysFailed(t *testing.T) {
	k := &fakeKernel{}
	d := newTestDaemon(t, k, newFakeSource(), testSysfs(0))
	ctx := context.Background()
	cpu := func(i int) *uevent.Event {
		return kernelEvent(t, uint64(2*i+1), "add", fmt.Sprintf("/devices/system/cpu/cpu%d", i), "cpu", "MODALIAS="+cpuAlias)
	}
	handleWait(d, ctx, cpu(0))
	handleWait(d, ctx, kernelEvent(t, 2, "remove", "/module/broken_mod", "module"))
	handleWait(d, ctx, cpu(1))
	if got := k.snapshot()["broken_mod"]; got != 1 {
		t.Errorf("broken_mod loads = %d, want 1: a failed module is not retried per CPU", got)
	}
}

// TestDaemonResyncAfterOverflow: when the receive buffer overflowed, the
// lost events' modules are found by scanning sysfs, and settle does not wait
// for events that will never arrive.
func TestDaemonResyncAfterOverflow(t *testing.T) {
	k := &fakeKernel{}
	src := newFakeSource()
	d := newTestDaemon(t, k, src, testSysfs(40))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	d.startEvents(ctx, &wg)
	defer func() { cancel(); wg.Wait() }()

	src.ch <- sourceItem{err: fmt.Errorf("receive uevent: %w", uevent.ErrOverflow)}
	sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
	defer scancel()
	if err := d.settle(sctx); err != nil {
		t.Fatalf("settle after overflow: %v", err)
	}
	got := k.snapshot()
	want := map[string]int{"aesni_intel": 1, "crypto_simd": 1, "cryptd": 1, "crc32c_intel": 1, "broken_mod": 1, "e1000": 1, "virtio_rng": 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("loads after resync (-want +got):\n%s", diff)
	}
	if s := d.stats(); s.Overflows != 1 || s.Resyncs != 1 {
		t.Errorf("overflows = %d, resyncs = %d, want 1 and 1", s.Overflows, s.Resyncs)
	}
}

// TestDaemonSettleWaitsForEvents: settle returns only once the event with the
// kernel's current SEQNUM has been received and handled.
func TestDaemonSettleWaitsForEvents(t *testing.T) {
	k := &fakeKernel{latency: 20 * time.Millisecond}
	src := newFakeSource()
	d := newTestDaemon(t, k, src, testSysfs(2))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	d.startEvents(ctx, &wg)
	defer func() { cancel(); wg.Wait() }()

	settled := make(chan error, 1)
	go func() { settled <- d.settle(ctx) }()
	select {
	case err := <-settled:
		t.Fatalf("settle returned %v before any event arrived", err)
	case <-time.After(50 * time.Millisecond):
	}
	src.ch <- sourceItem{ev: kernelEvent(t, 1, "add", "/devices/system/cpu/cpu0", "cpu", "MODALIAS="+cpuAlias)}
	src.ch <- sourceItem{ev: kernelEvent(t, 2, "add", "/devices/pci0000:00/0000:00:03.0", "pci", "MODALIAS=pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00")}
	select {
	case err := <-settled:
		if err != nil {
			t.Fatalf("settle: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("settle did not return after every event was handled")
	}
	got := make([]string, 0)
	for m := range k.snapshot() {
		got = append(got, m)
	}
	sort.Strings(got)
	want := []string{"aesni_intel", "broken_mod", "crc32c_intel", "cryptd", "crypto_simd", "e1000"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("modules loaded when settle returned (-want +got):\n%s", diff)
	}
}

// TestDaemonRetriesTransientFailure: a load that failed for lack of kernel
// memory loaded nothing; caching that failure would leave the module and its
// dependants out for good, so it is tried again, and only that.
func TestDaemonRetriesTransientFailure(t *testing.T) {
	k := &fakeKernel{enomem: map[string]int{"cryptd": 1, "e1000": 5}, hang: map[string]int{"crc32c_intel": 1}}
	d := newTestDaemon(t, k, newFakeSource(), testSysfs(0))
	ctx := context.Background()
	handleWait(d, ctx, kernelEvent(t, 1, "add", "/devices/system/cpu/cpu0", "cpu", "MODALIAS="+cpuAlias))
	handleWait(d, ctx, kernelEvent(t, 2, "add", "/devices/pci0000:00/0000:00:03.0", "pci", "MODALIAS=pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00"))
	want := map[string]int{"aesni_intel": 1, "crypto_simd": 1, "cryptd": 2, "crc32c_intel": 2, "broken_mod": 1, "e1000": 3}
	if diff := cmp.Diff(want, k.snapshot()); diff != "" {
		t.Errorf("load syscalls per module (-want +got):\n%s", diff)
	}
	s := d.stats()
	if s.LoadRetries != 4 {
		t.Errorf("load retries = %d, want 4 (cryptd and crc32c_intel once, e1000 twice)", s.LoadRetries)
	}
	if _, failed := s.Failed["cryptd"]; failed {
		t.Errorf("cryptd is listed as failed after its retry succeeded: %q", s.Failed["cryptd"])
	}
	if !strings.Contains(s.Failed["e1000"], "cannot allocate memory") {
		t.Errorf("failed[e1000] = %q, want ENOMEM after the retries ran out", s.Failed["e1000"])
	}
}

// TestDaemonRetriesKilledWorker: a worker SIGKILLed mid-load (the OOM
// killer, an administrator, the fault tests' chaos) said nothing about its
// module, which the kernel may even have loaded: the load is tried again,
// and the module's dependants load. A worker that died of its module (the
// kernel ends a task whose module init oopsed with SIGSEGV) is not retried.
func TestDaemonRetriesKilledWorker(t *testing.T) {
	killed, segv := exitState(t, "KILL"), exitState(t, "SEGV")
	k := &fakeKernel{died: map[string][]*os.ProcessState{
		"cryptd":       {killed},
		"crc32c_intel": {killed, killed},
		"e1000":        {segv},
	}}
	d := newTestDaemon(t, k, newFakeSource(), testSysfs(0))
	ctx := context.Background()
	handleWait(d, ctx, kernelEvent(t, 1, "add", "/devices/system/cpu/cpu0", "cpu", "MODALIAS="+cpuAlias))
	handleWait(d, ctx, kernelEvent(t, 2, "add", "/devices/pci0000:00/0000:00:03.0", "pci", "MODALIAS=pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00"))
	want := map[string]int{"aesni_intel": 1, "crypto_simd": 1, "cryptd": 2, "crc32c_intel": 3, "broken_mod": 1, "e1000": 1}
	if diff := cmp.Diff(want, k.snapshot()); diff != "" {
		t.Errorf("load jobs per module (-want +got):\n%s", diff)
	}
	s := d.stats()
	for _, m := range []string{"cryptd", "crypto_simd", "aesni_intel", "crc32c_intel"} {
		if reason, failed := s.Failed[m]; failed {
			t.Errorf("%s failed after its worker was killed: %q, want it retried and loaded", m, reason)
		}
	}
	if !strings.Contains(s.Failed["e1000"], "segmentation fault") {
		t.Errorf("failed[e1000] = %q, want the worker's SIGSEGV death, not retried", s.Failed["e1000"])
	}
	if s.LoadRetries != 3 {
		t.Errorf("load retries = %d, want 3 (cryptd once, crc32c_intel twice)", s.LoadRetries)
	}
}

// exitState returns the exit status of a process killed by SIGsig.
func exitState(t *testing.T, sig string) *os.ProcessState {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", "kill -"+sig+" $$")
	err := cmd.Run()
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if err == nil || !ok || !ws.Signaled() {
		t.Fatalf("sh killing itself with SIG%s: %v, status %v", sig, err, cmd.ProcessState)
	}
	return cmd.ProcessState
}

// TestDaemonScanOwnsItsLoads: a scan whose context ends stops starting new
// work, and the loads it started belong to the daemon's walks, which Run
// waits for before it closes the pool: none is left running then.
func TestDaemonScanOwnsItsLoads(t *testing.T) {
	k := &fakeKernel{latency: 50 * time.Millisecond}
	d := newTestDaemon(t, k, newFakeSource(), testSysfs(0))
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(10*time.Millisecond, cancel)
	d.scan(ctx)
	d.walks.Wait()
	k.mu.Lock()
	inflight, started := k.inflight, k.started
	k.mu.Unlock()
	if inflight != 0 {
		t.Errorf("%d loads still running after scan returned", inflight)
	}
	if started == 0 {
		t.Error("no load ran before the cancellation: the test proves nothing")
	}
}

// TestDaemonDamagedIndex: a damaged line of the module index is skipped and
// counted, and the rest of the tree still loads.
func TestDaemonDamagedIndex(t *testing.T) {
	tree := fstest.MapFS{}
	for name, f := range testTree {
		tree[name] = f
	}
	tree["modules.alias"] = &fstest.MapFile{Data: append([]byte("alias broken-line-without-module\n"), testTree["modules.alias"].Data...)}
	tree["modules.dep"] = &fstest.MapFile{Data: append([]byte("no colon here\n"), testTree["modules.dep"].Data...)}
	dir := writeTree(t, tree)
	k := &fakeKernel{}
	d, err := New(Config{Tree: modules.Tree{Root: dir, Dir: dir}, Runner: k, SysfsFS: testSysfs(0)})
	if err != nil {
		t.Fatalf("New over a damaged index: %v", err)
	}
	handleWait(d, context.Background(), kernelEvent(t, 1, "add", "/devices/pci0000:00/0000:00:03.0", "pci", "MODALIAS=pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00"))
	if got := k.snapshot(); got["e1000"] != 1 {
		t.Errorf("load syscalls = %v, want e1000 once", got)
	}
	if got := d.stats().IndexProblems; got != 2 {
		t.Errorf("index problems = %d, want 2 (one in modules.alias, one in modules.dep)", got)
	}
}

// TestDaemonEventDoesNotWaitForLoads: an event handler asks for its
// modules and returns, so a slow load chain holds none of the Children
// handler slots and the next event's loads start beside it. Through the
// dispatcher with one handler slot, the NIC's and the RNG's loads (one
// module each) must run at once.
func TestDaemonEventDoesNotWaitForLoads(t *testing.T) {
	k := &fakeKernel{latency: 200 * time.Millisecond}
	d := newTestDaemon(t, k, newFakeSource(), testSysfs(0))
	d.cfg.Children = 1
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); d.dispatch(ctx) }()
	for _, ev := range []*uevent.Event{
		kernelEvent(t, 1, "add", "/devices/pci0000:00/0000:00:03.0", "pci", "MODALIAS=pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00"),
		kernelEvent(t, 2, "add", "/devices/pci0000:00/0000:00:04.0/virtio1", "virtio", "MODALIAS=virtio:d00000004v00001AF4"),
	} {
		if err := d.queue.Push(ev); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for d.queue.Len() > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	d.walks.Wait()
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.most < 2 {
		t.Errorf("at most %d load ran at once: the second event waited for the first one's loads", k.most)
	}
}

// handleWait handles one event and waits for the module loads it started:
// the event itself does not (requestModalias).
func handleWait(d *Daemon, ctx context.Context, ev *uevent.Event) {
	d.handle(ctx, ev)
	d.walks.Wait()
}

// TestDaemonRestartKeepsRefusals: a module the kernel refused leaves
// nothing in /sys/module, so a restarted daemon would load it again (the
// fault-restart scenario's duplicates). The ledger in /run keeps the
// refusal for the next daemon of this boot; a reload or `gudevd load` of the
// module tries it again, and a damaged entry costs a retry, nothing more.
func TestDaemonRestartKeepsRefusals(t *testing.T) {
	ledger := t.TempDir()
	start := func(k *fakeKernel) *Daemon {
		t.Helper()
		// The fake kernel behind a worker's Handler, which writes the
		// ledger as a real worker does.
		runner := handlerRunner{modules.Handler(nil, kernelLoader{k}, ledger)}
		d, err := New(Config{
			Tree: testModules(t), Children: 8, LoadWorkers: 4,
			Source: newFakeSource(), Runner: runner, SysfsFS: testSysfs(0),
			Backoff: []time.Duration{time.Millisecond}, Ledger: ledger,
		})
		if err != nil {
			t.Fatal(err)
		}
		d.mods.Inherit() // as Run does once no previous daemon's worker is left
		close(d.coldplugged)
		return d
	}
	ctx := context.Background()
	cpu := kernelEvent(t, 1, "add", "/devices/system/cpu/cpu0", "cpu", "MODALIAS="+cpuAlias)

	first := &fakeKernel{}
	handleWait(start(first), ctx, cpu)
	if got := first.snapshot()["broken_mod"]; got != 1 {
		t.Fatalf("first daemon: broken_mod loads = %d, want 1", got)
	}

	second := &fakeKernel{}
	d := start(second)
	handleWait(d, ctx, cpu)
	if got := second.snapshot()["broken_mod"]; got != 0 {
		t.Errorf("restarted daemon: broken_mod loads = %d, want 0 (refused this boot)", got)
	}
	s := d.stats()
	if s.InheritedFailures != 1 || !strings.Contains(s.Failed["broken_mod"], "no such device") {
		t.Errorf("restarted daemon: inherited_failures %d, failed[broken_mod] %q; want 1 and ENODEV", s.InheritedFailures, s.Failed["broken_mod"])
	}
	if _, err := d.mods.LoadNamed(ctx, []string{"broken_mod"}, true); err == nil {
		t.Error("gudevd load of broken_mod succeeded; the fake kernel refuses it")
	}
	if got := second.snapshot()["broken_mod"]; got != 1 {
		t.Errorf("gudevd load after a restart: broken_mod loads = %d, want 1", got)
	}

	// A reload clears the ledger: the new index may have fixed it.
	if err := d.reload(); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(ledger); len(ents) != 0 {
		t.Errorf("ledger after reload holds %d entries, want none", len(ents))
	}

	// A damaged entry is dropped and the module loaded again.
	if err := os.WriteFile(filepath.Join(ledger, "broken_mod"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ledger, "cryptd"), []byte(`{"Result":{"Module":"cryptd"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	third := &fakeKernel{}
	handleWait(start(third), ctx, cpu)
	if got := third.snapshot(); got["broken_mod"] != 1 || got["cryptd"] != 1 {
		t.Errorf("with damaged entries: loads %v, want broken_mod and cryptd once each", got)
	}
}

// kernelLoader is a fakeKernel as a worker's loader: the job's result is
// the load's.
type kernelLoader struct{ k *fakeKernel }

func (l kernelLoader) Load(ctx context.Context, s modload.Step) (modload.Result, error) {
	job, err := modload.MarshalStep(s)
	if err != nil {
		return modload.Result{}, err
	}
	out, err := l.k.Run(ctx, job)
	if err != nil {
		return modload.Result{Module: s.Name}, err
	}
	r, loadErr, err := modload.UnmarshalResult(out)
	if err != nil {
		return modload.Result{Module: s.Name}, err
	}
	return r, loadErr
}

// handlerRunner runs jobs through a worker's Handler in this process.
type handlerRunner struct{ h workers.Handler }

func (r handlerRunner) Run(ctx context.Context, job []byte) ([]byte, error) { return r.h(ctx, job) }
func (handlerRunner) Stats() workers.PoolStats                              { return workers.PoolStats{} }
