// Command genlookups writes the lookup strings of the modalias conformance
// test, one a line, for one kernel's module directory. regen.sh runs it;
// the output is deterministic for given inputs.
//
// It synthesises concrete modaliases from the patterns of every bus in
// modules.alias (each wildcard filled in, plus a near miss per pattern),
// and adds module names from modules.dep with '-' and '_', builtin modules
// and builtin aliases, names and globs from the test modprobe.d, strings
// that match nothing, and real modaliases captured in QEMU guests.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

func main() {
	dir := flag.String("dir", "", "module directory (lib/modules/VERSION)")
	guest := flag.String("guest", "", "glob of files with captured modaliases")
	perBus := flag.Int("per-bus", 110, "patterns sampled per bus")
	flag.Parse()
	if err := run(*dir, *guest, *perBus); err != nil {
		fmt.Fprintln(os.Stderr, "genlookups:", err)
		os.Exit(1)
	}
}

type gen struct {
	rng  *rand.Rand
	seen map[string]bool
	out  []string
}

func (g *gen) add(s string) {
	// modprobe would read a leading '-' as an option; nothing real
	// starts with one.
	if s == "" || s[0] == '-' || strings.ContainsAny(s, "\n\t\x00") || g.seen[s] {
		return
	}
	g.seen[s] = true
	g.out = append(g.out, s)
}

func run(dir, guest string, perBus int) error {
	g := &gen{rng: rand.New(rand.NewPCG(1, 2)), seen: map[string]bool{}}
	aliases, err := readAliases(filepath.Join(dir, "modules.alias"))
	if err != nil {
		return err
	}
	byBus := map[string][]string{}
	var buses []string
	for _, a := range aliases {
		b := bus(a)
		if byBus[b] == nil {
			buses = append(buses, b)
		}
		byBus[b] = append(byBus[b], a)
	}
	slices.Sort(buses)
	for _, b := range buses {
		pats := byBus[b]
		n := min(len(pats), perBus)
		for _, i := range g.rng.Perm(len(pats))[:n] {
			s := g.expand(pats[i])
			g.add(s)
			g.add(g.nearMiss(s))
		}
	}
	if err := g.moduleNames(dir); err != nil {
		return err
	}
	// symbol_request() lookups, answered from modules.symbols.
	symbols, err := readAliases(filepath.Join(dir, "modules.symbols"))
	if err != nil {
		return err
	}
	for _, i := range g.rng.Perm(len(symbols))[:min(len(symbols), 150)] {
		g.add(symbols[i])
		g.add(g.nearMiss(symbols[i]))
	}
	g.configCases()
	for _, s := range []string{"nonexistent", "pci:", "usb:", "acpi:", ":", "x", "pci:vZZZZ", "of:", "dmi:",
		"gudevd:nothing", "symbol:printk", "platform:", "virtio:d", "input:b", "]broken", "broken[",
		"hid:b0003g0001v0000046Dp0000C52B", "pci:v*", "usb:v*p*", "char-major-4-64", "block-major-8-0",
		"fs-nonexistent", "net-pf-99", "cpu:type:x86,ven0000fam0006mod0055:feature:,0000,0001,0002,00E6"} {
		g.add(s)
	}
	if guest != "" {
		files, _ := filepath.Glob(guest)
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			for _, l := range strings.Split(string(data), "\n") {
				g.add(strings.TrimSpace(l))
			}
		}
	}
	w := bufio.NewWriter(os.Stdout)
	for _, s := range g.out {
		fmt.Fprintln(w, s)
	}
	return w.Flush()
}

func readAliases(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && f[0] == "alias" {
			out = append(out, strings.Join(f[1:len(f)-1], " "))
		}
	}
	return out, nil
}

// bus names the family of an alias: the text before ':' for modaliases,
// else the first word of names like "fs-ext4" or "net-pf-10".
func bus(a string) string {
	if i := strings.IndexAny(a, ":*?["); i >= 0 {
		return a[:i]
	}
	if i := strings.IndexAny(a, "-_"); i >= 0 {
		return a[:i]
	}
	return "plain"
}

const filler = "0123456789ABCDEFabcdef_:,"

// expand turns a pattern into a string it matches (usually): '*' becomes
// nothing or a few characters, '?' one, a bracket one of its members.
func (g *gen) expand(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '*':
			n := []int{0, 0, 1, 2, 4, 8}[g.rng.IntN(6)]
			for range n {
				b.WriteByte(filler[g.rng.IntN(len(filler))])
			}
		case '?':
			b.WriteByte(filler[g.rng.IntN(16)])
		case '[':
			j := strings.IndexByte(p[i+1:], ']')
			if j < 0 {
				b.WriteByte(c)
				continue
			}
			set := p[i+1 : i+1+j]
			i += j + 1
			set = strings.TrimLeft(set, "!^")
			if set == "" {
				b.WriteByte('x')
			} else {
				b.WriteByte(set[g.rng.IntN(len(set))])
			}
		case '\\':
			if i+1 < len(p) {
				i++
				b.WriteByte(p[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// nearMiss changes, cuts or extends a string by one character.
func (g *gen) nearMiss(s string) string {
	if s == "" {
		return "x"
	}
	i := g.rng.IntN(len(s))
	switch g.rng.IntN(3) {
	case 0:
		return s[:i] + string(filler[g.rng.IntN(16)]) + s[i+1:]
	case 1:
		return s[:i]
	default:
		return s + string(filler[g.rng.IntN(16)])
	}
}

func (g *gen) moduleNames(dir string) error {
	dep, err := os.ReadFile(filepath.Join(dir, "modules.dep"))
	if err != nil {
		return err
	}
	var names []string
	for _, l := range strings.Split(string(dep), "\n") {
		if i := strings.IndexByte(l, ':'); i > 0 {
			names = append(names, modname(l[:i]))
		}
	}
	for _, i := range g.rng.Perm(len(names))[:min(len(names), 300)] {
		n := names[i]
		g.add(n)
		g.add(strings.ReplaceAll(n, "_", "-"))
	}
	builtin, err := os.ReadFile(filepath.Join(dir, "modules.builtin"))
	if err != nil {
		return err
	}
	bl := strings.Fields(string(builtin))
	for _, i := range g.rng.Perm(len(bl))[:min(len(bl), 60)] {
		g.add(modname(bl[i]))
		g.add(strings.ReplaceAll(modname(bl[i]), "_", "-"))
	}
	modinfo, err := os.ReadFile(filepath.Join(dir, "modules.builtin.modinfo"))
	if err != nil {
		return err
	}
	for _, rec := range bytes.Split(modinfo, []byte{0}) {
		if _, a, ok := strings.Cut(string(rec), ".alias="); ok {
			g.add(g.expand(a))
			g.add(a)
		}
	}
	return nil
}

func modname(p string) string {
	p = filepath.Base(p)
	if i := strings.IndexByte(p, '.'); i >= 0 {
		p = p[:i]
	}
	return strings.ReplaceAll(p, "-", "_")
}

// configCases exercise testdata/modprobe.d/gudevd-test.conf.
func (g *gen) configCases() {
	for _, s := range []string{
		"gudevd-test-alias", "gudevd_test_alias", "gudevd:brbx", "gudevd:brbxyz", "gudevd:brdx",
		"gudevd:neg5", "gudevd:negA", "gudevd:neg", "gudevd:caretx", "gudevd:caretY", "gudevd:caret^",
		"gudevd:esc*star1", "gudevd:escXstar", "gudevd:esc\\*star", "gudevd:{brace}z", "gudevd:{brace",
		"gudevd:multi", "gudevd:multi-x", "gudevd:qXq", "gudevd:qq", "gudevd:range1", "gudevd:range3",
		"gudevd:rangey", "gudevd:range-", "gudevd:set]", "gudevd:setx", "gudevd:dash-", "gudevd:dash_",
		"gudevd:dashx", "gudevd:slash/x/y", "gudevd:longcontinued", "gudevd:long", "gudevd:class5",
		"gudevd:opena", "gudevd:open[abc", "gudevd:missing-module", "gudevd-inst", "gudevd_inst",
		"gudevd-inst2", "gudevd-rm", "pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00",
		"psmouse", "serio:ty01pr00id00ex00", "snd-pcsp", "snd_pcsp", "pcspkr", "floppy", "nouveau", "e1000e", "intel-cstate", "intel_cstate", "virtio_net", "uas",
		"joydev", "rtc_cmos", "rtc-cmos", "platform:rtc_cmos", "platform:pcspkr", "battery",
		"virtio:d00000001v00001AF4", "usb:v0421p0492d0455dc00dsc00dp00ic08isc06ip50in00",
		"input:b0019v0000p0000e0000-e0,1,4,11,14,k71,72,73,74,75,76,77,79,7A,7B,7C,7D,7E,7F,80,8C,8E,8F,9B,9C,9D,9E,9F,A3,A4,A5,A6,AC,AD,B7,B8,B9,D9,E2,ram4,l0,1,2,sfw",
		"pci:v000010DEd00001C82sv00001458sd00003747bc03sc00i00",
		"acpi:PNP0C0A:", "cpu:type:x86,ven0000fam0006mod008C:feature:,0000,0001,0002,0003,0004,0005,0006,0007,0008,0009,000B,000C,000D,000E,000F,0010,0011,0013,0015,0016,0017,0018,0019,001A,001B,001C,001D,001F,002B,0034,003A,003B,003D,0068,006A,006B,006C,006D,006F,0070,0072,0074,0075,0076,0078,0079,007C,0080,0081,0082,0083,0084,0085,0087,0088,0089,008B,008C,008D,008E,008F,0091,0092,0093,0094,0095,0096,0097,0098,0099,009A,009B,009C,009D,009E,00C0,00C5,00C8,00E1,00E3,00E4,00E6,00E7,00EB,00EC,00F0,00F1,00F3,00F5,00F6,00F9,00FA,00FB,00FE,00FF,0100,0101,0102,0103,0111,0120,0121,0123,0125,0126,0127,0128,0129,012A,012D,0140,0160,0161,0162,0163,0164,0165,0171,01C0,01C1,01C2,01C4,01C5,01C6,01C7,01C9,01CB,0203,0204,020B,024A,025A,025B,025C,025D,025F",
		"dmi:bvnLENOVO:bvrN2HET50W(1.33):bd06/23/2020:br1.33:efr1.16:svnLENOVO:pn20QDCTO1WW:pvrThinkPadX1Carbon7th:rvnLENOVO:rn20QDCTO1WW:rvrNotDefined:cvnLENOVO:ct10:cvrNone:skuLENOVO_MT_20QD_BU_Think_FM_ThinkPadX1Carbon7th:",
		"dmi:bvnDell Inc.:bvr1.2.3:svnDell Inc.:pnXPS 13 9380:",
	} {
		g.add(s)
	}
}
