package qemu

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrGuestFailed is returned when a guest panics, hangs or powers off
// without finishing its script.
var ErrGuestFailed = errors.New("guest failed")

// ErrEmulatorStall is returned, with ErrGuestFailed, when a vCPU stopped
// making progress for longer than stallLimit allows: TCG on a loaded
// two-core host has left a stock 6.1 kernel's cryptomgr_test thread, before
// any userspace ran, on one vCPU for 418 s and counting (a CI run of the
// stock full boot), which no guest software of ours could cause or end.
var ErrEmulatorStall = errors.New("emulator stall")

// VM is one boot of a kernel with an initramfs on the fixed device set.
type VM struct {
	Kernel    string // path of the bzImage (vmlinuz)
	Initramfs string // path of the compressed cpio archive
	CPUs      int
	MemoryMB  int
	Cmdline   string    // appended to the harness's own parameters
	Disk      string    // raw image attached to the AHCI controller
	RootDisk  string    // raw root file system image on virtio-blk (/dev/vda), opened with snapshot=on; may be empty
	Extra     []string  // more QEMU arguments, such as devices beyond the fixed set
	Progress  io.Writer // console lines are copied here if non-nil
	Status    io.Writer // a heartbeat with the last console line every 20 s, if non-nil
	Timeout   time.Duration
}

// Boot is what came back from a guest.
type Boot struct {
	Console []byte            // everything the guest wrote to ttyS0
	Files   map[string][]byte // /out of the guest, by path
	// Stalls are the console lines of earlier boots of this guest that
	// Run stopped for an emulator stall and booted again: reported, never
	// hidden.
	Stalls []string
}

// Devices is the fixed device set every guest boots with, chosen to cover
// the buses a small server has: PCI NICs with and without virtio, a virtio
// RNG, SATA through the q35 on-board AHCI controller, and USB HID behind an
// xHCI controller. Each pulls a different chain of modules (e1000; virtio_pci,
// virtio_net, virtio_rng; ahci, libahci, libata, sd_mod; xhci_pci, xhci_hcd,
// usbcore, usbhid, hid_generic), and the CPUs add one x86cpu modalias each.
func Devices(disk string) []string {
	return []string{
		"-netdev", "user,id=n0", "-device", "e1000,netdev=n0",
		"-netdev", "user,id=n1", "-device", "virtio-net-pci,netdev=n1",
		"-device", "virtio-rng-pci",
		"-drive", "if=none,id=d0,format=raw,file=" + disk,
		"-device", "ide-hd,drive=d0,bus=ide.0",
		"-device", "qemu-xhci,id=xhci", "-device", "usb-tablet,bus=xhci.0",
	}
}

// DefaultTimeout scales with the vCPU count: TCG emulates every vCPU on the
// host's few cores, so a 64-vCPU boot takes minutes. It also leaves room for
// a host shared with other work: at a load average of 25 on two cores an
// 8-vCPU udevd coldplug that settles in 11 s on a quiet host ran past the
// 4m20s this allowed before.
func DefaultTimeout(cpus int) time.Duration {
	return 6*time.Minute + time.Duration(cpus)*15*time.Second
}

// Run boots the guest and waits for it to power off. A guest that does not
// print GUDEVD-DONE is an error that quotes its last console lines. A boot
// stopped for an emulator stall is booted once more, with the stall in
// Boot.Stalls and on Status.
func (vm *VM) Run(ctx context.Context) (*Boot, error) {
	b, err := vm.run(ctx)
	var stall *stallError
	if !errors.As(err, &stall) {
		return b, err
	}
	if w := vm.status(); w != nil {
		fmt.Fprintf(w, "  emulator stall at %d vCPUs, booting again: %s\n", vm.CPUs, stall.line)
	}
	b, err = vm.run(ctx)
	if b != nil {
		b.Stalls = append([]string{stall.line}, b.Stalls...)
	}
	return b, err
}

func (vm *VM) status() io.Writer {
	if vm.Status != nil {
		return vm.Status
	}
	return vm.Progress
}

// stallError is an emulator stall seen on the console.
type stallError struct{ line string }

func (e *stallError) Error() string { return "emulator stall: " + e.line }
func (e *stallError) Unwrap() []error {
	return []error{ErrGuestFailed, ErrEmulatorStall}
}

// softLockup matches the kernel watchdog's report (kernel/watchdog.c):
// "watchdog: BUG: soft lockup - CPU#2 stuck for 27s! [cryptomgr_test:64]".
var softLockup = regexp.MustCompile(`soft lockup - CPU#\d+ stuck for (\d+)s!`)

// rcuStall matches the RCU stall detector's reports (kernel/rcu/tree_stall.h):
// "rcu: rcu_preempt kthread starved for 52517 jiffies! g-1151 ..." and
// "rcu: \t(detected by 1, t=5252 jiffies, g=-1151, q=3 ncpus=4)". A vCPU
// that TCG stops scheduling shows as an idle CPU that reports no quiescent
// state, the grace-period kthread starving, with no soft lockup at all.
var rcuStall = regexp.MustCompile(`(?:kthread starved for |, t=)(\d+) jiffies`)

// debianHZ is CONFIG_HZ of both Debian kernels the harness boots, the unit
// of the RCU reports' jiffies.
const debianHZ = 250

// stallLimit is how long one vCPU may be reported stuck before the boot
// counts as an emulator stall. Loads do stall vCPUs legitimately under
// TCG, for longer the more vCPUs there are (one 6.1 finit_module's IPIs to
// every vCPU can take minutes at 64), so the limit grows with them.
func stallLimit(cpus int) time.Duration {
	return 2*time.Minute + time.Duration(cpus)*5*time.Second
}

// stalled reports whether a console line shows a vCPU stuck past limit.
func stalled(line []byte, limit time.Duration) bool {
	unit := time.Second
	m := softLockup.FindSubmatch(line)
	if m == nil {
		unit = time.Second / debianHZ
		m = rcuStall.FindSubmatch(line)
	}
	if m == nil {
		return false
	}
	n, err := strconv.Atoi(string(m[1]))
	return err == nil && time.Duration(n)*unit >= limit
}

func (vm *VM) run(ctx context.Context) (*Boot, error) {
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		return nil, fmt.Errorf("%w: qemu-system-x86_64 (apt-get install qemu-system-x86)", ErrMissingTool)
	}
	timeout := vm.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout(vm.CPUs)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	dir, err := os.MkdirTemp("", "gudevd-qemu-")
	if err != nil {
		return nil, fmt.Errorf("create run directory: %w", err)
	}
	defer os.RemoveAll(dir)
	dataPath := filepath.Join(dir, "data")
	disk := vm.Disk
	if disk == "" {
		// A private sparse image: QEMU locks its disks, and guests run
		// side by side.
		disk = filepath.Join(dir, "disk.img")
		if err := os.WriteFile(disk, nil, 0o600); err != nil {
			return nil, fmt.Errorf("create disk image: %w", err)
		}
		if err := os.Truncate(disk, 64<<20); err != nil {
			return nil, fmt.Errorf("size disk image: %w", err)
		}
	}
	mem := vm.MemoryMB
	if mem == 0 {
		mem = 1024 + 32*vm.CPUs
	}
	args := []string{
		"-machine", "q35", "-accel", "tcg,thread=multi", "-cpu", "max",
		"-smp", fmt.Sprint(vm.CPUs), "-m", fmt.Sprint(mem),
		"-nodefaults", "-display", "none", "-no-reboot", "-monitor", "none",
		"-serial", "stdio", "-serial", "file:" + dataPath,
		"-kernel", vm.Kernel, "-initrd", vm.Initramfs,
		"-append", "console=ttyS0 panic=-1 oops=panic loglevel=4 rdinit=/init " + vm.Cmdline,
	}
	args = append(args, Devices(disk)...)
	if vm.RootDisk != "" {
		// snapshot=on keeps the guest's writes in a temporary overlay: the
		// image stays as built, and boots side by side may share it.
		args = append(args, "-drive", "if=none,id=root,format=raw,snapshot=on,file="+vm.RootDisk,
			"-device", "virtio-blk-pci,drive=root")
	}
	args = append(args, vm.Extra...)
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", args...)
	cmd.WaitDelay = 5 * time.Second
	// A harness that dies must not leave a 64-vCPU guest spinning.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("start qemu: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start qemu: %w", err)
	}
	var console bytes.Buffer
	var stall *stallError
	hb := newHeartbeat(vm.Status, vm.CPUs)
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	limit := stallLimit(vm.CPUs)
	for sc.Scan() {
		l := sc.Bytes()
		console.Write(l)
		console.WriteByte('\n')
		hb.line(l)
		if vm.Progress != nil {
			fmt.Fprintf(vm.Progress, "  | %s\n", strings.TrimRight(string(l), "\r"))
		}
		if stall == nil && stalled(l, limit) {
			// Kill QEMU; the scan ends when its stdout closes.
			stall = &stallError{line: strings.TrimSpace(string(l))}
			cancel()
		}
	}
	hb.stop()
	werr := cmd.Wait()
	b := &Boot{Console: console.Bytes()}
	switch {
	case stall != nil:
		return b, fmt.Errorf("%w; last console lines:\n%s", stall, tail(b.Console, 25))
	case ctx.Err() != nil:
		return b, fmt.Errorf("%w: no poweroff after %v at %d vCPUs; last console lines:\n%s", ErrGuestFailed, timeout, vm.CPUs, tail(b.Console, 25))
	case werr != nil:
		return b, fmt.Errorf("%w: qemu: %v: %s; last console lines:\n%s", ErrGuestFailed, werr, strings.TrimSpace(stderr.String()), tail(b.Console, 25))
	case !bytes.Contains(b.Console, []byte("GUDEVD-DONE")):
		return b, fmt.Errorf("%w: guest stopped before finishing its script; last console lines:\n%s", ErrGuestFailed, tail(b.Console, 25))
	}
	data, err := os.ReadFile(dataPath)
	if err != nil {
		return b, fmt.Errorf("read guest data channel: %w", err)
	}
	if b.Files, err = decodeData(data); err != nil {
		return b, err
	}
	return b, nil
}

// tail returns the last n lines of a console log.
func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(string(b), "\r", ""), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// decodeData unpacks the base64 tar.gz the guest writes to its second serial
// port between GUDEVD-DATA-BEGIN and GUDEVD-DATA-END.
func decodeData(data []byte) (map[string][]byte, error) {
	files := map[string][]byte{}
	s := strings.ReplaceAll(string(data), "\r", "")
	begin := strings.Index(s, "GUDEVD-DATA-BEGIN\n")
	if begin < 0 {
		return files, nil
	}
	s = s[begin+len("GUDEVD-DATA-BEGIN\n"):]
	end := strings.Index(s, "GUDEVD-DATA-END")
	if end < 0 {
		return nil, fmt.Errorf("%w: data channel truncated (no GUDEVD-DATA-END)", ErrGuestFailed)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(s[:end], "\n", ""))
	if err != nil {
		return nil, fmt.Errorf("decode guest data: %w", err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("decompress guest data: %w", err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read guest tar: %w", err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("read guest tar: %w", err)
		}
		files[strings.TrimPrefix(filepath.Clean(h.Name), "./")] = b
	}
}

// heartbeat reports a long boot's progress: TCG at 64 vCPUs is silent for
// minutes otherwise.
type heartbeat struct {
	mu   sync.Mutex // guards the field below
	last string

	done chan struct{}
	wg   sync.WaitGroup
}

func newHeartbeat(w io.Writer, cpus int) *heartbeat {
	hb := &heartbeat{done: make(chan struct{})}
	if w == nil {
		return hb
	}
	start := time.Now()
	hb.wg.Add(1)
	go func() {
		defer hb.wg.Done()
		t := time.NewTicker(20 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-hb.done:
				return
			case <-t.C:
				hb.mu.Lock()
				last := hb.last
				hb.mu.Unlock()
				fmt.Fprintf(w, "  ... %d vCPUs, %v: %s\n", cpus, time.Since(start).Round(time.Second), last)
			}
		}
	}()
	return hb
}

func (hb *heartbeat) line(l []byte) {
	hb.mu.Lock()
	hb.last = strings.TrimSpace(string(l))
	hb.mu.Unlock()
}

func (hb *heartbeat) stop() {
	close(hb.done)
	hb.wg.Wait()
}
