package report

import (
	"sort"
	"strings"
)

// Summary is the table row of one scenario run.
type Summary struct {
	Scenario       string
	Kernel         string
	CPUs           int
	LoadSyscalls   int            // every finit_module and init_module
	Distinct       int            // distinct modules named by those calls
	Duplicates     int            // calls beyond the first for a module
	EEXIST         int            // calls that failed because the module was already there
	OtherErrors    int            // calls that failed otherwise
	Unnamed        int            // calls the kprobe could not name
	SettleSeconds  float64        // coldplug start to settled
	ModulesLoaded  int            // in /proc/modules at the end and not at the start
	DuplicateBytes int64          // module bytes the kernel read for duplicate calls
	PerModule      map[string]int // calls per module name
	ByComm         map[string]int // calls per calling command (udevd workers, modprobe, gudevd)
	Failures       map[string]int // "module:ERRNO" -> calls, for errors other than EEXIST
	Lost           int64
}

// Summarize computes a Summary. size gives the bytes a load of a module
// reads (its file size); it may be nil.
func Summarize(r *Report, size func(module string) int64) Summary {
	s := Summary{
		Scenario: r.Scenario, Kernel: r.Kernel, CPUs: r.CPUs,
		LoadSyscalls:  len(r.Calls),
		SettleSeconds: r.Settled - r.Start,
		PerModule:     map[string]int{},
		ByComm:        map[string]int{},
		Failures:      map[string]int{},
		Lost:          r.Lost,
	}
	for _, c := range r.Calls {
		s.ByComm[c.Comm]++
		if c.Errno == "EEXIST" {
			s.EEXIST++
		} else if c.Ret < 0 {
			s.OtherErrors++
			s.Failures[c.Module+":"+c.Errno]++
		}
		if c.Module == "" {
			s.Unnamed++
			continue
		}
		s.PerModule[c.Module]++
		if s.PerModule[c.Module] > 1 {
			s.Duplicates++
			switch {
			case c.Len > 0:
				s.DuplicateBytes += c.Len
			case size != nil:
				s.DuplicateBytes += size(c.Module)
			}
		}
	}
	s.Distinct = len(s.PerModule)
	s.ModulesLoaded = len(NewModules(r))
	return s
}

// NewModules returns the modules in /proc/modules at the end that were not
// there at the start, sorted.
func NewModules(r *Report) []string {
	start := map[string]bool{}
	for _, m := range r.ModulesStart {
		start[m] = true
	}
	var out []string
	for _, m := range r.ModulesEnd {
		if !start[m] {
			out = append(out, m)
		}
	}
	sort.Strings(out)
	return out
}

// Duplicated returns "name×count" for every module loaded more than once,
// most duplicated first.
func (s Summary) Duplicated() []string {
	type mc struct {
		m string
		c int
	}
	var l []mc
	for m, c := range s.PerModule {
		if c > 1 {
			l = append(l, mc{m, c})
		}
	}
	sort.Slice(l, func(i, j int) bool {
		if l[i].c != l[j].c {
			return l[i].c > l[j].c
		}
		return l[i].m < l[j].m
	})
	out := make([]string, len(l))
	for i, x := range l {
		out[i] = x.m + "×" + strings.TrimSpace(itoa(x.c))
	}
	return out
}

func itoa(i int) string {
	b := []byte{}
	if i == 0 {
		return "0"
	}
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}
