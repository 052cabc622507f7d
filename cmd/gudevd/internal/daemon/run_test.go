package daemon

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gudevd/gudevd/cmd/gudevd/internal/modules"
	"github.com/gudevd/gudevd/modload/modloadtest"

	"github.com/gudevd/gudevd/cmd/gudevd/internal/control"
	"github.com/gudevd/gudevd/uevent"
)

// runningDaemon is a Daemon in Run, with real worker processes (this test
// binary re-executed as simWorker), a real control socket and a fake event
// source: everything but the kernel.
type runningDaemon struct {
	d       *Daemon
	src     *fakeSource
	tree    string
	control string
	sysfs   string // holds kernel/uevent_seqnum
	syscall string // the workers' syscall log
	logs    *logRecorder
	done    chan error
}

// startDaemon runs a daemon over testTree until the test ends or it stops;
// opts change its Config first.
func startDaemon(t *testing.T, opts ...func(*Config)) *runningDaemon {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	r := &runningDaemon{
		src:     newFakeSource(),
		control: filepath.Join(t.TempDir(), "run", "control"),
		syscall: filepath.Join(t.TempDir(), "syscalls"),
		logs:    &logRecorder{},
		done:    make(chan error, 1),
	}
	tree := testModules(t)
	writeModuleFiles(t, tree.Dir)
	r.tree = tree.Dir
	r.sysfs = writeTree(t, fstest.MapFS{"kernel/uevent_seqnum": {Data: []byte("0\n")}})
	cfg := Config{
		Log:           slog.New(r.logs),
		Tree:          tree,
		Control:       r.control,
		Children:      8,
		LoadWorkers:   2,
		Source:        r.src,
		SysfsFS:       os.DirFS(r.sysfs),
		WorkerCommand: simCommand(exe, tree.Dir, r.syscall),
	}
	for _, o := range opts {
		o(&cfg)
	}
	r.d, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	go func() { r.done <- r.d.Run(context.Background()) }()
	select {
	case <-r.d.Ready():
	case err := <-r.done:
		t.Fatalf("Run returned before it was ready: %v", err)
	}
	t.Cleanup(func() {
		select {
		case <-r.d.stopped:
		default:
			r.call(t, control.Request{Op: control.OpExit})
			<-r.done
		}
	})
	return r
}

func (r *runningDaemon) call(t *testing.T, req control.Request) control.Reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := control.Call(ctx, r.control, req)
	if err != nil {
		t.Fatalf("control %s: %v", req.Op, err)
	}
	return rep
}

// waitRunning waits until n loads run in the pool.
func (r *runningDaemon) waitRunning(t *testing.T, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if r.d.pool.Stats().Running >= n {
			return
		}
	}
	t.Fatalf("%d loads did not start within 10 s", n)
}

// setSeqnum sets kernel/uevent_seqnum, as the kernel does before it sends.
func (r *runningDaemon) setSeqnum(t *testing.T, seq uint64) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(r.sysfs, "kernel/uevent_seqnum"), []byte(strconv.FormatUint(seq, 10)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// event sends a uevent as the kernel does, counting it in
// kernel/uevent_seqnum first, and waits until the daemon has handled it.
func (r *runningDaemon) event(t *testing.T, ev sourceItem) {
	t.Helper()
	seq := strconv.FormatUint(ev.ev.Seqnum, 10)
	if err := os.WriteFile(filepath.Join(r.sysfs, "kernel/uevent_seqnum"), []byte(seq+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.src.ch <- ev
	r.call(t, control.Request{Op: control.OpSettle})
}

// wait waits for Run to return.
func (r *runningDaemon) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.done:
		return err
	case <-time.After(60 * time.Second):
		t.Fatal("Run did not return within 60 s")
		return nil
	}
}

// logRecorder is a slog.Handler that keeps every message.
type logRecorder struct {
	mu   sync.Mutex // guards msgs
	msgs []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.msgs = append(l.msgs, r.Message)
	l.mu.Unlock()
	return nil
}

// waitFor waits until msg has been logged n times.
func (l *logRecorder) waitFor(t *testing.T, msg string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		l.mu.Lock()
		got := 0
		for _, m := range l.msgs {
			if m == msg {
				got++
			}
		}
		l.mu.Unlock()
		if got >= n {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%q was not logged %d times within 30 s", msg, n)
}

// ourGoroutines returns the goroutines that run code of this module, by id,
// with their stacks; the calling goroutine is left out.
func ourGoroutines() map[string]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := map[string]string{}
	for i, g := range bytes.Split(buf, []byte("\n\n")) {
		if i == 0 || !bytes.Contains(g, []byte("github.com/gudevd/gudevd/")) {
			continue
		}
		id, _, _ := strings.Cut(strings.TrimPrefix(string(g), "goroutine "), " ")
		out[id] = string(g)
	}
	return out
}

// checkNoLeak fails the test if a goroutine of this module that did not
// exist in before is still there (after a grace period for goroutines that
// are returning), as cilium/ebpf's and goleak's checks do.
func checkNoLeak(t *testing.T, before map[string]string) {
	t.Helper()
	var leaked []string
	for range 200 {
		leaked = leaked[:0]
		for id, stack := range ourGoroutines() {
			if _, ok := before[id]; !ok {
				leaked = append(leaked, stack)
			}
		}
		if len(leaked) == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	slices.Sort(leaked)
	t.Errorf("%d goroutines left behind:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
}

// children returns the pids of this process's child processes that have not
// been reaped.
func children(t *testing.T) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	self := os.Getpid()
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so cut after ')'.
		i := bytes.LastIndexByte(b, ')')
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(self) {
			out = append(out, pid)
		}
	}
	return out
}

// ensureSignalLoop starts os/signal's process-wide receiving goroutine
// before a goroutine baseline is taken: it lives for the process once
// started, whoever started it.
func ensureSignalLoop() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGURG)
	signal.Stop(c)
}

func cpuEvent(t testing.TB, seq uint64) sourceItem {
	return sourceItem{ev: kernelEvent(t, seq, "add", fmt.Sprintf("/devices/system/cpu/cpu%d", seq), "cpu", "MODALIAS="+cpuAlias)}
}

// TestRunStopsCleanly: SIGTERM and `gudevd control --exit` stop the daemon
// with every worker process reaped, every goroutine ended and the control
// socket gone, after the loads that ran were recorded.
func TestRunStopsCleanly(t *testing.T) {
	ensureSignalLoop()
	for _, tt := range []struct {
		name string
		stop func(t *testing.T, r *runningDaemon)
	}{
		{"SIGTERM", func(t *testing.T, r *runningDaemon) {
			if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
		}},
		{"control exit", func(t *testing.T, r *runningDaemon) {
			// Exit answers only once the daemon has stopped.
			r.call(t, control.Request{Op: control.OpExit})
			select {
			case <-r.d.stopped:
			default:
				t.Error("exit answered before the daemon stopped")
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := ourGoroutines()
			r := startDaemon(t)
			r.event(t, cpuEvent(t, 1))
			if got := syscallsPerModule(t, r.syscall); got["aesni_intel"] != 1 {
				t.Fatalf("load syscalls before the stop = %v, want aesni_intel once", got)
			}
			if len(children(t)) == 0 {
				t.Fatal("no worker process runs after a load: the test would prove nothing")
			}
			tt.stop(t, r)
			if err := r.wait(t); err != nil {
				t.Errorf("Run = %v, want nil", err)
			}
			if pids := children(t); len(pids) != 0 {
				t.Errorf("worker processes left after the daemon stopped: %v", pids)
			}
			if _, err := os.Stat(r.control); !os.IsNotExist(err) {
				t.Errorf("control socket after the daemon stopped: stat = %v, want it gone", err)
			}
			checkNoLeak(t, before)
		})
	}
}

// TestRunReloads: SIGHUP and `gudevd control --reload` reread the module
// index, so a MODALIAS that matched nothing loads its module once the new
// modules.alias names it.
func TestRunReloads(t *testing.T) {
	ensureSignalLoop()
	const alias = "usb:v1234p5678d0100dc00dsc00dp00ic03isc01ip02in00"
	for _, tt := range []struct {
		name   string
		reload func(t *testing.T, r *runningDaemon)
	}{
		{"SIGHUP", func(t *testing.T, r *runningDaemon) {
			if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
			r.logs.waitFor(t, "reload module index", 1)
		}},
		{"control reload", func(t *testing.T, r *runningDaemon) {
			r.call(t, control.Request{Op: control.OpReload})
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := startDaemon(t)
			usb := func(seq uint64) sourceItem {
				return sourceItem{ev: kernelEvent(t, seq, "add", "/devices/usb1/1-1", "usb", "MODALIAS="+alias)}
			}
			r.event(t, usb(1))
			if got := syscallsPerModule(t, r.syscall); len(got) != 0 {
				t.Fatalf("load syscalls before the reload = %v, want none: the alias is unknown", got)
			}
			appendFile(t, filepath.Join(r.tree, "modules.alias"), "alias usb:v1234p5678d*dc*dsc*dp*ic03isc01ip02in* e1000\n")
			tt.reload(t, r)
			r.event(t, usb(2))
			if got := syscallsPerModule(t, r.syscall); got["e1000"] != 1 {
				t.Errorf("load syscalls after the reload = %v, want e1000 once", got)
			}
		})
	}
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestRunKernelModprobe: --kernel-modprobe on a fresh /run (no directory
// for the control socket yet) points the kernel's helper sysctl at a link
// next to the daemon's own control socket, wherever --control puts it, so
// that the helper the kernel runs asks this daemon; the old value comes
// back on exit.
func TestRunKernelModprobe(t *testing.T) {
	sysctl := filepath.Join(t.TempDir(), "modprobe")
	if err := os.WriteFile(sysctl, []byte("/sbin/modprobe\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := startDaemon(t, func(c *Config) { c.KernelModprobe, c.Sysctl = true, sysctl })
	link, err := os.ReadFile(sysctl)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(filepath.Dir(r.control), HelperName); string(link) != want {
		t.Errorf("sysctl = %q, want %q: the link next to the control socket", link, want)
	}
	exe, _ := os.Executable()
	if target, err := os.Readlink(string(link)); err != nil || target != exe {
		t.Errorf("helper link -> %q (%v), want %q", target, err, exe)
	}
	if got := HelperControl(string(link), control.DefaultPath); got != r.control {
		t.Errorf("HelperControl(%q) = %q, want the daemon's %q", link, got, r.control)
	}
	r.call(t, control.Request{Op: control.OpExit})
	// The old value is back when exit is answered, before Run returns: an
	// initramfs starts the root system's daemon right after, and that one
	// must not save this daemon's link as the value to restore.
	if got, _ := os.ReadFile(sysctl); string(got) != "/sbin/modprobe\n" {
		t.Errorf("sysctl when exit is answered = %q, want the old value back", got)
	}
	if err := r.wait(t); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if _, err := os.Lstat(string(link)); !os.IsNotExist(err) {
		t.Errorf("helper link after exit: %v, want it gone", err)
	}
}

func TestHelperControl(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, HelperName)
	if err := os.Symlink("/bin/true", link); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(t.TempDir(), HelperName)
	if err := os.WriteFile(plain, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	const def = "/run/gudevd/control"
	for _, tt := range []struct{ name, argv0, want string }{
		{"the kernel runs a daemon's link", link, filepath.Join(dir, "control")},
		{"called as modprobe from PATH", "modprobe", def},
		{"gudevd installed as /sbin/modprobe", plain, def},
		{"run as gudevd modprobe", "/usr/sbin/gudevd", def},
		{"a link that is gone", filepath.Join(t.TempDir(), HelperName), def},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := HelperControl(tt.argv0, def); got != tt.want {
				t.Errorf("HelperControl(%q) = %q, want %q", tt.argv0, got, tt.want)
			}
		})
	}
}

// TestRunNestedKernelRequest: a module whose init calls request_module()
// makes the kernel run the helper, which asks the daemon for the nested
// module while the outer load holds a load slot. With every slot held (one
// here), the nested load must still run at once, whether nobody had asked
// for it yet or a uevent's load of it is waiting for a slot; otherwise both
// wait until the event timeout kills the outer worker.
func TestRunNestedKernelRequest(t *testing.T) {
	for _, tt := range []struct {
		name   string
		events []string // MODALIAS of each event, sent in order
	}{
		{"nested module not requested before", []string{"nest:outer"}},
		{"nested module's own load waits for the slot", []string{"nest:outer", "nest:inner"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			err := modloadtest.WriteTree(dir,
				modloadtest.Module{Name: "outer", Aliases: []string{"nest:outer"}},
				modloadtest.Module{Name: "inner", Aliases: []string{"nest:inner"}})
			if err != nil {
				t.Fatal(err)
			}
			var r *runningDaemon
			r = startDaemon(t, func(c *Config) {
				c.Tree = modules.Tree{Root: dir, Dir: dir}
				c.LoadWorkers = 1
				c.EventTimeout = 20 * time.Second
				sim := c.WorkerCommand
				c.WorkerCommand = func(ctx context.Context) *exec.Cmd {
					cmd := sim(ctx)
					cmd.Env = append(cmd.Env, simWorkerEnv+"="+dir, simNestedEnv+"=outer=inner", simControlEnv+"="+c.Control)
					return cmd
				}
			})
			start := time.Now()
			for i, alias := range tt.events {
				r.src.ch <- sourceItem{ev: kernelEvent(t, uint64(i+1), "add", fmt.Sprintf("/devices/nest/%d", i), "nest", "MODALIAS="+alias)}
				if i == 0 {
					// The outer load holds the only slot before the
					// next event's load asks for one.
					r.waitRunning(t, 1)
				}
			}
			r.setSeqnum(t, uint64(len(tt.events)))
			r.call(t, control.Request{Op: control.OpSettle})
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("settle took %v: the nested request waited for the outer load's slot", took)
			}
			want := map[string]int{"outer": 1, "inner": 1}
			if diff := cmp.Diff(want, syscallsPerModule(t, r.syscall)); diff != "" {
				t.Errorf("load syscalls (-want +got):\n%s", diff)
			}
			if f := r.d.stats().Failed; len(f) != 0 {
				t.Errorf("failed modules: %v", f)
			}
		})
	}
}

// sendUdevControl sends messages and END_MESSAGES as udevadm control does,
// then waits for the daemon to close the connection.
func sendUdevControl(t *testing.T, path string, msgs ...control.UdevMessage) {
	t.Helper()
	c, err := net.Dial("unixpacket", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, m := range append(msgs, control.UdevMessage{Op: control.UdevEnd}) {
		if m.Op == control.UdevEnd && len(msgs) > 0 && msgs[len(msgs)-1].Op == control.UdevExit {
			break // udevadm sends nothing after EXIT
		}
		if _, err := c.Write(m.Marshal()); err != nil {
			t.Fatal(err)
		}
	}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || os.IsTimeout(err) {
		t.Fatalf("waiting for the daemon's close: %d bytes, %v", n, err)
	}
}

// TestRunUdevControl: with --udev-control the daemon answers udev's
// control protocol as systemd-udevd does: a ping is answered by the close,
// a log level changes the daemon's, a reload rereads the module index, and
// exit stops the daemon cleanly before the close reaches the client.
func TestRunUdevControl(t *testing.T) {
	udevPath := filepath.Join(t.TempDir(), "udev", "control")
	r := startDaemon(t, func(c *Config) { c.UdevControl = udevPath })
	sendUdevControl(t, udevPath, control.UdevMessage{Op: control.UdevPing})
	sendUdevControl(t, udevPath, control.UdevMessage{Op: control.UdevSetLogLevel, Int: 7})
	if got := r.d.cfg.Level.Level(); got != slog.LevelDebug {
		t.Errorf("log level after SET_LOG_LEVEL 7 = %v, want DEBUG", got)
	}
	sendUdevControl(t, udevPath, control.UdevMessage{Op: control.UdevReload})
	r.logs.waitFor(t, "reload module index", 1)
	s := r.call(t, control.Request{Op: control.OpStats}).Stats
	if s.UdevControl == nil || s.UdevControl.Messages != 6 {
		t.Errorf("stats udev_control = %+v, want 6 messages (3 and 3 END_MESSAGES)", s.UdevControl)
	}
	sendUdevControl(t, udevPath, control.UdevMessage{Op: control.UdevExit})
	select {
	case <-r.d.stopped:
	default:
		t.Error("the udev control connection closed before the daemon stopped")
	}
	if err := r.wait(t); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
	if _, err := os.Stat(udevPath); !os.IsNotExist(err) {
		t.Errorf("udev control socket after the daemon stopped: %v, want it gone", err)
	}
}

// TestRunTakesPassedSockets: the sockets systemd passes (the kernel uevent
// socket of systemd-udevd-kernel.socket, the control socket of
// systemd-udevd-control.socket) are the ones the daemon serves; the
// control socket's file stays, since its unit owns it.
func TestRunTakesPassedSockets(t *testing.T) {
	udevPath := filepath.Join(t.TempDir(), "control")
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: udevPath, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ctl, err := ln.File()
	ln.Close()
	if err != nil {
		t.Fatal(err)
	}
	fd, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, syscall.NETLINK_KOBJECT_UEVENT)
	if err != nil {
		t.Skipf("no uevent socket here: %v", err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK, Groups: 1}); err != nil {
		syscall.Close(fd)
		t.Skipf("bind uevent socket: %v", err)
	}
	r := startDaemon(t, func(c *Config) {
		c.Source = nil
		c.UeventFile = os.NewFile(uintptr(fd), "uevent")
		c.UdevControlFile = ctl
	})
	if _, ok := r.d.src.(*uevent.Conn); !ok {
		t.Errorf("source is %T, want the passed *uevent.Conn", r.d.src)
	}
	sendUdevControl(t, udevPath, control.UdevMessage{Op: control.UdevPing})
	if s := r.call(t, control.Request{Op: control.OpStats}).Stats; s.UdevControl == nil || s.UdevControl.Messages != 2 {
		t.Errorf("stats udev_control = %+v, want the ping and its END_MESSAGES", s.UdevControl)
	}
	r.call(t, control.Request{Op: control.OpExit})
	if err := r.wait(t); err != nil {
		t.Errorf("Run = %v", err)
	}
	if _, err := os.Stat(udevPath); err != nil {
		t.Errorf("the passed control socket's file after exit: %v, want it kept for its unit", err)
	}
}
