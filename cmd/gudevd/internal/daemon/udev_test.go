package daemon

import (
	"context"
	"errors"
	"fmt"
	"github.com/gudevd/gudevd/cmd/gudevd/internal/privaterun"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gudevd/gudevd/cmd/gudevd/internal/node"
	"github.com/gudevd/gudevd/cmd/gudevd/internal/rulehost"
	"github.com/gudevd/gudevd/rules"
	"github.com/gudevd/gudevd/uevent"
	"github.com/gudevd/gudevd/uevent/devdb"
)

// testRules are what the udev stage tests run: a link, a tag, a property,
// permissions, a RUN program and 80-drivers.rules' kmod line.
const testRules = `
KERNEL=="loop0", SYMLINK+="disk/by-id/gudevd-test", TAG+="systemd", ENV{ID_TEST}="1", ENV{.TEMP}="x", GROUP="disk", MODE="0660"
KERNEL=="loop0", ACTION=="add", RUN+="/bin/echo added"
KERNEL=="loop1", IMPORT{file}="/etc"
ENV{MODALIAS}=="?*", RUN{builtin}+="kmod load"
`

// udevHarness is a daemon with the udev stage over temporary /sys, /dev
// and /run/udev, real nodes, database and rules, a fake kernel for the
// module loads and a recorder for the broadcasts and programs.
type udevHarness struct {
	d      *Daemon
	k      *fakeKernel
	dev    string // stands for /dev
	run    string // stands for /run/udev
	store  *devdb.Store
	sysfs  string // stands for /sys
	now    uint64
	mu     sync.Mutex
	sent   []*uevent.Event
	progs  [][]string
	failDB bool
	// failRun makes every RUN program fail, as one exiting 1 does.
	failRun bool
}

func newUdevHarness(t *testing.T, ruleText string) *udevHarness {
	t.Helper()
	h := &udevHarness{k: &fakeKernel{}, dev: filepath.Join(t.TempDir(), "dev"), run: filepath.Join(t.TempDir(), "udev"), now: 1000}
	root := fstest.MapFS{
		"etc/udev/rules.d/50-test.rules": {Data: []byte(ruleText)},
		"etc/group":                      {Data: []byte("root:x:0:\ndisk:x:6:\n")},
		"etc/passwd":                     {Data: []byte("root:x:0:0::/root:/bin/sh\n")},
		"etc/dir/x":                      {Data: []byte("y")},
	}
	h.sysfs = writeTree(t, fstest.MapFS{
		"kernel/uevent_seqnum":               {Data: []byte("0\n")},
		"devices/virtual/block/loop0/uevent": {Data: []byte("MAJOR=7\nMINOR=0\nDEVNAME=loop0\nDEVTYPE=disk\n")},
		"devices/virtual/block/loop1/uevent": {Data: []byte("MAJOR=7\nMINOR=1\nDEVNAME=loop1\nDEVTYPE=disk\n")},
	})
	sysfs := os.DirFS(h.sysfs)
	host := rulehost.New(rulehost.Config{Sysfs: sysfs, Root: root, Machine: "x86_64"})
	h.store = &devdb.Store{Dir: h.run}
	d, err := New(Config{
		Tree: testModules(t), Children: 8, LoadWorkers: 4, Runner: h.k, SysfsFS: sysfs,
		Backoff: []time.Duration{time.Millisecond},
		Udev: &Udev{
			Host: func() (rules.Host, func()) { return host, func() {} },
			Rules: func() (*rules.Rules, []rules.Diagnostic) {
				return rules.Load(root, &rules.Options{Users: rules.PasswdFiles{FS: root}})
			},
			DB:    failingDB{h},
			Nodes: node.New(node.Config{Dev: h.dev, Links: filepath.Join(h.run, "links")}),
			Broadcast: func(_ context.Context, ev *uevent.Event) error {
				h.mu.Lock()
				defer h.mu.Unlock()
				h.sent = append(h.sent, ev)
				return nil
			},
			Program: func(_ context.Context, argv, env []string) ([]byte, error) {
				h.mu.Lock()
				defer h.mu.Unlock()
				h.progs = append(h.progs, argv)
				if h.failRun {
					return nil, fmt.Errorf("%s: exit status 1: %w", argv[0], rules.ErrProgramFailed)
				}
				return nil, nil
			},
			QueueFile:  filepath.Join(h.run, "queue"),
			StaticTags: filepath.Join(h.run, "static_node-tags"),
			Now:        func() uint64 { return h.now },
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	close(d.coldplugged)
	h.d = d
	if err := os.MkdirAll(h.dev, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, n := range []string{"loop0", "loop1"} {
		if err := syscall.Mknod(filepath.Join(h.dev, n), syscall.S_IFBLK|0o600, int(7<<8|i)); err != nil {
			t.Skipf("mknod: %v (needs root)", err)
		}
	}
	return h
}

// failingDB is the store, failing every write while failDB is set, as a
// read-only /run/udev would.
type failingDB struct{ h *udevHarness }

func (f failingDB) Read(id string) (devdb.Entry, error) { return f.h.store.Read(id) }
func (f failingDB) Write(id string, e devdb.Entry, persist bool) error {
	if f.h.failDB {
		return &fs.PathError{Op: "open", Path: id, Err: syscall.EROFS}
	}
	return f.h.store.Write(id, e, persist)
}
func (f failingDB) Delete(id string) error { return f.h.store.Delete(id) }
func (f failingDB) UpdateTags(id string, old, new []string) error {
	if f.h.failDB {
		return &fs.PathError{Op: "open", Path: id, Err: syscall.EROFS}
	}
	return f.h.store.UpdateTags(id, old, new)
}

func loopEvent(t *testing.T, seq uint64, action, name string, props ...string) *uevent.Event {
	minor := strings.TrimPrefix(name, "loop")
	return kernelEvent(t, seq, action, "/devices/virtual/block/"+name, "block",
		append([]string{"MAJOR=7", "MINOR=" + minor, "DEVNAME=" + name, "DEVTYPE=disk"}, props...)...)
}

// setSeqnum sets kernel/uevent_seqnum, by a rename: the daemon reads it
// meanwhile and must never see it half written.
func (h *udevHarness) setSeqnum(t *testing.T, n uint64) {
	tmp := filepath.Join(h.sysfs, "kernel", ".uevent_seqnum")
	if err := os.WriteFile(tmp, []byte(fmt.Sprintf("%d\n", n)), 0o644); err != nil {
		t.Error(err)
		return
	}
	if err := os.Rename(tmp, filepath.Join(h.sysfs, "kernel", "uevent_seqnum")); err != nil {
		t.Error(err)
	}
}

// handle runs one event to its end, module walks included.
func (h *udevHarness) handle(ev *uevent.Event) {
	h.d.handle(context.Background(), ev)
	h.d.walks.Wait()
}

func (h *udevHarness) last(t *testing.T) *uevent.Event {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.sent) == 0 {
		t.Fatal("nothing broadcast")
	}
	return h.sent[len(h.sent)-1]
}

func props(ev *uevent.Event) []string {
	var out []string
	for _, p := range ev.Props {
		out = append(out, p.Key+"="+p.Value)
	}
	return out
}

// TestUdevAddChangeRemove follows one device through its events: what the
// database, the tags, /dev and the broadcast hold after each.
func TestUdevAddChangeRemove(t *testing.T) {
	h := newUdevHarness(t, testRules)
	h.handle(loopEvent(t, 1, "add", "loop0", "MODALIAS=pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00"))

	e, err := h.store.Read("b7:0")
	if err != nil {
		t.Fatal(err)
	}
	want := devdb.Entry{
		Devlinks: []string{"/dev/disk/by-id/gudevd-test"}, Usec: 1000,
		Props: []devdb.Property{{Key: "ID_TEST", Value: "1"}}, Tags: []string{"systemd"}, CurrentTags: []string{"systemd"}, Version: 1,
	}
	if diff := cmp.Diff(want, e); diff != "" {
		t.Errorf("database after add (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(h.run, "tags", "systemd", "b7:0")); err != nil {
		t.Errorf("tag file: %v", err)
	}
	if got, err := os.Readlink(filepath.Join(h.dev, "disk", "by-id", "gudevd-test")); err != nil || got != "../../loop0" {
		t.Errorf("link: %q, %v; want ../../loop0", got, err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(h.dev, "loop0"), &st); err != nil || st.Mode&0o7777 != 0o660 || st.Gid != 6 {
		t.Errorf("node: mode %o gid %d, %v; want 660 and gid 6", st.Mode&0o7777, st.Gid, err)
	}
	wantSent := []string{
		"UDEV_DATABASE_VERSION=1", "ACTION=add", "DEVPATH=/devices/virtual/block/loop0", "SUBSYSTEM=block", "SEQNUM=1",
		"MAJOR=7", "MINOR=0", "DEVNAME=/dev/loop0", "DEVTYPE=disk", "MODALIAS=pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00",
		"ID_TEST=1", ".TEMP=x", "USEC_INITIALIZED=1000",
		"DEVLINKS=/dev/disk/by-id/gudevd-test", "TAGS=:systemd:", "CURRENT_TAGS=:systemd:",
	}
	if diff := cmp.Diff(wantSent, props(h.last(t))); diff != "" {
		t.Errorf("broadcast after add (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([][]string{{"/bin/echo", "added"}}, h.progs); diff != "" {
		t.Errorf("RUN programs (-want +got):\n%s", diff)
	}
	if got := h.k.snapshot()["e1000"]; got != 1 {
		t.Errorf("kmod load of the MODALIAS: %d loads of e1000, want 1", got)
	}

	// A change keeps the first USEC_INITIALIZED and runs no add-only RUN.
	h.now = 2000
	h.handle(loopEvent(t, 2, "change", "loop0"))
	if e, err := h.store.Read("b7:0"); err != nil || e.Usec != 1000 {
		t.Errorf("USEC_INITIALIZED after change: %d, %v; want 1000", e.Usec, err)
	}
	if len(h.progs) != 1 {
		t.Errorf("RUN after change: %q", h.progs)
	}

	h.handle(loopEvent(t, 3, "remove", "loop0"))
	if _, err := h.store.Read("b7:0"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("database after remove: %v, want gone", err)
	}
	for _, p := range []string{filepath.Join(h.run, "tags", "systemd", "b7:0"), filepath.Join(h.dev, "disk", "by-id", "gudevd-test")} {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s after remove: %v, want gone", p, err)
		}
	}
	if s := h.d.stats().Udev; s.Events != 3 || s.Failed != 0 {
		t.Errorf("stats: %+v", s)
	}
}

// TestUdevFailedRule: a rule that ends the event (IMPORT{file} of a
// directory) marks it failed: the kernel's event is broadcast with
// UDEV_WORKER_FAILED=1, nothing is written, and the next event runs.
func TestUdevFailedRule(t *testing.T) {
	h := newUdevHarness(t, strings.Replace(testRules, `IMPORT{file}="/etc"`, `IMPORT{file}="/etc/dir"`, 1))
	h.handle(loopEvent(t, 1, "add", "loop1"))
	got := props(h.last(t))
	if !slices.Contains(got, "UDEV_WORKER_FAILED=1") || !slices.Contains(got, "DEVNAME=loop1") {
		t.Errorf("failed event's broadcast: %q", got)
	}
	if _, err := h.store.Read("b7:1"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("database of a failed event: %v, want none", err)
	}
	h.handle(loopEvent(t, 2, "add", "loop0"))
	if slices.Contains(props(h.last(t)), "UDEV_WORKER_FAILED=1") {
		t.Error("the next event failed too")
	}
	if s := h.d.stats().Udev; s.Failed != 1 || s.RuleErrors != 1 || s.Events != 2 {
		t.Errorf("stats: %+v", s)
	}
}

// TestUdevDatabaseNotWritable: the event still completes and is
// broadcast in full; the failure is counted.
func TestUdevDatabaseNotWritable(t *testing.T) {
	h := newUdevHarness(t, testRules)
	h.failDB = true
	h.handle(loopEvent(t, 1, "add", "loop0"))
	if got := props(h.last(t)); slices.Contains(got, "UDEV_WORKER_FAILED=1") || !slices.Contains(got, "ID_TEST=1") {
		t.Errorf("broadcast: %q", got)
	}
	if s := h.d.stats().Udev; s.DBErrors != 2 {
		t.Errorf("db errors: %d, want 2 (tags and entry)", s.DBErrors)
	}
	if _, err := os.Readlink(filepath.Join(h.dev, "disk", "by-id", "gudevd-test")); err != nil {
		t.Errorf("link without a database: %v", err)
	}
}

// TestUdevDeviceVanished: an event whose node is gone (the device went
// before its event ran) completes; the node error is counted.
func TestUdevDeviceVanished(t *testing.T) {
	h := newUdevHarness(t, testRules)
	if err := os.Remove(filepath.Join(h.dev, "loop0")); err != nil {
		t.Fatal(err)
	}
	h.handle(loopEvent(t, 1, "add", "loop0"))
	if got := props(h.last(t)); slices.Contains(got, "UDEV_WORKER_FAILED=1") {
		t.Errorf("broadcast: %q", got)
	}
	if _, err := h.store.Read("b7:0"); err != nil {
		t.Errorf("database: %v", err)
	}
}

// TestUdevQueueFile: /run/udev/queue exists while an event is queued or
// module work runs outside the queue, and is gone once neither is left,
// which is what the real udevadm settle waits for.
func TestUdevQueueFile(t *testing.T) {
	h := newUdevHarness(t, testRules)
	qf := filepath.Join(h.run, "queue")
	exists := func() bool {
		_, err := os.Stat(qf)
		return err == nil
	}
	if err := os.MkdirAll(h.run, 0o755); err != nil {
		t.Fatal(err)
	}
	ev := loopEvent(t, 1, "add", "loop0")
	if err := h.d.queue.Push(ev); err != nil {
		t.Fatal(err)
	}
	h.d.syncQueueFile()
	if !exists() {
		t.Fatal("no queue file with an event queued")
	}
	release := h.d.hold()
	got, err := h.d.queue.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	h.d.queue.Done(got)
	h.d.syncQueueFile()
	if !exists() {
		t.Fatal("queue file gone while module work runs")
	}
	release()
	if exists() {
		t.Fatal("queue file left with nothing to do")
	}
	h.d.hold()()
	h.d.removeQueueFile()
	if exists() {
		t.Fatal("queue file left at exit")
	}
}

// TestSlots: stop-exec-queue holds new events until start-exec-queue, and
// children-max changes the bound while events run.
func TestSlots(t *testing.T) {
	s := newSlots(1)
	ctx := context.Background()
	if err := s.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := s.acquire(short); err == nil {
		t.Fatal("a second slot of one")
	}
	s.setMax(2)
	if err := s.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	s.release()
	s.setStopped(true)
	got := make(chan error, 1)
	go func() { got <- s.acquire(ctx) }()
	select {
	case <-got:
		t.Fatal("a slot with the exec queue stopped")
	case <-time.After(20 * time.Millisecond):
	}
	s.setStopped(false)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	s.setMax(0) // udevd keeps the bound for 0
	if s.max != 2 {
		t.Errorf("max after 0: %d", s.max)
	}
}

// settleChildEnv makes TestUdevadmSettleChild run: TestUdevadmSettle runs
// this test binary again under unshare(1), in a mount namespace with a
// tmpfs on /run, where the daemon's /run/udev/control and /run/udev/queue
// are the real udevadm's.
const settleChildEnv = "GUDEVD_DAEMON_TEST_SETTLE"

// TestUdevadmSettle drives a running daemon with the real udevadm 252:
// `udevadm settle` times out while stop-exec-queue holds an event and
// returns once start-exec-queue lets it run; --property sets what ENV{}
// sees; --exit stops the daemon.
func TestUdevadmSettle(t *testing.T) {
	privaterun.Run(t, "TestUdevadmSettleChild", settleChildEnv, privaterun.Udevadm(t))
}

func TestUdevadmSettleChild(t *testing.T) {
	udevadm := privaterun.Enter(t, settleChildEnv)
	h := newUdevHarness(t, testRules+`ENV{FOO}=="bar", TAG+="foo"`+"\n")
	src := newFakeSource()
	h.d.cfg.Source = src
	h.d.cfg.Control = filepath.Join(t.TempDir(), "control")
	h.d.cfg.UdevControl = "/run/udev/control"
	h.d.udev.queue = &queueFile{path: "/run/udev/queue", log: h.d.log}
	h.d.coldplugged = make(chan struct{})
	if err := os.MkdirAll("/run/udev", 0o755); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- h.d.Run(context.Background()) }()
	<-h.d.Ready()
	udev := func(args ...string) error {
		out, err := exec.Command(udevadm, args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("udevadm %s: %w: %s", args, err, out)
		}
		return nil
	}
	if err := udev("control", "--stop-exec-queue"); err != nil {
		t.Fatal(err)
	}
	send := func(ev *uevent.Event) {
		// The kernel counts the event before it sends it; a ping waits
		// for the daemon to have read that far.
		h.setSeqnum(t, ev.Seqnum)
		src.ch <- sourceItem{ev: ev}
	}
	send(loopEvent(t, 1, "add", "loop0"))
	if err := udev("settle", "--timeout=1"); err == nil {
		t.Error("settle returned with an event held by stop-exec-queue")
	}
	if err := udev("control", "--start-exec-queue"); err != nil {
		t.Fatal(err)
	}
	if err := udev("settle", "--timeout=20"); err != nil {
		t.Fatal(err)
	}
	if e, err := h.store.Read("b7:0"); err != nil || !slices.Contains(e.Tags, "systemd") {
		t.Fatalf("after settle the database has %+v, %v", e, err)
	}
	if err := udev("control", "--property=FOO=bar"); err != nil {
		t.Fatal(err)
	}
	send(loopEvent(t, 2, "change", "loop0"))
	if err := udev("settle", "--timeout=20"); err != nil {
		t.Fatal(err)
	}
	if e, _ := h.store.Read("b7:0"); !slices.Contains(e.CurrentTags, "foo") {
		t.Errorf("--property=FOO=bar not seen by ENV{FOO}: current tags %q", e.CurrentTags)
	}
	if err := udev("control", "--exit"); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/run/udev/queue"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("queue file after exit: %v", err)
	}
}

// TestUdevStaticNodes: the rules' static nodes get their group, mode and
// tags at start, before any event names them.
func TestUdevStaticNodes(t *testing.T) {
	h := newUdevHarness(t, testRules+`KERNEL=="tun", GROUP="disk", MODE="0666", TAG+="uaccess", OPTIONS+="static_node=net/tun"`+"\n")
	if err := os.MkdirAll(filepath.Join(h.dev, "net"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mknod(filepath.Join(h.dev, "net", "tun"), syscall.S_IFCHR|0o600, 10<<8|200); err != nil {
		t.Fatal(err)
	}
	h.d.applyStaticNodes(context.Background())
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(h.dev, "net", "tun"), &st); err != nil || st.Mode&0o777 != 0o666 || st.Gid != 6 {
		t.Errorf("net/tun: mode %o gid %d, %v; want 666 and 6", st.Mode&0o777, st.Gid, err)
	}
	if got, err := os.Readlink(filepath.Join(h.run, "static_node-tags", "uaccess", `net\x2ftun`)); err != nil || got != "/dev/net/tun" {
		t.Errorf("static tag: %q, %v", got, err)
	}
}

// TestUdevResyncRetriggers: an overflow lost events, so besides the
// module scan every device is asked for its add event again, once for a
// burst of overflows; the retriggered event then runs the rules.
func TestUdevResyncRetriggers(t *testing.T) {
	h := newUdevHarness(t, testRules)
	src := newFakeSource()
	h.d.src = src
	var triggers atomic.Int32
	h.d.cfg.Trigger = func(context.Context) error {
		triggers.Add(1)
		// The kernel counts the retriggered event when its uevent file is
		// written; it reaches the socket later.
		h.setSeqnum(t, 3)
		go func() {
			time.Sleep(50 * time.Millisecond)
			src.ch <- sourceItem{ev: loopEvent(t, 3, "add", "loop0")}
		}()
		return nil
	}
	h.setSeqnum(t, 2)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	h.d.startEvents(ctx, &wg)
	defer func() { cancel(); wg.Wait() }()
	src.ch <- sourceItem{err: fmt.Errorf("receive uevent: %w", uevent.ErrOverflow)}
	sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
	defer scancel()
	if err := h.d.settle(sctx); err != nil {
		t.Fatal(err)
	}
	if n := triggers.Load(); n != 1 {
		t.Errorf("%d retriggers, want 1", n)
	}
	if _, err := h.store.Read("b7:0"); err != nil {
		t.Errorf("the lost device's database entry after the resync: %v", err)
	}
}

// TestUdevRunFails: a failing RUN program is logged and counted; the
// event is not failed, its database entry and broadcast are whole.
func TestUdevRunFails(t *testing.T) {
	h := newUdevHarness(t, testRules)
	h.failRun = true
	h.handle(loopEvent(t, 1, "add", "loop0"))
	if got := props(h.last(t)); slices.Contains(got, "UDEV_WORKER_FAILED=1") || !slices.Contains(got, "ID_TEST=1") {
		t.Errorf("broadcast: %q", got)
	}
	if _, err := h.store.Read("b7:0"); err != nil {
		t.Errorf("database: %v", err)
	}
	if s := h.d.stats().Udev; s.RunErrors != 1 || s.Failed != 0 {
		t.Errorf("stats: %+v, want 1 RUN error and no failed event", s)
	}
}

// TestUdevLoadsWithoutKmodRule: the MODALIAS of an add event is loaded
// also when the rules have no kmod line (the override make install puts
// in /etc/udev/rules.d for running beside udevd), and once however many
// paths ask for it.
func TestUdevLoadsWithoutKmodRule(t *testing.T) {
	for _, tt := range []struct {
		name, rules string
	}{
		{"with Debian's kmod line", testRules},
		{"without it", strings.Replace(testRules, `ENV{MODALIAS}=="?*", RUN{builtin}+="kmod load"`, "", 1)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newUdevHarness(t, tt.rules)
			h.handle(loopEvent(t, 1, "add", "loop0", "MODALIAS=pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00"))
			h.handle(loopEvent(t, 2, "add", "loop1", "MODALIAS=pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00"))
			if got := h.k.snapshot()["e1000"]; got != 1 {
				t.Errorf("%d loads of e1000, want 1", got)
			}
		})
	}
}

// TestUdevWatch: OPTIONS+="watch" watches the node after the event; a
// close after writing it makes a "change" for the device, as udevd's
// inotify watch does after mkfs; a remove event ends the watch.
func TestUdevWatch(t *testing.T) {
	h := newUdevHarness(t, testRules+`KERNEL=="loop0p1", OPTIONS+="watch"`+"\n")
	part := "/devices/virtual/block/loop0/loop0p1"
	uevent := filepath.Join(h.sysfs, part, "uevent")
	if err := os.MkdirAll(filepath.Dir(uevent), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(uevent, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	node := filepath.Join(h.dev, "loop0p1")
	if err := os.WriteFile(node, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	h.d.udev.cfg.Dev = h.dev
	h.d.cfg.Sysfs = h.sysfs
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := h.d.startWatcher(ctx); err != nil {
		t.Fatal(err)
	}
	defer h.d.stopWatcher()
	ev := kernelEvent(t, 1, "add", part, "block", "MAJOR=259", "MINOR=1", "DEVNAME=loop0p1", "DEVTYPE=partition")
	h.handle(ev)
	if err := os.WriteFile(node, []byte("mkfs"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFile := func(want string, d time.Duration) bool {
		for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if b, _ := os.ReadFile(uevent); string(b) == want {
				return true
			}
		}
		return false
	}
	if !waitFile("change", 5*time.Second) {
		t.Fatal("no change written after the watched node was written and closed")
	}
	os.WriteFile(uevent, nil, 0o644)
	h.handle(kernelEvent(t, 2, "remove", part, "block", "MAJOR=259", "MINOR=1", "DEVNAME=loop0p1", "DEVTYPE=partition"))
	os.WriteFile(node, []byte("again"), 0o600)
	if waitFile("change", 300*time.Millisecond) {
		t.Error("a change after the device's remove event")
	}
}
