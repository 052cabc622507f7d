package modalias

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestResolveAndLookup pins down the two blacklist rules on Debian's 6.1
// tree with testdata/modprobe.d and testdata/cmdline.txt; the conformance
// test checks the same rules against modprobe for every lookup.
func TestResolveAndLookup(t *testing.T) {
	ix, err := Load(kernelSources(t, kernels[0]))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, in        string
		resolve, lookup []string
	}{
		{"blacklisted module named directly", "e1000e", nil, []string{"e1000e"}},
		{"blacklisted module through an alias", "gudevd-test-alias", nil, nil},
		{"blacklisted match dropped, duplicate folded", "usb:v0421p0492d0455dc00dsc00dp00ic08isc06ip50in00", []string{"usb_storage"}, []string{"usb_storage"}},
		{"modprobe.d alias wins over modules.alias", "pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00", []string{"gudevd_override"}, []string{"gudevd_override"}},
		{"blacklisted builtin through builtin alias", "platform:rtc_cmos", nil, nil},
		{"blacklisted builtin named directly", "rtc-cmos", nil, []string{"rtc_cmos"}},
		{"several config aliases, one blacklisted", "gudevd:multi", []string{"battery"}, []string{"battery"}},
		{"install command makes a name", "gudevd-inst", []string{"gudevd_inst"}, []string{"gudevd_inst"}},
		{"symbol_request from modules.symbols", "symbol:phy_modify_changed", []string{"libphy"}, []string{"libphy"}},
		{"command line blacklist", "psmouse", nil, []string{"psmouse"}},
		{"command line blacklist through an alias", "serio:ty01pr00id00ex00", []string{"serio_raw"}, []string{"serio_raw"}},
		{"command line blacklist names are not normalised", "snd-pcsp", []string{"snd_pcsp"}, []string{"snd_pcsp"}},
		{"nothing", "pci:vZZZZ", nil, nil},
		{"unbalanced brackets", "broken[", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d := cmp.Diff(tt.resolve, ix.Resolve(tt.in), cmpopts.EquateEmpty()); d != "" {
				t.Errorf("Resolve(%q) (-want +got):\n%s", tt.in, d)
			}
			if d := cmp.Diff(tt.lookup, ix.Lookup(tt.in), cmpopts.EquateEmpty()); d != "" {
				t.Errorf("Lookup(%q) (-want +got):\n%s", tt.in, d)
			}
		})
	}
	if !ix.Builtin("rtc-cmos") || ix.Builtin("e1000e") {
		t.Error("Builtin: want rtc-cmos builtin and e1000e not")
	}
	if !ix.Exists("snd-hda-intel") || ix.Exists("rtc_cmos") {
		t.Error("Exists: want snd-hda-intel in modules.dep and rtc_cmos not")
	}
	if got, want := ix.Options("e1000e"), "InterruptThrottleRate=3000 debug=1 SmartPowerDownEnable=1"; got != want {
		t.Errorf("Options(e1000e) = %q, want %q", got, want)
	}
	if cmd, ok := ix.InstallCommand("gudevd-inst"); !ok || cmd != "/bin/true" {
		t.Errorf("InstallCommand(gudevd-inst) = %q, %v", cmd, ok)
	}
	if sd, ok := ix.Softdep("ext4"); !ok || !cmp.Equal(sd.Pre, []string{"crypto-crc32c"}) {
		t.Errorf("Softdep(ext4) = %v, %v; want modules.softdep's pre: crypto-crc32c", sd, ok)
	}
	var lines []string
	for _, p := range ix.Problems() {
		var fe *FileError
		if errors.As(p, &fe) {
			lines = append(lines, fmt.Sprintf("%s:%d", fe.File, fe.Line))
		}
	}
	// modprobe reports lines 28, 36, 37 and 48 and the include line; the
	// index files (modules.symbols included, read by the symbol: lookup
	// above) are clean.
	conf := "/usr/lib/modprobe.d/gudevd-test.conf:"
	if d := cmp.Diff([]string{conf + "28", conf + "36", conf + "37", conf + "47", conf + "48"}, lines); d != "" {
		t.Errorf("problem lines (-want +got):\n%s", d)
	}
	if got := ix.Stats().Problems; got != len(lines) {
		t.Errorf("Stats().Problems = %d, want %d", got, len(lines))
	}
}

// TestCandidateAliases pins down what libkmod records about each module a
// lookup finds (kmod_module_new_from_lookup), which decides the blacklist
// and options: the modprobe.d alias pattern that matched, or the
// normalised string looked up, as the module's alias; and the command of
// the first install line naming it exactly for a module found by one.
func TestCandidateAliases(t *testing.T) {
	f := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	ix, err := Load(Sources{
		Modules: fstest.MapFS{
			"modules.dep":             f("kernel/e1000.ko:\nkernel/e1000e.ko:\n"),
			"modules.alias":           f("alias pci:v1234d* e1000e\n"),
			"modules.builtin":         f("kernel/unix.ko\nkernel/rtc_cmos.ko\n"),
			"modules.builtin.modinfo": f("rtc_cmos.alias=platform:rtc_cmos\x00"),
		},
		Root: fstest.MapFS{"etc/modprobe.d/t.conf": f("alias my-* e1000\nalias nic e1000e\n" +
			"install gudevd* /bin/echo glob\ninstall gudevd-x /bin/echo exact\nremove gudevd-rm /bin/true\n" +
			"options my_* star=1\noptions nic n=1\noptions e1000e e=1\noptions pci:v1234d_1 exact=1\nblacklist e1000e\n")},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		lookup       string
		want         []Candidate
		optsByAlias  []string // ModuleOptions(c.Name, c.Alias) for each
		plain, withB []bool   // Blacklists(c, false), Blacklists(c, true)
	}{
		{"my-nic", []Candidate{{Name: "e1000", Alias: "my_*"}}, []string{"star=1"}, []bool{false}, []bool{false}},
		{"nic", []Candidate{{Name: "e1000e", Alias: "nic"}}, []string{"n=1 e=1"}, []bool{true}, []bool{true}},
		{"e1000e", []Candidate{{Name: "e1000e"}}, []string{"e=1"}, []bool{false}, []bool{true}},
		{"pci:v1234d-1", []Candidate{{Name: "e1000e", Alias: "pci:v1234d_1"}}, []string{"e=1 exact=1"}, []bool{true}, []bool{true}},
		{"gudevd-x", []Candidate{{Name: "gudevd_x", Install: "/bin/echo exact"}}, []string{""}, []bool{false}, []bool{false}},
		{"gudevd-rm", []Candidate{{Name: "gudevd_rm"}}, []string{""}, []bool{false}, []bool{false}},
		{"unix", []Candidate{{Name: "unix", Builtin: true}}, []string{""}, []bool{false}, []bool{false}},
		{"platform:rtc_cmos", []Candidate{{Name: "rtc_cmos", Alias: "platform:rtc_cmos", Builtin: true}}, []string{""}, []bool{false}, []bool{false}},
	}
	for _, tt := range tests {
		t.Run(tt.lookup, func(t *testing.T) {
			got := ix.Candidates(tt.lookup)
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Fatalf("Candidates (-want +got):\n%s", d)
			}
			for i, c := range got {
				if o := ix.ModuleOptions(c.Name, c.Alias); o != tt.optsByAlias[i] {
					t.Errorf("ModuleOptions(%q, %q) = %q, want %q", c.Name, c.Alias, o, tt.optsByAlias[i])
				}
				if b := ix.Blacklists(c, false); b != tt.plain[i] {
					t.Errorf("Blacklists(%+v, false) = %v", c, b)
				}
				if b := ix.Blacklists(c, true); b != tt.withB[i] {
					t.Errorf("Blacklists(%+v, true) = %v", c, b)
				}
			}
		})
	}
}

// TestConcurrentResolve runs lookups from several goroutines (meaningful
// under -race): an Index is read-only after Load.
func TestConcurrentResolve(t *testing.T) {
	ix, err := Load(kernelSources(t, kernels[0]))
	if err != nil {
		t.Fatal(err)
	}
	exps := readExpectations(t, kernels[0])
	want := make([][]string, len(exps))
	for i, e := range exps {
		want[i] = ix.Resolve(e.lookup)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < len(exps); i += 4 {
				if got := ix.Resolve(exps[i].lookup); !cmp.Equal(got, want[i]) {
					errs <- fmt.Sprintf("Resolve(%q) = %q concurrently, %q alone", exps[i].lookup, got, want[i])
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// FuzzResolve runs arbitrary strings, wildcards included, through the real
// 6.1 index and checks the relations between the three lookups: answers
// are repeatable and duplicate-free, Resolve and Lookup only return
// candidates, and Lookup drops no more than Resolve does.
func FuzzResolve(f *testing.F) {
	ix, err := Load(kernelSources(f, kernels[0]))
	if err != nil {
		f.Fatal(err)
	}
	for i, e := range readExpectations(f, kernels[0]) {
		if i%50 == 0 {
			f.Add(e.lookup)
		}
	}
	f.Add("pci:v*d*sv*sd*bc*sc*i*")
	f.Add("usb:v0421p0492d04[6-9]*")
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 256 {
			return
		}
		var cands []string
		for _, c := range ix.Candidates(s) {
			cands = append(cands, c.Name)
		}
		res, look := ix.Resolve(s), ix.Lookup(s)
		if !cmp.Equal(res, ix.Resolve(s)) {
			t.Fatalf("Resolve(%q) is not repeatable", s)
		}
		for _, list := range [][]string{res, look} {
			for i, n := range list {
				if !slices.Contains(cands, n) || slices.Contains(list[:i], n) {
					t.Fatalf("Resolve/Lookup(%q) = %q, %q: not unique candidates %q", s, res, look, cands)
				}
			}
		}
		for _, n := range res {
			if !slices.Contains(look, n) {
				t.Fatalf("Lookup(%q) = %q drops %q that Resolve keeps", s, look, n)
			}
		}
	})
}

// TestStatsString: a mapped index does not claim to hold 0 modules (it
// never counts the .bin files' entries); a parsed one gives its counts.
func TestStatsString(t *testing.T) {
	tests := []struct {
		name string
		s    Stats
		want string
	}{
		{"parsed", Stats{Modules: 3, Aliases: 2, ConfigAliases: 1}, "3 modules, 2 aliases, 0 builtin modules, 0 builtin aliases, 1 config aliases, 0 problems"},
		{"mapped", Stats{Mapped: true, ConfigAliases: 1, Problems: 2}, "depmod's .bin indexes, mapped on first use; 1 config aliases, 2 problems"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}
