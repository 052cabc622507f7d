package qemu

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/gudevd/gudevd/test/qemu/internal/report"
)

// newcEntry is one record read back from a newc archive.
type newcEntry struct {
	Mode         uint32
	Data         string
	Major, Minor uint32
}

// readNewc parses a cpio newc archive the way the kernel's initramfs
// unpacker does: 110-byte ASCII header, name, padding to 4, data, padding.
func readNewc(t *testing.T, b []byte) map[string]newcEntry {
	t.Helper()
	out := map[string]newcEntry{}
	for off := 0; ; {
		if len(b)-off < 110 || string(b[off:off+6]) != "070701" {
			t.Fatalf("bad header at %d", off)
		}
		field := func(i int) uint32 {
			v, err := strconv.ParseUint(string(b[off+6+8*i:off+14+8*i]), 16, 32)
			if err != nil {
				t.Fatalf("bad header field %d at %d: %v", i, off, err)
			}
			return uint32(v)
		}
		mode, size, rmaj, rmin, nsize := field(1), field(6), field(9), field(10), field(11)
		name := string(b[off+110 : off+110+int(nsize)-1])
		off = (off + 110 + int(nsize) + 3) &^ 3
		data := string(b[off : off+int(size)])
		off = (off + int(size) + 3) &^ 3
		if name == "TRAILER!!!" {
			if off != len(b) {
				t.Fatalf("%d bytes after the trailer", len(b)-off)
			}
			return out
		}
		if _, dup := out[name]; dup {
			t.Fatalf("%s twice in the archive", name)
		}
		out[name] = newcEntry{Mode: mode, Data: data, Major: rmaj, Minor: rmin}
	}
}

func TestInitramfs(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "tool")
	if err := os.WriteFile(src, []byte("#!/bin/sh\n"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("tool", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	r := NewInitramfs()
	r.File("init", []byte("abc"), 0o755)
	if err := r.Copy("usr/sbin/tool", src); err != nil {
		t.Fatal(err)
	}
	if err := r.Copy("/usr/sbin/link", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	r.Symlink("lib64/ld.so", "/lib/x/ld.so")
	var b bytes.Buffer
	n, err := r.WriteTo(&b)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(b.Len()) {
		t.Errorf("WriteTo returned %d, wrote %d", n, b.Len())
	}
	got := readNewc(t, b.Bytes())
	checks := map[string]newcEntry{
		"init":          {Mode: modeFile | 0o755, Data: "abc"},
		"usr/sbin/tool": {Mode: modeFile | 0o750, Data: "#!/bin/sh\n"},
		"usr/sbin/link": {Mode: modeLink | 0o777, Data: "tool"},
		"lib64/ld.so":   {Mode: modeLink | 0o777, Data: "/lib/x/ld.so"},
		"dev/console":   {Mode: modeChr | 0o600, Major: 5, Minor: 1},
		"usr/sbin":      {Mode: modeDir | 0o755},
		"usr":           {Mode: modeDir | 0o755},
	}
	for name, want := range checks {
		if diff := cmp.Diff(want, got[name]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	// The kernel creates files in archive order: a directory must come
	// before anything in it.
	seen := map[string]bool{}
	for _, name := range orderOf(t, b.Bytes()) {
		if d := filepath.Dir(name); d != "." && !seen[d] {
			t.Errorf("%s comes before its directory %s", name, d)
		}
		seen[name] = true
	}
}

func orderOf(t *testing.T, b []byte) []string {
	var names []string
	for off := 0; off+110 <= len(b); {
		nsize, _ := strconv.ParseUint(string(b[off+94:off+102]), 16, 32)
		size, _ := strconv.ParseUint(string(b[off+54:off+62]), 16, 32)
		name := string(b[off+110 : off+110+int(nsize)-1])
		if name == "TRAILER!!!" {
			break
		}
		names = append(names, name)
		off = (off + 110 + int(nsize) + 3) &^ 3
		off = (off + int(size) + 3) &^ 3
	}
	return names
}

func TestDecodeData(t *testing.T) {
	var tb bytes.Buffer
	zw := gzip.NewWriter(&tb)
	tw := tar.NewWriter(zw)
	for name, body := range map[string]string{"./modaliases.txt": "pci:v1\n", "./uevent/kernel-00001.bin": "add@/x\x00ACTION=add\x00"} {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(body))
	}
	tw.WriteHeader(&tar.Header{Name: "./uevent/", Mode: 0o755, Typeflag: tar.TypeDir})
	tw.Close()
	zw.Close()
	enc := base64.StdEncoding.EncodeToString(tb.Bytes())
	var wrapped strings.Builder
	for len(enc) > 76 { // busybox base64 wraps at 76 and the tty adds \r
		wrapped.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	wrapped.WriteString(enc + "\r\n")
	serial := "noise\r\nGUDEVD-DATA-BEGIN\r\n" + wrapped.String() + "GUDEVD-DATA-END\r\n"

	got, err := decodeData([]byte(serial))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{"modaliases.txt": []byte("pci:v1\n"), "uevent/kernel-00001.bin": []byte("add@/x\x00ACTION=add\x00")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decodeData (-want +got):\n%s", diff)
	}
	if _, err := decodeData([]byte("GUDEVD-DATA-BEGIN\nAAAA\n")); !errors.Is(err, ErrGuestFailed) {
		t.Errorf("truncated data: err = %v, want ErrGuestFailed", err)
	}
	if got, err := decodeData(nil); err != nil || len(got) != 0 {
		t.Errorf("no data: %v, %v; want nothing and no error", got, err)
	}
}

func TestParseReport(t *testing.T) {
	tests := []struct {
		name    string
		console string
		want    *report.Report
	}{
		{"between markers with kernel noise before", "[ 1.0] virtio\r\nGUDEVD-REPORT-BEGIN\r\n{\"scenario\":\"udevd\",\"cpus\":8,\"calls\":[{\"syscall\":\"finit_module\",\"module\":\"e1000\",\"done\":true}]}\r\nGUDEVD-REPORT-END\r\n",
			&report.Report{Scenario: "udevd", CPUs: 8, Calls: []report.Call{{Syscall: "finit_module", Module: "e1000", Done: true}}}},
		{"no report", "Kernel panic - not syncing\n", nil},
		{"unterminated", "GUDEVD-REPORT-BEGIN\n{\"scenario\":\"udevd\"}\n", nil},
		{"not JSON", "GUDEVD-REPORT-BEGIN\nguesttool: open trace: no such file\nGUDEVD-REPORT-END\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseReport([]byte(tt.console))
			if tt.want == nil {
				if !errors.Is(err, ErrGuestFailed) {
					t.Errorf("err = %v, want ErrGuestFailed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestSelectDatagrams runs the selection over the committed guest captures:
// selecting again must keep them all (each is the first of its shape), and
// a repeated shape must go.
func TestSelectDatagrams(t *testing.T) {
	files, err := filepath.Glob("../../uevent/testdata/guest/kernel-6.1-*.bin")
	if err != nil || len(files) == 0 {
		t.Fatalf("no captures: %v", err)
	}
	var dgrams [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dgrams = append(dgrams, b)
	}
	if got := selectDatagrams(dgrams); len(got) != len(dgrams) {
		t.Errorf("reselecting kept %d of %d", len(got), len(dgrams))
	}
	again := append(append([][]byte{}, dgrams...), dgrams[0])
	if got := selectDatagrams(again); len(got) != len(dgrams) {
		t.Errorf("a repeated datagram was kept: %d of %d", len(got), len(again))
	}
}

func TestWriteSVG(t *testing.T) {
	var sums []report.Summary
	for _, sc := range []string{"udevd", "gudevd"} {
		for _, n := range []int{4, 16, 64} {
			sums = append(sums, report.Summary{Scenario: sc, Kernel: "6.1", CPUs: n, LoadSyscalls: n * 10, SettleSeconds: float64(n) / 3})
		}
	}
	var b bytes.Buffer
	if err := WriteSVG(&b, sums); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(&b)
	polylines := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("SVG is not well-formed XML: %v", err)
			}
			break
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
			polylines++
			for _, a := range se.Attr {
				if a.Name.Local == "points" && len(strings.Fields(a.Value)) != 3 {
					t.Errorf("polyline has points %q, want 3", a.Value)
				}
			}
		}
	}
	// Two panels, one line per kernel and scenario in each.
	if polylines != 4 {
		t.Errorf("%d polylines, want 4", polylines)
	}
}

func TestNiceCeil(t *testing.T) {
	for _, tt := range []struct{ in, want float64 }{{0, 1}, {1, 1}, {1.2, 2}, {7, 10}, {140, 200}, {500, 500}} {
		if got := niceCeil(tt.in); got != tt.want {
			t.Errorf("niceCeil(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestDuplicateLoads(t *testing.T) {
	calls := []report.Call{
		{Module: "kvm", Errno: ""},
		{Module: "libata", Errno: "ENOMEM"},
		{Module: "libata", Errno: ""},
		{Module: "pcc_cpufreq", Errno: "EEXIST"},
		{Module: "kvm", Errno: "EEXIST"},
		{Module: "", Errno: "ENOEXEC"},
	}
	got := duplicateLoads(calls)
	if len(got) != 1 || got[0] != "kvm" {
		t.Errorf("duplicateLoads = %v, want [kvm]: a retry after ENOMEM is not a duplicate, a second kvm is", got)
	}
}

// TestStormProblems runs TestRequestStormOnRealKernel's checks on real
// storms (6.1 at 4 vCPUs, saved by `qemu-harness run -out`): each fails
// the other helper's check, so the QEMU test can fail. The kmod run is from
// the first storm program, whose actions started one after another behind
// one wake-up (GOMAXPROCS 1 on a pinned process): one process got to md4
// after it was loaded and never requested crypto-md4, which the barrier
// check catches.
func TestStormProblems(t *testing.T) {
	load := func(name string) report.StormSummary {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		var s report.StormSummary
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	kmod, gudevd := load("storm-6.1-004-kmod-staggered.json"), load("storm-6.1-004-gudevd.json")
	tests := []struct {
		name   string
		s      report.StormSummary
		helper string
		dedup  bool
		want   []string
	}{
		{"gudevd under the gudevd check", gudevd, "/run/gudevd/modprobe", true, nil},
		{"kmod under the kmod check", kmod, "/sbin/modprobe", false, []string{"crypto-md4 requested by 3 of 4 processes"}},
		{"kmod under the gudevd check", kmod, "/run/gudevd/modprobe", true, []string{
			`the kernel's helper was "/sbin/modprobe", want "/run/gudevd/modprobe"`,
			"crypto-md4 requested by 3 of 4 processes",
			"2 load syscalls for af_alg (EEXIST 1), want 1",
			"4 load syscalls for algif_hash (EEXIST 3), want 1",
			"4 load syscalls for can_raw (EEXIST 3), want 1",
			"4 load syscalls for minix (EEXIST 3), want 1",
			"16 load syscalls for 6 storm modules loaded ([af_alg algif_hash can can_raw md4 minix])",
		}},
		{"gudevd under the kmod check", gudevd, "/sbin/modprobe", false, []string{
			`the kernel's helper was "/run/gudevd/modprobe", want "/sbin/modprobe"`,
			"no module loaded twice (6 load syscalls): the storm raced nothing",
		}},
		{"a storm that did not happen", report.StormSummary{Helper: "/run/gudevd/modprobe", Procs: 4}, "/run/gudevd/modprobe", true, []string{
			"net-pf-29 requested by 0 of 4 processes",
			"fs-minix requested by 0 of 4 processes",
			"net-pf-38 requested by 0 of 4 processes",
			"crypto-md4 requested by 0 of 4 processes",
			"net-pf-29 never requested",
			"can-proto-1 never requested",
			"fs-minix never requested",
			"net-pf-38 never requested",
			"algif-hash never requested",
			"crypto-md4 never requested",
			"crypto-md4-all never requested",
			"no storm module loaded",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := stormProblems(tt.s, tt.helper, tt.dedup)
			if diff := cmp.Diff(tt.want, got, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
				t.Errorf("stormProblems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStalled(t *testing.T) {
	for _, tc := range []struct {
		name string
		line string
		cpus int
		want bool
	}{
		// The stock full boot of a CI run: the same thread, counting up.
		{"early report", "[   29.070786] watchdog: BUG: soft lockup - CPU#2 stuck for 27s! [cryptomgr_test:64]", 4, false},
		{"past the limit", "[  169.070802] watchdog: BUG: soft lockup - CPU#2 stuck for 157s! [cryptomgr_test:64]", 4, true},
		{"at the limit", "watchdog: BUG: soft lockup - CPU#0 stuck for 140s! [modprobe:301]", 4, true},
		{"more vCPUs allow more", "[  169.070802] watchdog: BUG: soft lockup - CPU#2 stuck for 157s! [cryptomgr_test:64]", 64, false},
		{"64 vCPUs", "watchdog: BUG: soft lockup - CPU#63 stuck for 440s! [gudevd:301]", 64, true},
		{"rcu stall header has no time", "rcu: INFO: rcu_preempt detected stalls on CPUs/tasks: 418s", 4, false},
		{"rcu kthread starved early", "[   85.498750] rcu: rcu_preempt kthread starved for 20000 jiffies! g-1151 f0x2 RCU_GP_WAIT_FQS(5) ->state=0x0 ->cpu=3", 4, false},
		{"rcu kthread starved past the limit", "[  211.541670] rcu: rcu_preempt kthread starved for 52517 jiffies! g-1151 f0x2 RCU_GP_WAIT_FQS(5) ->state=0x0 ->cpu=3", 4, true},
		{"rcu detected by, past the limit", "rcu: \t(detected by 1, t=36000 jiffies, g=-1151, q=3 ncpus=4)", 4, true},
		{"rcu detected by, early", "rcu: \t(detected by 1, t=5252 jiffies, g=-1151, q=3 ncpus=4)", 4, false},
		{"no seconds", "watchdog: BUG: soft lockup - CPU#2 stuck for s! [x:1]", 4, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := stalled([]byte(tc.line), stallLimit(tc.cpus)); got != tc.want {
				t.Errorf("stalled(%q, %d vCPUs) = %v, want %v", tc.line, tc.cpus, got, tc.want)
			}
		})
	}
	err := fmt.Errorf("%w; last console lines", &stallError{line: "x"})
	if !errors.Is(err, ErrGuestFailed) || !errors.Is(err, ErrEmulatorStall) {
		t.Errorf("a stall error %v is not both ErrGuestFailed and ErrEmulatorStall", err)
	}
}

// TestInstallSteps: each configuration's install, in order, as the
// README's Install section has it.
func TestInstallSteps(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    BootConfig
		want []string
	}{
		{"stock installs nothing", Stock, nil},
		{"unknown", BootConfig("bogus"), nil},
		{"alongside is the README's install", Alongside, []string{
			"make install DESTDIR=ROOT PREFIX=/usr",
			"chroot: systemctl enable gudevd.service",
			"chroot: update-initramfs -u -k all",
		}},
		{"instead replaces udevd in the root system", Instead, []string{
			"make install-replace-udevd DESTDIR=ROOT PREFIX=/usr",
			"chroot: systemctl disable gudevd.service",
			"chroot: update-initramfs -u -k all",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, st := range installSteps(tc.c) {
				got = append(got, st.String())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("installSteps(%s) (-want +got):\n%s", tc.c, diff)
			}
		})
	}
}

// TestConfigKey: the same tree gives each configuration its own root, and
// a change to the tree changes both.
func TestConfigKey(t *testing.T) {
	keys := map[string]string{}
	for _, install := range []string{"aaaa", "bbbb"} {
		for _, c := range []BootConfig{Alongside, Instead} {
			k := configKey(install, installSteps(c))
			if prev, ok := keys[k]; ok {
				t.Errorf("%s with install key %s has key %s, as %s does", c, install, k, prev)
			}
			keys[k] = fmt.Sprintf("%s/%s", c, install)
		}
	}
}

// TestRootStepRun runs host steps against a temporary root: ROOT is
// replaced, the command runs in the repository, and a failure names its
// step.
func TestRootStepRun(t *testing.T) {
	repo, root := t.TempDir(), t.TempDir()
	st := rootStep{host: []string{"sh", "-c", `test "$(pwd)" = "$1" && echo made > "$2/made"`, "sh", repo, "ROOT"}}
	if err := st.run(t.Context(), repo, root); err != nil {
		t.Fatalf("%s: %v", st, err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "made")); err != nil || string(b) != "made\n" {
		t.Errorf("ROOT/made after the step: %q, %v; want \"made\\n\"", b, err)
	}
	err := rootStep{host: []string{"false"}}.run(t.Context(), repo, root)
	var exit *exec.ExitError
	if err == nil || !strings.HasPrefix(err.Error(), "false: ") || !errors.As(err, &exit) {
		t.Errorf("a failing step: %v, want an error naming the step and wrapping the exit status", err)
	}
}

// TestInstallReplaceUdevdTarget: instead's first step is a target of the
// Makefile that installs the drop-in making systemd-udevd.service run
// gudevd daemon --udev.
func TestInstallReplaceUdevdTarget(t *testing.T) {
	repo := filepath.Join("..", "..")
	mk, err := os.ReadFile(filepath.Join(repo, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	target := installSteps(Instead)[0].host[1]
	if !strings.Contains(string(mk), "\n"+target+": install\n") {
		t.Errorf("the Makefile has no %q target built on install", target)
	}
	const conf = "dist/systemd/replace-udevd/systemd-udevd.service.d/gudevd.conf"
	b, err := os.ReadFile(filepath.Join(repo, conf))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\nExecStart=\n", "\nExecStart=/usr/sbin/gudevd daemon --udev\n"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %q", conf, want)
		}
	}
	if !strings.Contains(string(mk), conf) {
		t.Errorf("the Makefile does not install %s", conf)
	}
}

// TestSortBootsConfigs: within a kernel and vCPU count the rows come as
// BootConfigs lists them, stock, alongside, instead, whatever the input
// order.
func TestSortBootsConfigs(t *testing.T) {
	in := []report.BootSummary{
		{Kernel: "6.12", CPUs: 4, Config: "instead"},
		{Kernel: "6.1", CPUs: 16, Config: "stock"},
		{Kernel: "6.1", CPUs: 4, Config: "instead"},
		{Kernel: "6.1", CPUs: 4, Config: "stock"},
		{Kernel: "6.1", CPUs: 4, Config: "alongside"},
		{Kernel: "6.12", CPUs: 4, Config: "stock"},
	}
	sortBoots(in)
	var got []string
	for _, s := range in {
		got = append(got, fmt.Sprintf("%s/%d/%s", s.Kernel, s.CPUs, s.Config))
	}
	want := []string{"6.1/4/stock", "6.1/4/alongside", "6.1/4/instead", "6.1/16/stock", "6.12/4/stock", "6.12/4/instead"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sortBoots (-want +got):\n%s", diff)
	}
}

func TestActiveDeviceUnits(t *testing.T) {
	for _, tc := range []struct {
		name, list string
		want       []string
	}{
		{"empty", "", nil},
		{"active and not", "dev-vda.device loaded active plugged /dev/vda\n" +
			"sys-subsystem-net-devices-ens3.device loaded active plugged 82540EM Gigabit Ethernet Controller\n" +
			"dev-ttyS3.device loaded inactive dead /dev/ttyS3\n" +
			"dev-sda.device not-found inactive dead dev-sda.device\n", []string{"dev-vda.device", "sys-subsystem-net-devices-ens3.device"}},
		{"not a device unit", "systemd-udevd.service loaded active running x\n", nil},
		{"an error message", "Failed to list units: Connection timed out\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, activeDeviceUnits([]byte(tc.list))); diff != "" {
				t.Errorf("activeDeviceUnits (-want +got):\n%s", diff)
			}
		})
	}
}

// TestInstallSource: the install inputs are copied once per process and
// the copy is what later calls get, however the tree changes meanwhile, so
// every configuration of one run installs the same gudevd; tests, bin/ and
// files make install does not take stay out.
func TestInstallSource(t *testing.T) {
	repo := t.TempDir()
	h := &Harness{Cache: t.TempDir()}
	for name, data := range map[string]string{
		"Makefile":                     "install:\n",
		"go.mod":                       "module x\n",
		"cmd/gudevd/main.go":           "package main\n",
		"cmd/gudevd/main_test.go":      "package main\n",
		"dist/systemd/gudevd.service":  "[Unit]\n",
		"rules/udev/80-drivers.rules":  "LABEL=\"drivers_end\"\n",
		"rules/testdata/x.rules":       "x\n",
		"bin/gudevd":                   "ELF",
		"test/qemu/rootfs.go":          "package qemu\n",
		"README.md":                    "# gudevd\n",
		".cache/x":                     "x",
		"modalias/index.go":            "package modalias\n",
		"modalias/testdata/modules.go": "package testdata\n",
	} {
		p := filepath.Join(repo, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dir, key, err := h.installSource(repo)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, "cmd/gudevd/main.go"), []byte("package main // edited\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir2, key2, err := h.installSource(repo)
	if err != nil {
		t.Fatal(err)
	}
	if dir2 != dir || key2 != key {
		t.Errorf("second call: %s (key %s), want the first's %s (key %s)", dir2, key2, dir, key)
	}
	var got []string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			got = append(got, rel)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{".gudevd-done", "Makefile", "cmd/gudevd/main.go", "dist/systemd/gudevd.service", "go.mod",
		"modalias/index.go", "modalias/testdata/modules.go", "rules/udev/80-drivers.rules"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("snapshot files (-want +got):\n%s", diff)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "cmd/gudevd/main.go")); string(b) != "package main\n" {
		t.Errorf("snapshot main.go = %q, want the tree as it was at the first call", b)
	}
	files, err := installInputs(repo)
	if err != nil {
		t.Fatal(err)
	}
	if installKey(files) == key {
		t.Errorf("the edited tree has the snapshot's key %s", key)
	}
}
