package report

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Report is what one guest scenario measured.
type Report struct {
	Scenario     string   `json:"scenario"`
	Kernel       string   `json:"kernel"`
	CPUs         int      `json:"cpus"`
	Start        float64  `json:"start"`   // /proc/uptime when coldplug began
	Settled      float64  `json:"settled"` // /proc/uptime when the manager reported settled
	Calls        []Call   `json:"calls"`
	Loaded       []string `json:"loaded"` // module_load tracepoint: modules that went live
	ModulesStart []string `json:"modules_start"`
	ModulesEnd   []string `json:"modules_end"`
	Lost         int64    `json:"lost"`        // trace entries the ring buffer dropped
	SettleExit   int      `json:"settle_exit"` // exit status of udevadm settle or gudevd settle
}

// Call is one finit_module or init_module syscall.
type Call struct {
	Syscall string  `json:"syscall"` // "finit_module" or "init_module"
	Comm    string  `json:"comm"`
	TID     int     `json:"tid"`
	TGID    int     `json:"tgid"`
	Time    float64 `json:"time"`             // trace timestamp of the enter event
	End     float64 `json:"end,omitempty"`    // trace timestamp of the exit event; 0 until Done
	Args    string  `json:"-"`                // raw arguments; left out of the console report, which must stay short at 64 vCPUs
	Module  string  `json:"module,omitempty"` // from the kprobe; empty if the kernel rejected the image before naming it
	Len     int64   `json:"len,omitempty"`    // init_module's image length
	Ret     int64   `json:"ret"`
	Errno   string  `json:"errno,omitempty"` // "EEXIST" etc. when Ret < 0
	Done    bool    `json:"done"`            // the exit event was seen
}

// ErrMalformed is returned for a trace line that looks like an event but
// cannot be parsed.
var ErrMalformed = errors.New("malformed trace line")

// A trace line with options/record-tgid set:
//
//	udevadm-123     (    120) [002] .....    12.345678: sys_finit_module(fd: 3, uargs: 55d0, flags: 0)
//	udevadm-123     (    120) [002] .....    12.345901: sys_finit_module -> 0xffffffffffffffef
//	udevadm-123     (    120) [002] .....    12.345700: modname: (find_module_all+0x0/0xa0) name="e1000" unformed=1
//
// The tgid column is "-------" when the kernel no longer knows the task.
var lineRE = regexp.MustCompile(`^\s*(.*)-(\d+)\s+\(\s*([\d-]+)\)\s+\[(\d+)\]\s+\S+\s+(\d+\.\d+):\s+(.*)$`)

var (
	enterRE = regexp.MustCompile(`^sys_(finit_module|init_module)\((.*)\)$`)
	exitRE  = regexp.MustCompile(`^sys_(finit_module|init_module) -> (0x[0-9a-f]+|-?\d+)$`)
	nameRE  = regexp.MustCompile(`^modname: \(.*\) name="(.*)" unformed=(\d+)$`)
	loadRE  = regexp.MustCompile(`^module_load: (\S+)`)
	lostRE  = regexp.MustCompile(`entries-in-buffer/entries-written: (\d+)/(\d+)`)
	lenRE   = regexp.MustCompile(`\blen: (?:0x)?([0-9a-f]+)\b`)
)

// ParseTrace reads the text of /sys/kernel/tracing/trace. Each kprobe name
// and exit event belongs to the open call of the same thread: a syscall
// never migrates to another task. Lines it does not know are skipped; a
// line that claims to be a load event but is malformed is an error.
func ParseTrace(r io.Reader) (calls []Call, loaded []string, lost int64, err error) {
	open := map[int]int{} // tid -> index in calls of its unfinished call
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			if m := lostRE.FindStringSubmatch(line); m != nil {
				in, _ := strconv.ParseInt(m[1], 10, 64)
				written, _ := strconv.ParseInt(m[2], 10, 64)
				lost = written - in
			}
			continue
		}
		m := lineRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		tid, _ := strconv.Atoi(m[2])
		tgid, _ := strconv.Atoi(m[3]) // "-------" stays 0
		ts, _ := strconv.ParseFloat(m[5], 64)
		ev := m[6]
		switch {
		case enterRE.MatchString(ev):
			e := enterRE.FindStringSubmatch(ev)
			c := Call{Syscall: e[1], Comm: m[1], TID: tid, TGID: tgid, Time: ts, Args: e[2]}
			if l := lenRE.FindStringSubmatch(e[2]); l != nil && e[1] == "init_module" {
				// Syscall tracepoints print every argument in hex.
				c.Len, _ = strconv.ParseInt(l[1], 16, 64)
			}
			open[tid] = len(calls)
			calls = append(calls, c)
		case exitRE.MatchString(ev):
			e := exitRE.FindStringSubmatch(ev)
			i, ok := open[tid]
			if !ok {
				continue // entered before tracing began
			}
			ret, err := parseRet(e[2])
			if err != nil {
				return nil, nil, 0, fmt.Errorf("parse line %d %q: %w", n, line, err)
			}
			calls[i].Ret, calls[i].End, calls[i].Done = ret, ts, true
			if ret < 0 {
				calls[i].Errno = errnoName(-ret)
			}
			delete(open, tid)
		case nameRE.MatchString(ev):
			// Only the load path asks for unformed modules too; the first
			// such lookup in a call is for the module being loaded.
			e := nameRE.FindStringSubmatch(ev)
			if i, ok := open[tid]; ok && e[2] != "0" && calls[i].Module == "" {
				calls[i].Module = e[1]
			}
		case loadRE.MatchString(ev):
			loaded = append(loaded, loadRE.FindStringSubmatch(ev)[1])
		case strings.HasPrefix(ev, "sys_finit_module") || strings.HasPrefix(ev, "sys_init_module"):
			return nil, nil, 0, fmt.Errorf("parse line %d %q: %w", n, line, ErrMalformed)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, 0, fmt.Errorf("read trace: %w", err)
	}
	return calls, loaded, lost, nil
}

// parseRet reads a syscall return value as printed by the exit tracepoint:
// a hex long, so errors appear as two's complement.
func parseRet(s string) (int64, error) {
	if strings.HasPrefix(s, "0x") {
		u, err := strconv.ParseUint(s[2:], 16, 64)
		if err != nil {
			return 0, fmt.Errorf("%w: return value %q", ErrMalformed, s)
		}
		return int64(u), nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: return value %q", ErrMalformed, s)
	}
	return v, nil
}

// ParseModules returns the module names of a /proc/modules listing.
func ParseModules(b []byte) []string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			out = append(out, f[0])
		}
	}
	return out
}

// kernelErrnos are the kernel-internal codes a syscall can return when a
// signal interrupts it; libc has no names for them. udevd killing a worker
// that waits in finit_module for a module another worker is loading shows
// up as ERESTARTSYS.
var kernelErrnos = map[int64]string{
	512: "ERESTARTSYS",
	513: "ERESTARTNOINTR",
	514: "ERESTARTNOHAND",
	516: "ERESTART_RESTARTBLOCK",
}

func errnoName(e int64) string {
	if n, ok := kernelErrnos[e]; ok {
		return n
	}
	if n := unix.ErrnoName(unix.Errno(e)); n != "" {
		return n
	}
	return fmt.Sprintf("errno %d", e)
}
