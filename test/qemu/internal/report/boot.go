package report

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// AnalyzeTime is `systemd-analyze time`: where a boot's time went, in
// seconds. Phases the machine does not have (firmware and loader under
// QEMU's direct kernel boot, initrd without one) stay 0.
type AnalyzeTime struct {
	Firmware  float64 `json:"firmware,omitempty"`
	Loader    float64 `json:"loader,omitempty"`
	Kernel    float64 `json:"kernel"`
	Initrd    float64 `json:"initrd"`
	Userspace float64 `json:"userspace"`
	Total     float64 `json:"total"`
	Target    string  `json:"target"`    // "multi-user.target"
	TargetAt  float64 `json:"target_at"` // reached after this long in userspace
}

// systemd 252's time_cmd (src/analyze/analyze-time-data.c) prints
//
//	Startup finished in 2.018s (kernel) + 4.201s (initrd) + 20.117s (userspace) = 26.337s
//	multi-user.target reached after 20.080s in userspace.
//
// with each span as format_timespan writes it ("1min 2.345s", "812ms").
var (
	phaseRE  = regexp.MustCompile(`([^+=]+?) \((firmware|loader|kernel|initrd|userspace)\)`)
	totalRE  = regexp.MustCompile(`= (.+?)\s*$`)
	targetRE = regexp.MustCompile(`^(\S+) reached after (.+?) in userspace\.?$`)
	spanRE   = regexp.MustCompile(`^(\d+(?:\.\d+)?)(y|month|w|d|h|min|s|ms|us|µs)$`)
)

// ParseAnalyzeTime reads `systemd-analyze time`'s output.
func ParseAnalyzeTime(text string) (AnalyzeTime, error) {
	var t AnalyzeTime
	found := false
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if rest, ok := strings.CutPrefix(line, "Startup finished in "); ok {
			if err := t.parsePhases(rest); err != nil {
				return t, err
			}
			found = true
			continue
		}
		if m := targetRE.FindStringSubmatch(line); m != nil {
			at, err := ParseTimespan(m[2])
			if err != nil {
				return t, fmt.Errorf("parse %q: %w", line, err)
			}
			t.Target, t.TargetAt = m[1], at
		}
	}
	if !found {
		return t, fmt.Errorf("parse systemd-analyze time: no \"Startup finished\" line in %q", strings.TrimSpace(text))
	}
	return t, nil
}

func (t *AnalyzeTime) parsePhases(s string) error {
	for _, m := range phaseRE.FindAllStringSubmatch(s, -1) {
		v, err := ParseTimespan(strings.TrimSpace(m[1]))
		if err != nil {
			return fmt.Errorf("parse %s time %q: %w", m[2], m[1], err)
		}
		switch m[2] {
		case "firmware":
			t.Firmware = v
		case "loader":
			t.Loader = v
		case "kernel":
			t.Kernel = v
		case "initrd":
			t.Initrd = v
		case "userspace":
			t.Userspace = v
		}
	}
	m := totalRE.FindStringSubmatch(s)
	if m == nil {
		return fmt.Errorf("parse systemd-analyze time: no total in %q", s)
	}
	v, err := ParseTimespan(m[1])
	if err != nil {
		return fmt.Errorf("parse total %q: %w", m[1], err)
	}
	t.Total = v
	return nil
}

// ParseTimespan reads a span as systemd's format_timespan prints it: units
// from years to microseconds, largest first, separated by spaces, the last
// with a fraction ("1min 2.345s", "812ms", "1h 2min 3.000s").
func ParseTimespan(s string) (float64, error) {
	unit := map[string]float64{
		"y": 31557600, "month": 2629800, "w": 604800, "d": 86400, "h": 3600,
		"min": 60, "s": 1, "ms": 1e-3, "us": 1e-6, "µs": 1e-6,
	}
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return 0, fmt.Errorf("parse time span %q: empty", s)
	}
	var total float64
	for _, f := range fields {
		m := spanRE.FindStringSubmatch(f)
		if m == nil {
			return 0, fmt.Errorf("parse time span %q: bad part %q", s, f)
		}
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			return 0, fmt.Errorf("parse time span %q: %w", s, err)
		}
		total += v * unit[m[2]]
	}
	return total, nil
}

// UnitTime is one line of `systemd-analyze blame`: how long a unit took
// to start.
type UnitTime struct {
	Unit    string  `json:"unit"`
	Seconds float64 `json:"seconds"`
}

// ParseBlame reads `systemd-analyze blame`, slowest first as printed.
func ParseBlame(text string) ([]UnitTime, error) {
	var out []UnitTime
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		v, err := ParseTimespan(strings.Join(f[:len(f)-1], " "))
		if err != nil {
			return nil, fmt.Errorf("parse blame line %q: %w", sc.Text(), err)
		}
		out = append(out, UnitTime{Unit: f[len(f)-1], Seconds: v})
	}
	return out, nil
}

// ChainLink is one unit of `systemd-analyze critical-chain`: when it
// became active (At, after userspace began) and how long it took to start
// (Took, 0 when systemd printed no "+").
type ChainLink struct {
	Unit  string  `json:"unit"`
	Depth int     `json:"depth"`
	At    float64 `json:"at"`
	Took  float64 `json:"took,omitempty"`
}

// critical-chain prints each unit as its tree position, then the name,
// then "@TIME" and maybe "+TIME" (src/analyze/analyze-critical-chain.c):
//
//	multi-user.target @20.080s
//	└─getty.target @20.079s
//	  └─serial-getty@ttyS0.service @20.078s
//	    └─systemd-user-sessions.service @19.957s +110ms
var chainRE = regexp.MustCompile(`^([\s└├│─]*)(\S+) @(.+?)(?: \+(.+))?$`)

// ParseCriticalChain reads `systemd-analyze critical-chain UNIT`; lines
// that name no unit (the two-line preamble) are skipped.
func ParseCriticalChain(text string) ([]ChainLink, error) {
	var out []ChainLink
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " ")
		m := chainRE.FindStringSubmatch(line)
		if m == nil || strings.HasPrefix(line, "The time") {
			continue
		}
		at, err := ParseTimespan(m[3])
		if err != nil {
			return nil, fmt.Errorf("parse critical-chain line %q: %w", line, err)
		}
		l := ChainLink{Unit: m[2], Depth: len([]rune(m[1])) / 2, At: at}
		if m[4] != "" {
			if l.Took, err = ParseTimespan(m[4]); err != nil {
				return nil, fmt.Errorf("parse critical-chain line %q: %w", line, err)
			}
		}
		out = append(out, l)
	}
	return out, nil
}

// ParseFailedUnits reads `systemctl list-units --failed --plain
// --no-legend`: the first field of each line is a unit.
func ParseFailedUnits(text string) []string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			out = append(out, f[0])
		}
	}
	return out
}

// ParseShow reads `systemctl show -p ... UNIT...`: blocks of KEY=VALUE
// lines, separated by blank lines, each with an Id=. It returns the keys
// of each unit by its Id.
func ParseShow(text string) map[string]map[string]string {
	out := map[string]map[string]string{}
	cur := map[string]string{}
	flush := func() {
		if id := cur["Id"]; id != "" {
			out[id] = cur
		}
		cur = map[string]string{}
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			cur[k] = v
		}
	}
	flush()
	return out
}

// BootSummary is one full boot: what systemd-analyze and the trace say.
type BootSummary struct {
	Config  string `json:"config"`
	Kernel  string `json:"kernel"`
	Release string `json:"release"`
	CPUs    int    `json:"cpus"`

	Time AnalyzeTime `json:"time"`
	// RunInit is when the kernel started the initramfs's /init (its "Run
	// /init as init process" line). initramfs-tools' init is not systemd,
	// so systemd-analyze counts the initramfs as kernel time; RunInit
	// splits the two (see KernelSeconds and InitramfsSeconds).
	RunInit float64     `json:"run_init"`
	Blame   []UnitTime  `json:"blame"` // the ten slowest units
	Chain   []ChainLink `json:"chain"` // critical-chain to multi-user.target
	Failed  []string    `json:"failed"`
	State   string      `json:"state"` // systemctl is-system-running

	// TriggerStart is when systemd-udev-trigger started and SettledAt when
	// udev's queue first emptied after it (the settle probe), in seconds
	// since the kernel started; Trigger is the unit's own run (blame).
	TriggerStart float64 `json:"trigger_start"`
	SettledAt    float64 `json:"settled_at"`
	Trigger      float64 `json:"trigger"`
	// GudevdSettledAt is when `gudevd settle` returned after udevadm's,
	// where gudevd runs: udevd's events no longer wait for module loads,
	// so the boot's loads are done only then.
	GudevdSettledAt float64 `json:"gudevd_settled_at,omitempty"`

	// Loads counts every load syscall of the boot; InitrdLoads those made
	// before the switch to the root file system (kernel + initrd time).
	Loads       Summary  `json:"loads"`
	InitrdLoads int      `json:"initrd_loads"`
	Modules     []string `json:"modules"` // /proc/modules at the report
}

// LoadsDoneAt is when the boot's coldplug loads were done, in seconds
// since the kernel started: udevd's settle, or gudevd's where later.
func (b BootSummary) LoadsDoneAt() float64 {
	return max(b.SettledAt, b.GudevdSettledAt)
}

// SwitchRoot is when the root system's systemd started, in seconds since
// the kernel did: what came before is the initramfs's.
func (b BootSummary) SwitchRoot() float64 {
	return b.Time.Kernel + b.Time.Initrd
}

// ReadRun reads the files of one kept run (a directory a report was
// written to), by name.
func ReadRun(dir string) (map[string][]byte, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read run: %w", err)
	}
	files := map[string][]byte{}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		if files[e.Name()], err = os.ReadFile(filepath.Join(dir, e.Name())); err != nil {
			return nil, fmt.Errorf("read run: %w", err)
		}
	}
	return files, nil
}

// KernelSeconds is the kernel's own start: to /init when the initramfs
// does not report its time to systemd, else systemd-analyze's kernel time.
func (b BootSummary) KernelSeconds() float64 {
	if b.Time.Initrd == 0 && b.RunInit > 0 && b.RunInit < b.Time.Kernel {
		return b.RunInit
	}
	return b.Time.Kernel
}

// InitramfsSeconds is the time from /init to the root system's systemd.
func (b BootSummary) InitramfsSeconds() float64 {
	if b.Time.Initrd > 0 {
		return b.Time.Initrd
	}
	return b.Time.Kernel - b.KernelSeconds()
}

// SettleSeconds is the coldplug of the root system: trigger start to
// settled.
func (b BootSummary) SettleSeconds() float64 {
	if b.SettledAt == 0 || b.TriggerStart == 0 {
		return 0
	}
	return b.SettledAt - b.TriggerStart
}

// SummarizeBoot reads the files the report unit sent.
func SummarizeBoot(config, kernel string, files map[string][]byte) (BootSummary, error) {
	s := BootSummary{Config: config, Kernel: kernel}
	s.Release = strings.TrimSpace(string(files["kernel.txt"]))
	s.CPUs, _ = strconv.Atoi(strings.TrimSpace(string(files["cpus.txt"])))
	var err error
	if s.Time, err = ParseAnalyzeTime(string(files["analyze-time.txt"])); err != nil {
		return s, err
	}
	blame, err := ParseBlame(string(files["blame.txt"]))
	if err != nil {
		return s, err
	}
	for _, u := range blame {
		if u.Unit == "systemd-udev-trigger.service" {
			s.Trigger = u.Seconds
		}
	}
	s.Blame = blame[:min(10, len(blame))]
	if s.Chain, err = ParseCriticalChain(string(files["critical-chain.txt"])); err != nil {
		return s, err
	}
	s.Failed = ParseFailedUnits(string(files["failed.txt"]))
	s.State, _, _ = strings.Cut(strings.TrimSpace(string(files["system-state.txt"])), "\n")
	show := ParseShow(string(files["units.txt"]))
	if us, err := strconv.ParseFloat(show["systemd-udev-trigger.service"]["ExecMainStartTimestampMonotonic"], 64); err == nil {
		s.TriggerStart = us / 1e6
	}
	s.SettledAt = settledAt(string(files["settled.txt"]), "udevadm")
	s.GudevdSettledAt = settledAt(string(files["settled.txt"]), "gudevd")
	s.RunInit = runInit(string(files["journal.txt"]))
	calls, loaded, lost, err := ParseTrace(bytes.NewReader(files["trace.txt"]))
	if err != nil {
		return s, err
	}
	s.Modules = ParseModules(files["modules.txt"])
	r := &Report{Scenario: config, Kernel: kernel, CPUs: s.CPUs, Calls: calls, Loaded: loaded, Lost: lost, ModulesEnd: s.Modules}
	s.Loads = Summarize(r, nil)
	for _, c := range calls {
		if c.Time < s.SwitchRoot() {
			s.InitrdLoads++
		}
	}
	return s, nil
}

// runInit finds the kernel's "Run /init as init process" line in a
// journal printed with -o short-monotonic ("[    9.042706] host kernel:
// Run /init as init process").
func runInit(journal string) float64 {
	for _, line := range strings.Split(journal, "\n") {
		if !strings.HasSuffix(line, "kernel: Run /init as init process") {
			continue
		}
		ts, _, ok := strings.Cut(strings.TrimPrefix(line, "["), "]")
		if !ok {
			return 0
		}
		v, _ := strconv.ParseFloat(strings.TrimSpace(ts), 64)
		return v
	}
	return 0
}

// settledAt reads the settle probe's "udevadm settle=0 at=12.34" (or
// "gudevd settle=...") line.
func settledAt(text, who string) float64 {
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, who+" settle=") {
			continue
		}
		if _, at, ok := strings.Cut(line, " at="); ok {
			v, _ := strconv.ParseFloat(strings.TrimSpace(at), 64)
			return v
		}
	}
	return 0
}
