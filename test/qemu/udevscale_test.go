package qemu

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseScaleSpec(t *testing.T) {
	def := ScaleOptions{Blk: 1000, Net: 1000, SCSI: 200, Reps: 2, CPUs: 4}
	tests := []struct {
		name    string
		spec    string
		want    ScaleOptions
		wantErr bool
	}{
		{name: "empty keeps the defaults", spec: "", want: def},
		{name: "sizes", spec: "blk=10, net=20,scsi=0", want: ScaleOptions{Blk: 10, Net: 20, SCSI: 0, Reps: 2, CPUs: 4}},
		{name: "reps", spec: "reps=1", want: ScaleOptions{Blk: 1000, Net: 1000, SCSI: 200, Reps: 1, CPUs: 4}},
		{name: "no reps", spec: "reps=0", wantErr: true},
		{name: "unknown", spec: "loop=5", wantErr: true},
		{name: "not a number", spec: "blk=many", wantErr: true},
		{name: "negative", spec: "net=-1", wantErr: true},
		{name: "no count", spec: "blk", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseScaleSpec(tt.spec, def)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseScaleSpec(%q) error %v, want error %v", tt.spec, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseScaleSpec(%q) (-want +got):\n%s", tt.spec, diff)
			}
		})
	}
}

const scaleLine = "scenario blk-hotplug devices=1000 wall_ns=12500000000 settle_ns=12000000000 settle_rc=0 cmd_rc=0 missing=0 " +
	"cpu_usec=30000000 cpu_nsec=30000000000 pid1_usec=5000000 mem_peak=104857600 mem_current=52428800 pss_kb=20480 procs=5 updated=1000"

func TestParseScaleResults(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		wantScs    []ScaleScenario
		wantCounts []ScaleCounts
		wantErr    bool
	}{
		{
			name: "scenario and counts",
			in:   scaleLine + "\ncounts blk-hotplug db_block=1003 netifs=3\n\n",
			wantScs: []ScaleScenario{{
				Name: "blk-hotplug", Devices: 1000, WallNS: 12500000000, SettleNS: 12000000000,
				CPUUsec: 30000000, CPUNsec: 30000000000, Pid1Usec: 5000000,
				MemPeak: 100 << 20, MemCurrent: 50 << 20, PSSKB: 20480, Procs: 5, Updated: 1000,
			}},
			wantCounts: []ScaleCounts{{Point: "blk-hotplug", Values: map[string]int{"db_block": 1003, "netifs": 3}}},
		},
		{name: "empty", in: ""},
		{name: "unknown kind", in: "result x a=1\n", wantErr: true},
		{name: "no name", in: "counts\n", wantErr: true},
		{name: "not an integer", in: "counts boot db_total=many\n", wantErr: true},
		{name: "an empty value from a failed command", in: "counts boot db_total=\n", wantErr: true},
		{name: "scenario lacking a field", in: strings.Replace(scaleLine, " pss_kb=20480", "", 1) + "\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scs, cts, err := ParseScaleResults([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseScaleResults error %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.wantScs, scs); diff != "" {
				t.Errorf("scenarios (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantCounts, cts); diff != "" {
				t.Errorf("counts (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseScaleLabel(t *testing.T) {
	tests := []struct {
		name    string
		label   string
		want    []any
		wantErr bool
	}{
		{name: "round trip", label: scaleLabel("6.12", 4, DiffGudevd, 2), want: []any{"6.12", 4, DiffGudevd, 2}},
		{name: "too few parts", label: "6.12-004-udevd", wantErr: true},
		{name: "bad vCPUs", label: "6.12-x-udevd-1", wantErr: true},
		{name: "bad repetition", label: "6.12-004-udevd-x", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, n, c, rep, err := parseScaleLabel(tt.label)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseScaleLabel(%q) error %v, want error %v", tt.label, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if diff := cmp.Diff(tt.want, []any{k, n, c, rep}); diff != "" {
				t.Errorf("parseScaleLabel(%q) (-want +got):\n%s", tt.label, diff)
			}
		})
	}
}

// TestUdevScaleReport writes two runs as the guest would and checks the
// report's comparison rows and counts: the mean, the ratio, and a count on
// which the daemons disagree marked.
func TestUdevScaleReport(t *testing.T) {
	out := t.TempDir()
	runs := map[string]string{
		// The second gudevd line lost 3 interfaces: the report must say so.
		"6.12-004-udevd-1": scaleLine + "\ncounts blk-hotplug db_block=1003 netifs=3\n",
		// A second udevd boot with no gudevd boot to pair with: in the
		// means, not in the per-repetition ratios.
		"6.12-004-udevd-2":  strings.Replace(strings.Replace(scaleLine, "wall_ns=12500000000", "wall_ns=17500000000", 1), "cpu_usec=30000000", "cpu_usec=20000000", 1) + "\ncounts blk-hotplug db_block=1003 netifs=3\n",
		"6.12-004-gudevd-1": strings.Replace(strings.Replace(scaleLine, "wall_ns=12500000000", "wall_ns=25000000000", 1), "cpu_usec=30000000", "cpu_usec=15000000", 1) + "\ncounts blk-hotplug db_block=1003 netifs=0\n",
	}
	for label, res := range runs {
		dir := filepath.Join(out, label, "scale")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "results.txt"), []byte(res), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := UdevScaleReport(out)
	if err != nil {
		t.Fatal(err)
	}
	var labels []string
	for _, r := range got {
		labels = append(labels, r.Label)
	}
	if diff := cmp.Diff([]string{"6.12-004-udevd-1", "6.12-004-gudevd-1", "6.12-004-udevd-2"}, labels); diff != "" {
		t.Errorf("runs, udevd first (-want +got):\n%s", diff)
	}
	md, err := os.ReadFile(filepath.Join(out, "udev-scale.md"))
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, l := range strings.Split(string(md), "\n") {
		if strings.HasPrefix(l, "| 6.12 | 4 | blk-hotplug |") || strings.HasPrefix(l, "| blk-hotplug |") {
			rows = append(rows, l)
		}
	}
	want := []string{
		"| 6.12 | 4 | blk-hotplug | 2/1 | 15.0 | 25.0 | 1.67 | 2.00 | 25.0 | 15.0 | 0.60 | 0.50 | 20.0 | 20.0 |",
		"| blk-hotplug | db_block | 1003 | 1003 | 1003 |  |",
		"| blk-hotplug | netifs | 3 | 0 | 3 | **differs** |",
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("udev-scale.md rows (-want +got):\n%s\n%s", diff, md)
	}
}

func TestRatio(t *testing.T) {
	tests := []struct {
		name string
		a, b float64
		want string
	}{
		{name: "slower", a: 2, b: 3, want: "1.50"},
		{name: "nothing to divide by", a: 0, b: 3, want: "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ratio(tt.a, tt.b); got != tt.want {
				t.Errorf("ratio(%v, %v) = %q, want %q", tt.a, tt.b, got, tt.want)
			}
		})
	}
}
