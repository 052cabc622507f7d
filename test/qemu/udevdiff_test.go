package qemu

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestUdevDiffOnRealKernel is the small case of `qemu-harness udev-diff`:
// the full-boot image with the conformance devices (a GPT+ext4 virtio disk,
// a USB keyboard, e1000 and virtio-net), Debian's 6.1 at 4 vCPUs, booted
// once with systemd-udevd 252 and once with gudevd as systemd-udevd.service.
// Both must pass snapshotProblems' checks (settle, the control ping,
// multi-user.target with device units for the disk and the network cards,
// udevadm info and udevadm monitor served), and every difference between
// what each daemon left (links, nodes' owners and modes, database
// properties, tags, interface names) must be in udevDiffAllowed with its
// reason.
func TestUdevDiffOnRealKernel(t *testing.T) {
	h := qemuHarness(t)
	requireTools(t, "mmdebstrap", "mkfs.ext4", "unshare", "chroot", "xz")
	out := t.TempDir()
	res, err := h.UdevDiff(t.Context(), Kernels[0], DiffUdevd, DiffGudevd, out)
	if err != nil {
		if res != nil && res.B.Boot != nil {
			t.Logf("gudevd's unit log (journalctl -u systemd-udevd):\n%s", res.B.Boot.Files["snapshot/journal-udevd.txt"])
		}
		t.Fatal(err)
	}
	var sum strings.Builder
	WriteUdevDiffSummary(&sum, res)
	t.Logf("\n%s", sum.String())
	for _, p := range res.Problems {
		t.Errorf("%s", p)
	}
	for _, d := range res.Diffs {
		if why, ok := allowed(udevDiffAllowed, d); ok {
			t.Logf("allowed: %s %s [%s]: udevd %q, gudevd %q: %s", d.Kind, d.Key, d.Name, d.A, d.B, why)
			continue
		}
		t.Errorf("%s %s [%s]: udevd %q, gudevd %q", d.Kind, d.Key, d.Name, d.A, d.B)
	}
	if len(res.A.Facts) < 1000 {
		t.Errorf("udevd's snapshot has %d facts: the capture is broken and the diff would be vacuous", len(res.A.Facts))
	}
	if t.Failed() {
		t.Logf("gudevd's unit log (journalctl -u systemd-udevd):\n%s", res.B.Boot.Files["snapshot/journal-udevd.txt"])
	}
}

func TestParseSnapshot(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Fact
		wantErr bool
	}{
		{
			name: "lines",
			in:   "/devices/x/block/vda\tprop\tID_FS_TYPE=ext4\n/dev/vda\tnode\tb fe:0 root disk 0660\n\n",
			want: []Fact{
				{"/devices/x/block/vda", "prop", "ID_FS_TYPE=ext4"},
				{"/dev/vda", "node", "b fe:0 root disk 0660"},
			},
		},
		{
			// A value may hold tabs (a property's value is the rule's).
			name: "tab in value",
			in:   "/devices/x\tprop\tA=b\tc\n",
			want: []Fact{{"/devices/x", "prop", "A=b\tc"}},
		},
		{name: "two fields", in: "/devices/x\tprop\n", wantErr: true},
		{name: "empty key", in: "\tprop\tA=b\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSnapshot([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseSnapshot: error %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseSnapshot (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFactName(t *testing.T) {
	tests := []struct {
		name, kind, value, want string
	}{
		{"property", "prop", "ID_FS_TYPE=ext4", "ID_FS_TYPE"},
		{"property value with +=", "prop", "A=b+=c", "A"},
		{"tag is a set member", "tag", "TAGS+=systemd", "TAGS+=systemd"},
		{"tag file", "tag", "tagfile+=seat", "tagfile+=seat"},
		{"link is a set member", "link", "/dev/disk/by-uuid/x", "/dev/disk/by-uuid/x"},
		{"record field", "record", "N: vda", "N:"},
		{"node has one value per path", "node", "b fe:0 root disk 0660", ""},
		{"unit", "unit", "loaded active plugged QEMU HARDDISK", ""},
		{"query property", "query", "prop DEVNAME=/dev/vda", "prop DEVNAME"},
		{"query link", "query", "link /dev/disk/by-label/root", "link /dev/disk/by-label/root"},
		{"query record", "query", "record N: vda", "record N:"},
		{"monitor tag", "monitor", "tag TAGS+=systemd", "tag TAGS+=systemd"},
		{"monitor event count", "monitor", "#events=1", "#events"},
		{"control", "control", "ping exit=0", "ping exit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := factName(tt.kind, tt.value); got != tt.want {
				t.Errorf("factName(%q, %q) = %q, want %q", tt.kind, tt.value, got, tt.want)
			}
		})
	}
}

func TestDiffSnapshots(t *testing.T) {
	const vda = "/devices/pci0000:00/0000:00:05.0/virtio2/block/vda"
	base := []Fact{
		{vda, "record", "N: vda"},
		{vda, "prop", "ID_FS_TYPE=ext4"},
		{vda, "link", "/dev/disk/by-label/root"},
		{vda, "tag", "TAGS+=systemd"},
		{"/dev/vda", "node", "b fe:0 root disk 0660"},
		{"/dev/disk/by-label/root", "symlink", "../../vda"},
		{"/devices/pci0000:00/0000:00:02.0/net/enp0s2", "netif", "enp0s2"},
	}
	with := func(f ...Fact) []Fact { return append(append([]Fact{}, base...), f...) }
	without := func(drop Fact) []Fact {
		var out []Fact
		for _, f := range base {
			if f != drop {
				out = append(out, f)
			}
		}
		return out
	}
	replace := func(old, new Fact) []Fact { return append(without(old), new) }
	tests := []struct {
		name string
		a, b []Fact
		want []Difference
	}{
		{name: "same", a: base, b: base},
		{
			// Order and repeats carry nothing: the guest sorts, a
			// monitor may print an event twice.
			name: "order and repeats",
			a:    base,
			b:    append(with(base[1]), base[0]),
		},
		{
			name: "changed property is one difference",
			a:    base,
			b:    replace(base[1], Fact{vda, "prop", "ID_FS_TYPE=ext3"}),
			want: []Difference{{Kind: "prop", Key: vda, Name: "ID_FS_TYPE", A: []string{"ID_FS_TYPE=ext4"}, B: []string{"ID_FS_TYPE=ext3"}}},
		},
		{
			name: "missing property",
			a:    with(Fact{vda, "prop", "ID_PART_TABLE_TYPE=gpt"}),
			b:    base,
			want: []Difference{{Kind: "prop", Key: vda, Name: "ID_PART_TABLE_TYPE", A: []string{"ID_PART_TABLE_TYPE=gpt"}}},
		},
		{
			name: "extra link and tag",
			a:    base,
			b:    with(Fact{vda, "link", "/dev/disk/by-path/x"}, Fact{vda, "tag", "CURRENT_TAGS+=systemd"}),
			want: []Difference{
				{Kind: "link", Key: vda, Name: "/dev/disk/by-path/x", B: []string{"/dev/disk/by-path/x"}},
				{Kind: "tag", Key: vda, Name: "CURRENT_TAGS+=systemd", B: []string{"CURRENT_TAGS+=systemd"}},
			},
		},
		{
			name: "node mode and symlink target",
			a:    base,
			b: []Fact{
				base[0], base[1], base[2], base[3],
				{"/dev/vda", "node", "b fe:0 root root 0600"},
				{"/dev/disk/by-label/root", "symlink", "../../vdb"},
				base[6],
			},
			want: []Difference{
				{Kind: "node", Key: "/dev/vda", A: []string{"b fe:0 root disk 0660"}, B: []string{"b fe:0 root root 0600"}},
				{Kind: "symlink", Key: "/dev/disk/by-label/root", A: []string{"../../vda"}, B: []string{"../../vdb"}},
			},
		},
		{
			name: "interface renamed",
			a:    base,
			b:    replace(base[6], Fact{"/devices/pci0000:00/0000:00:02.0/net/eth0", "netif", "eth0"}),
			want: []Difference{
				{Kind: "netif", Key: "/devices/pci0000:00/0000:00:02.0/net/enp0s2", A: []string{"enp0s2"}},
				{Kind: "netif", Key: "/devices/pci0000:00/0000:00:02.0/net/eth0", B: []string{"eth0"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, DiffSnapshots(tt.a, tt.b)); diff != "" {
				t.Errorf("DiffSnapshots (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAllowed(t *testing.T) {
	list := []allowedDiff{
		{Kind: "prop", Name: regexp.MustCompile(`^ID_FOO$`), Reason: "foo"},
		{Kind: "node", Key: regexp.MustCompile(`^/dev/bar[0-9]+$`), Reason: "bar"},
	}
	tests := []struct {
		name   string
		d      Difference
		reason string
		ok     bool
	}{
		{"name matches", Difference{Kind: "prop", Key: "/devices/x", Name: "ID_FOO"}, "foo", true},
		{"name anchored", Difference{Kind: "prop", Key: "/devices/x", Name: "ID_FOOBAR"}, "", false},
		{"kind must match", Difference{Kind: "tag", Key: "/devices/x", Name: "ID_FOO"}, "", false},
		{"key matches", Difference{Kind: "node", Key: "/dev/bar1"}, "bar", true},
		{"key does not", Difference{Kind: "node", Key: "/dev/baz1"}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reason, ok := allowed(list, tt.d)
			if reason != tt.reason || ok != tt.ok {
				t.Errorf("allowed = %q, %v, want %q, %v", reason, ok, tt.reason, tt.ok)
			}
		})
	}
}

func TestSnapshotProblems(t *testing.T) {
	const vda = "/devices/pci0000:00/0000:00:05.0/virtio2/block/vda"
	good := []Fact{
		{"-", "settle", "exit=0"},
		{"-", "control", "ping exit=0"},
		{"-", "state", "system=running"},
		{"multi-user.target", "state", "active"},
		{vda, "record", "N: vda"},
		{"/dev/vda", "query", "prop DEVNAME=/dev/vda"},
		{vda, "monitor", "prop ACTION=change"},
		{"dev-vda.device", "unit", "loaded active plugged /dev/vda"},
		{"/devices/virtual/net/lo", "netif", "lo"},
		{"/devices/pci0000:00/0000:00:02.0/net/enp0s2", "netif", "enp0s2"},
		{"/devices/pci0000:00/0000:00:03.0/virtio0/net/enp0s3", "netif", "enp0s3"},
		{"sys-subsystem-net-devices-enp0s2.device", "unit", "loaded active plugged 82540EM Gigabit Ethernet Controller"},
		{"sys-subsystem-net-devices-enp0s3.device", "unit", "loaded active plugged Virtio network device"},
	}
	drop := func(i int) []Fact { return append(append([]Fact{}, good[:i]...), good[i+1:]...) }
	set := func(i int, f Fact) []Fact {
		out := append([]Fact{}, good...)
		out[i] = f
		return out
	}
	tests := []struct {
		name  string
		facts []Fact
		want  []string
	}{
		{name: "good", facts: good},
		{name: "settle failed", facts: set(0, Fact{"-", "settle", "exit=1"}), want: []string{"udevadm settle did not exit 0"}},
		{name: "no control socket", facts: drop(1), want: []string{"udevadm control --ping did not exit 0"}},
		{name: "degraded", facts: set(2, Fact{"-", "state", "system=degraded"}), want: []string{"systemctl is-system-running --wait did not say running"}},
		{
			name:  "no vda in the database",
			facts: drop(4),
			want:  []string{"udevadm info --export-db has no device with node vda"},
		},
		{name: "monitor heard nothing", facts: drop(6), want: []string{"udevadm monitor --udev received no change event of vda"}},
		{
			// systemd lists a device unit it knows of only from a
			// dependency as "loaded inactive dead".
			name:  "disk unit inactive",
			facts: set(7, Fact{"dev-vda.device", "unit", "loaded inactive dead /dev/vda"}),
			want:  []string{"device unit dev-vda.device is not active"},
		},
		{
			name:  "one network card",
			facts: drop(10),
			want:  []string{"1 network interfaces besides lo ([enp0s2]), want the e1000 and the virtio-net card"},
		},
		{
			name:  "no unit for a card",
			facts: drop(12),
			want:  []string{"device unit sys-subsystem-net-devices-enp0s3.device is not active"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, snapshotProblems(tt.facts)); diff != "" {
				t.Errorf("snapshotProblems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWriteUdevDiffSummary(t *testing.T) {
	r := &UdevDiffResult{
		Kernel: Kernels[0],
		A:      UdevDiffSide{Label: "udevd", Facts: []Fact{{"/dev/a", "node", "x"}, {"/d", "prop", "A=1"}}},
		B:      UdevDiffSide{Label: "gudevd", Facts: []Fact{{"/dev/a", "node", "y"}, {"/d", "prop", "A=1"}}},
		Diffs:  []Difference{{Kind: "node", Key: "/dev/a", A: []string{"x"}, B: []string{"y"}}},
	}
	list := []allowedDiff{{Kind: "node", Reason: "test"}}
	var b strings.Builder
	if err := writeUdevDiffSummary(&b, r, list); err != nil {
		t.Fatal(err)
	}
	want := `udev diff: udevd against gudevd, kernel 6.1, 4 vCPUs

kind          udevd   gudevd differences  allowed
node              1        1           1        1
prop              1        1           0        0
total             2        2           1        1

1 differences, 1 allowed, 0 unexplained; 0 problems
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	var d strings.Builder
	if err := writeUdevDiff(&d, r, list); err != nil {
		t.Fatal(err)
	}
	wantDiff := "--- udevd\n+++ gudevd\n# kernel 6.1, 4 vCPUs; 1 differences\nnode /dev/a\n\t- x\n\t+ y\n\tallowed: test\n"
	if diff := cmp.Diff(wantDiff, d.String()); diff != "" {
		t.Errorf("diff (-want +got):\n%s", diff)
	}
}

func TestNormalizeEnumeration(t *testing.T) {
	// mouse and speaker are the i8042 mouse and the PC speaker as one
	// boot numbered them (input3 and input4) and as the next swapped them.
	mouse := func(in, ev int) []Fact {
		p := fmt.Sprintf("/devices/platform/i8042/serio1/input/input%d", in)
		e := fmt.Sprintf("%s/event%d", p, ev)
		return []Fact{
			{p, "record", fmt.Sprintf("M: input%d", in)},
			{p, "record", fmt.Sprintf("R: %d", in)},
			{p, "prop", `PHYS="isa0060/serio1/input0"`},
			{e, "record", fmt.Sprintf("M: event%d", ev)},
			{e, "record", fmt.Sprintf("D: c 13:%d", 64+ev)},
			{e, "record", fmt.Sprintf("N: input/event%d", ev)},
			{e, "prop", fmt.Sprintf("DEVNAME=/dev/input/event%d", ev)},
			{e, "prop", fmt.Sprintf("MINOR=%d", 64+ev)},
			{e, "link", "/dev/input/by-path/platform-i8042-serio-1-event-mouse"},
			{fmt.Sprintf("/dev/input/event%d", ev), "node", fmt.Sprintf("c d:%x root input 0660", 64+ev)},
			{fmt.Sprintf("/dev/char/13:%d", 64+ev), "symlink", fmt.Sprintf("../input/event%d", ev)},
			{"/dev/input/by-path/platform-i8042-serio-1-event-mouse", "symlink", fmt.Sprintf("../event%d", ev)},
		}
	}
	speaker := func(in, ev int) []Fact {
		p := fmt.Sprintf("/devices/platform/pcspkr/input/input%d", in)
		e := fmt.Sprintf("%s/event%d", p, ev)
		return []Fact{
			{p, "record", fmt.Sprintf("M: input%d", in)},
			{e, "record", fmt.Sprintf("M: event%d", ev)},
			{e, "record", fmt.Sprintf("D: c 13:%d", 64+ev)},
			{fmt.Sprintf("/dev/input/event%d", ev), "node", fmt.Sprintf("c d:%x root input 0660", 64+ev)},
		}
	}
	nic := func(ifindex int) []Fact {
		p := "/devices/pci0000:00/0000:00:01.0/net/enp0s1"
		return []Fact{
			{p, "prop", "INTERFACE=enp0s1"},
			{p, "prop", fmt.Sprintf("IFINDEX=%d", ifindex)},
			{p, "record", fmt.Sprintf("I: %d", ifindex)},
			{p, "netif", "enp0s1"},
		}
	}
	boot := func(parts ...[]Fact) []Fact {
		var out []Fact
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	tests := []struct {
		name string
		a, b []Fact
		want []Difference
	}{
		{
			name: "swapped numbers are the same devices",
			a:    boot(mouse(3, 3), speaker(4, 2), nic(2)),
			b:    boot(mouse(4, 2), speaker(3, 3), nic(3)),
		},
		{
			// The by-path link of the mouse pointing at the speaker's
			// event node is a real difference, and it shows as one.
			name: "link to another device still differs",
			a:    boot(mouse(3, 3), speaker(4, 2)),
			b: func() []Fact {
				f := boot(mouse(4, 2), speaker(3, 3))
				f[11].Value = "../event3"
				return f
			}(),
			want: []Difference{{
				Kind: "symlink", Key: "/dev/input/by-path/platform-i8042-serio-1-event-mouse",
				A: []string{"../event{platform/i8042/serio1}"},
				B: []string{"../event{platform/pcspkr}"},
			}},
		},
		{
			name: "a property other than the node's is left alone",
			a:    boot(mouse(3, 3)),
			b: func() []Fact {
				f := boot(mouse(3, 3))
				f[2].Value = `PHYS="isa0060/serio1/input1"`
				return f
			}(),
			want: []Difference{{
				Kind: "prop", Key: "/devices/platform/i8042/serio1/input/input{platform/i8042/serio1}", Name: "PHYS",
				A: []string{`PHYS="isa0060/serio1/input0"`},
				B: []string{`PHYS="isa0060/serio1/input1"`},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DiffSnapshots(normalizeEnumeration(tt.a), normalizeEnumeration(tt.b))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("diff after normalizeEnumeration (-want +got):\n%s", diff)
			}
		})
	}
}
