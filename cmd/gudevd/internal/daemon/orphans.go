package daemon

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"
)

// orphanPoll is how often waitOrphans looks at the orphans again.
const orphanPoll = 20 * time.Millisecond

// waitOrphans waits, before this daemon loads anything, until no worker of
// a previous daemon is left. A killed daemon's workers are not killed with
// it (a signal pending inside finit_module cuts the module's init short,
// see workers.Config.Start): each finishes the load it is in and exits on
// its socket's EOF. Until its module is in sysfs (initstate "coming")
// nothing tells that such a load is under way, and a load from this daemon
// then would be a second syscall for the module, answered EEXIST, or EBUSY
// while the first one's module is "going". Once the orphans are gone,
// sysfs says what they did: live modules are skipped, absent ones loaded.
// The wait is bounded by the event timeout, since an orphan stuck in a
// module's init would otherwise hold this daemon for ever.
func (d *Daemon) waitOrphans(ctx context.Context) {
	exe := d.cfg.Executable
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			d.log.Warn("find own executable: not waiting for a previous daemon's workers", "err", err)
			return
		}
	}
	pids := orphanWorkers(d.cfg.ProcFS, exe, os.Getpid())
	if len(pids) == 0 {
		return
	}
	d.log.Warn("waiting for workers of a previous daemon to finish their loads", "pids", pids)
	ctx, cancel := context.WithTimeout(ctx, d.cfg.EventTimeout)
	defer cancel()
	t := time.NewTicker(orphanPoll)
	defer t.Stop()
	for len(pids) > 0 {
		select {
		case <-ctx.Done():
			d.log.Warn("previous daemon's workers still running; loading anyway", "pids", pids, "err", ctx.Err())
			return
		case <-t.C:
		}
		pids = stillRunning(d.cfg.ProcFS, pids)
	}
	d.log.Info("previous daemon's workers are gone")
}

// orphanWorkers lists the processes running exe as `worker` that are not
// children of self: /proc/PID/cmdline is argv, NUL-separated, and the pool
// runs every worker as `EXE worker ...`.
func orphanWorkers(proc fs.FS, exe string, self int) []int {
	ents, err := fs.ReadDir(proc, ".")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := fs.ReadFile(proc, e.Name()+"/cmdline")
		if err != nil {
			continue
		}
		argv := bytes.Split(b, []byte{0})
		if len(argv) < 2 || string(argv[0]) != exe || string(argv[1]) != "worker" {
			continue
		}
		if ppid, state, ok := procStat(proc, pid); ok && ppid != self && running(state) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// stillRunning keeps the pids that are neither gone nor zombies: a zombie's
// syscall has returned, and whoever inherited it may never reap it.
func stillRunning(proc fs.FS, pids []int) []int {
	var out []int
	for _, pid := range pids {
		if _, state, ok := procStat(proc, pid); ok && running(state) {
			out = append(out, pid)
		}
	}
	return out
}

func running(state byte) bool { return state != 'Z' && state != 'X' }

// procStat reads the parent and the state of /proc/PID/stat, whose second
// field, the command, is in parentheses and may hold spaces and ')'.
func procStat(proc fs.FS, pid int) (ppid int, state byte, ok bool) {
	b, err := fs.ReadFile(proc, strconv.Itoa(pid)+"/stat")
	if err != nil {
		return 0, 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 || len(f[0]) != 1 {
		return 0, 0, false
	}
	ppid, err = strconv.Atoi(f[1])
	if err != nil {
		return 0, 0, false
	}
	return ppid, f[0][0], true
}
