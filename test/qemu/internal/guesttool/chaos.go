package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The x86-64 numbers of the two load syscalls, as /proc/PID/syscall shows
// the one a task is blocked in.
const (
	sysInitModule  = 175
	sysFinitModule = 313
)

// Chaos is what guesttool chaos did: the host reads it from /out/chaos.json.
type Chaos struct {
	Seed  uint64      `json:"seed"`
	Kills []ChaosKill `json:"kills"`
	// Looks counts the rounds that found a worker to kill or none.
	Looks int `json:"looks"`
}

// ChaosKill is one SIGKILL sent to a worker.
type ChaosKill struct {
	PID int `json:"pid"`
	// Uptime is /proc/uptime's first field when the signal was sent.
	Uptime float64 `json:"uptime"`
	// Syscall is the worker's /proc/PID/syscall first field before the
	// kill: the syscall it was blocked in, or "running".
	Syscall string `json:"syscall"`
	// InLoad is set when that syscall was finit_module or init_module: the
	// kernel finishes the load before the task can die (a fatal signal does
	// not interrupt a module's init), so the module may well end up live.
	InLoad bool `json:"in_load"`
}

// cmdChaos SIGKILLs a random `gudevd worker` process at random intervals,
// at most -max times, until it is signalled; then it writes what it killed.
// A worker is a child of the daemon; the daemon must notice the death, and
// no module may be lost or loaded twice for it.
func cmdChaos(ctx context.Context, args []string, stdout io.Writer) error {
	fl := flag.NewFlagSet("chaos", flag.ContinueOnError)
	minWait := fl.Duration("min", 50*time.Millisecond, "shortest wait between kills")
	maxWait := fl.Duration("max", 400*time.Millisecond, "longest wait between kills")
	maxKills := fl.Int("kills", 12, "kills at most")
	seed := fl.Uint64("seed", 0, "random seed (0: from the clock)")
	proc := fl.String("proc", "/proc", "proc mount")
	out := fl.String("out", "", "file for the JSON result (default stdout)")
	inLoads := fl.Bool("in-loads", false, "also kill workers inside finit_module or init_module")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *maxWait < *minWait {
		return fmt.Errorf("-max %v is shorter than -min %v", *maxWait, *minWait)
	}
	if *seed == 0 {
		*seed = uint64(time.Now().UnixNano())
	}
	rng := rand.New(rand.NewPCG(*seed, *seed^0x9e3779b97f4a7c15))
	res := Chaos{Seed: *seed, Kills: []ChaosKill{}}
	retry := false
	for len(res.Kills) < *maxKills {
		wait := *minWait + time.Duration(rng.Int64N(int64(*maxWait-*minWait)+1))
		if retry {
			// No worker could be killed at the last look: look again
			// soon, since workers are between loads only briefly.
			wait = 20 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return writeResult(*out, stdout, res)
		case <-time.After(wait):
		}
		res.Looks++
		pids, err := workerPIDs(*proc)
		if err != nil {
			return err
		}
		if !*inLoads {
			pids = outsideLoads(*proc, pids)
		}
		if retry = len(pids) == 0; retry {
			continue
		}
		if k, ok := kill(*proc, pids[rng.IntN(len(pids))]); ok {
			res.Kills = append(res.Kills, k)
		}
	}
	// Done killing: wait for the signal, so the script's kill-and-wait
	// reads the same file whenever it stops this.
	<-ctx.Done()
	return writeResult(*out, stdout, res)
}

// outsideLoads keeps the workers every thread of which is blocked in a
// syscall other than a load. A SIGKILL is pending, not delivered, while
// finit_module runs the module's init, and the init sees it: on 6.1
// ahci's probe failed (-12, its SCSI error handler thread could not be
// spawned) and the disk never appeared; on 6.12 a crypto module's
// registration was cut short and every later load needing its algorithm
// waited crypto_larval_wait's 60 s and failed with ETIMEDOUT, holding the
// coldplug past its settle timeout. That is the kernel's damage, not a
// daemon's fault to survive, so by default the chaos kills workers only
// between loads. A thread on a CPU reads "running" whether it is in user
// space or inside finit_module (relocating, decompressing, running the
// init: two WARNINGs of crypto_wait_for_test came from a worker killed
// "running"), so a running thread keeps its worker alive too.
func outsideLoads(proc string, pids []int) []int {
	var out []int
	for _, pid := range pids {
		if blockedOutsideLoads(proc, pid) {
			out = append(out, pid)
		}
	}
	return out
}

// blockedOutsideLoads reports whether every thread of pid is blocked in a
// syscall that is not a load, as /proc/PID/task/TID/syscall's first field
// (a number, or "running") says.
func blockedOutsideLoads(proc string, pid int) bool {
	dir := filepath.Join(proc, strconv.Itoa(pid), "task")
	tasks, err := os.ReadDir(dir)
	if err != nil || len(tasks) == 0 {
		return false
	}
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, t.Name(), "syscall"))
		if err != nil {
			return false
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			return false
		}
		n, err := strconv.Atoi(f[0])
		if err != nil || n == sysFinitModule || n == sysInitModule {
			return false
		}
	}
	return true
}

// kill SIGKILLs one worker and says what it was doing. A worker that exited
// meanwhile is no kill.
func kill(proc string, pid int) (ChaosKill, bool) {
	k := ChaosKill{PID: pid}
	k.Syscall, k.InLoad = workerSyscall(proc, pid)
	if err := unix.Kill(pid, unix.SIGKILL); err != nil {
		return k, false
	}
	k.Uptime = uptimeAt(proc)
	return k, true
}

// workerSyscall reads /proc/PID/task/*/syscall: a Go worker makes its load
// syscall on whichever thread runs the goroutine, not necessarily the main
// one. It returns the load syscall if a thread is in one, else the main
// thread's first field ("running", or a syscall number).
func workerSyscall(proc string, pid int) (string, bool) {
	dir := filepath.Join(proc, strconv.Itoa(pid), "task")
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return "unknown", false
	}
	main := "unknown"
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, t.Name(), "syscall"))
		f := strings.Fields(string(b))
		if err != nil || len(f) == 0 {
			continue
		}
		if n, err := strconv.Atoi(f[0]); err == nil && (n == sysFinitModule || n == sysInitModule) {
			return f[0], true
		}
		if t.Name() == strconv.Itoa(pid) {
			main = f[0]
		}
	}
	return main, false
}

// workerPIDs lists the processes whose command line is `gudevd worker ...`
// (argv[0] ending in gudevd, argv[1] "worker").
func workerPIDs(proc string) ([]int, error) {
	ents, err := os.ReadDir(proc)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(proc, e.Name(), "cmdline"))
		if err != nil {
			continue // exited meanwhile
		}
		if isWorker(b) {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// isWorker reads a NUL-separated /proc/PID/cmdline.
func isWorker(cmdline []byte) bool {
	argv := bytes.Split(cmdline, []byte{0})
	return len(argv) >= 2 && filepath.Base(string(argv[0])) == "gudevd" && string(argv[1]) == "worker"
}

func uptimeAt(proc string) float64 {
	b, err := os.ReadFile(filepath.Join(proc, "uptime"))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[0], 64)
	return u
}

// writeResult writes v to path, or to stdout when path is empty.
func writeResult(path string, stdout io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	b = append(b, '\n')
	if path == "" {
		_, err = stdout.Write(b)
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	return nil
}
