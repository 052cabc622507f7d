package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"github.com/gudevd/gudevd/test/qemu/internal/report"
	"golang.org/x/sys/unix"
)

// cmdStorm is the request storm: one process per CPU, each pinned to its
// CPU, all released at once, each making the kernel request the same
// modules (report.StormActions). The barrier is a pipe every child has as
// stdin: each child says it is ready on its stdout and blocks reading
// stdin; once all are ready the parent closes the write end, and every
// read returns EOF together. The parent writes the report.Storm as JSON.
//
// It only runs in a guest: every action makes the kernel load a module.
func cmdStorm(ctx context.Context, args []string, stdout io.Writer) error {
	fl := flag.NewFlagSet("storm", flag.ContinueOnError)
	procs := fl.Int("procs", runtime.NumCPU(), "storm processes, one per CPU")
	out := fl.String("out", "", "file for the JSON result (default stdout)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	barrierR, barrierW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("create barrier: %w", err)
	}
	defer barrierW.Close()
	ncpu := runtime.NumCPU()
	type child struct {
		cmd *exec.Cmd
		out *os.File
	}
	children := make([]child, 0, *procs)
	defer func() {
		for _, c := range children {
			if c.cmd.Process != nil && c.cmd.ProcessState == nil {
				c.cmd.Process.Kill()
				c.cmd.Wait()
			}
		}
	}()
	for i := 0; i < *procs; i++ {
		r, w, err := os.Pipe()
		if err != nil {
			return fmt.Errorf("create child pipe: %w", err)
		}
		cmd := exec.CommandContext(ctx, self, "storm-child", "-cpu", strconv.Itoa(i%ncpu))
		cmd.Stdin, cmd.Stdout, cmd.Stderr = barrierR, w, os.Stderr
		err = startPinned(cmd, i%ncpu)
		w.Close()
		if err != nil {
			r.Close()
			return fmt.Errorf("start storm process %d: %w", i, err)
		}
		children = append(children, child{cmd, r})
	}
	barrierR.Close()
	for i, c := range children {
		b := make([]byte, 1)
		if _, err := io.ReadFull(c.out, b); err != nil || b[0] != 'R' {
			return fmt.Errorf("storm process %d not ready: %v", i, err)
		}
	}
	// A child says it is ready once its threads are about to read the
	// barrier; give the last ones time to get into read(2).
	time.Sleep(200 * time.Millisecond)
	st := report.Storm{Procs: *procs, Barrier: monotonic()}
	barrierW.Close()
	for i, c := range children {
		var res report.StormChild
		err := json.NewDecoder(c.out).Decode(&res)
		c.out.Close()
		if werr := c.cmd.Wait(); werr != nil && err == nil {
			err = werr
		}
		if err != nil {
			return fmt.Errorf("storm process %d: %w", i, err)
		}
		st.Children = append(st.Children, res)
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if *out == "" {
		_, err = stdout.Write(append(b, '\n'))
		return err
	}
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		return fmt.Errorf("write storm result: %w", err)
	}
	fmt.Fprintf(stdout, "storm: %d processes, %.3f s from the barrier to the last return\n", *procs, st.Wall())
	return nil
}

// startPinned starts cmd from a thread bound to cpu: a forked child
// inherits the affinity of the thread that forked it, and every thread it
// starts inherits its own, so the whole process stays on that CPU. The
// locked thread is not unlocked, so the runtime retires it with its mask.
func startPinned(cmd *exec.Cmd, cpu int) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		var set unix.CPUSet
		set.Set(cpu)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			errc <- fmt.Errorf("pin to CPU %d: %w", cpu, err)
			return
		}
		errc <- cmd.Start()
	}()
	return <-errc
}

func monotonic() float64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return float64(ts.Sec) + float64(ts.Nsec)/1e9
}

// cmdStormChild is one storm process. Every action has its own thread, and
// every thread blocks in read(2) on the barrier itself, so the kernel wakes
// them all when the pipe closes and all first requests start at the
// barrier. (Go sizes GOMAXPROCS to the CPU affinity, one here; with the
// actions as goroutines behind one wake-up, each would start only once the
// runtime noticed the previous one blocked in its syscall.)
func cmdStormChild(ctx context.Context, args []string, stdout io.Writer) error {
	fl := flag.NewFlagSet("storm-child", flag.ContinueOnError)
	cpu := fl.Int("cpu", 0, "the CPU this process is pinned to (for the record)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	acts := stormActions()
	runtime.GOMAXPROCS(len(acts) + 1)
	// The barrier must block: a non-blocking pipe would return EAGAIN.
	if err := unix.SetNonblock(0, false); err != nil {
		return fmt.Errorf("make the barrier blocking: %w", err)
	}
	res := report.StormChild{CPU: *cpu, PID: os.Getpid(), Actions: make([]report.StormResult, len(acts))}
	var ready, wg sync.WaitGroup
	ready.Add(len(acts))
	for i, a := range acts {
		wg.Go(func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			ready.Done()
			var b [1]byte
			for {
				// EOF (0, nil) once the parent closes the write end.
				if _, err := unix.Read(0, b[:]); err != unix.EINTR {
					break
				}
			}
			r := report.StormResult{Action: a.name, Start: monotonic()}
			r.Steps = a.run()
			r.End = monotonic()
			res.Actions[i] = r
		})
	}
	ready.Wait()
	if _, err := stdout.Write([]byte{'R'}); err != nil {
		return fmt.Errorf("signal ready: %w", err)
	}
	wg.Wait()
	for i, a := range res.Actions {
		if i == 0 || a.Start < res.Start {
			res.Start = a.Start
		}
		res.End = max(res.End, a.End)
	}
	return json.NewEncoder(stdout).Encode(res)
}

// stormAction is the code of one report.StormActions entry.
type stormAction struct {
	name string
	run  func() []report.StormStep
}

func stormActions() []stormAction {
	return []stormAction{
		{"can", func() []report.StormStep {
			fd, err := unix.Socket(unix.AF_CAN, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.CAN_RAW)
			closeFD(fd, err)
			return []report.StormStep{step("socket", err, unix.EAFNOSUPPORT, unix.EPROTONOSUPPORT)}
		}},
		{"minix", func() []report.StormStep {
			fd, err := unix.Fsopen("minix", unix.FSOPEN_CLOEXEC)
			closeFD(fd, err)
			return []report.StormStep{step("fsopen", err, unix.ENODEV)}
		}},
		{"alg", func() []report.StormStep {
			fd, err := unix.Socket(unix.AF_ALG, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
			steps := []report.StormStep{step("socket", err, unix.EAFNOSUPPORT)}
			if err != nil {
				return steps
			}
			defer unix.Close(fd)
			err = unix.Bind(fd, &unix.SockaddrALG{Type: "hash", Name: "md4"})
			return append(steps, step("bind", err, unix.ENOENT))
		}},
		{"md4", func() []report.StormStep {
			return []report.StormStep{step("keyctl", keyctlKDF("md4"), unix.ENOENT)}
		}},
	}
}

func closeFD(fd int, err error) {
	if err == nil {
		unix.Close(fd)
	}
}

// step records a syscall's outcome; missing are the errors that mean the
// module it needed was not there.
func step(call string, err error, missing ...unix.Errno) report.StormStep {
	s := report.StormStep{Call: call}
	if err == nil {
		return s
	}
	var e unix.Errno
	if !errors.As(err, &e) {
		s.Errno = err.Error()
		return s
	}
	s.Errno = unix.ErrnoName(e)
	for _, m := range missing {
		s.Missing = s.Missing || e == m
	}
	return s
}

// keyctlKDF asks for a Diffie-Hellman computation with a KDF on hash:
// __keyctl_dh_compute allocates the hash (crypto_alloc_shash, which
// requests crypto-HASH) before it looks the keys up, so with key serials 0
// the call fails after the request, with ENOENT only if the hash could not
// be found. x/sys's KeyctlDHCompute passes no KDF, so this is the raw call.
func keyctlKDF(hash string) error {
	name, err := unix.BytePtrFromString(hash)
	if err != nil {
		return err
	}
	var params unix.KeyctlDHParams // private, prime, base: no keys
	kdf := struct {
		hashname     *byte
		otherinfo    *byte
		otherinfolen uint32
		spare        [8]uint32
	}{hashname: name}
	buf := make([]byte, 16)
	_, _, e := unix.Syscall6(unix.SYS_KEYCTL, unix.KEYCTL_DH_COMPUTE,
		uintptr(unsafe.Pointer(&params)), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)),
		uintptr(unsafe.Pointer(&kdf)), 0)
	runtime.KeepAlive(name)
	if e != 0 {
		return e
	}
	return nil
}
