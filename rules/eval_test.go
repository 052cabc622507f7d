package rules

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const absent = "<absent>"

type evalCase struct {
	name   string
	dev    string // path below /sys
	action string // "add" when empty
	rules  string
	setup  func(h *FakeHost)
	extra  []Property // more properties of the uevent
	// props are checked values of the final properties (absent: none).
	props map[string]string
	links []string // Devlinks, when not nil
	tags  []string // CurrentTags, when not nil
	run   []string // Run commands, when not nil
	diags []string // substrings each diagnostic must hold, in order, when not nil
	err   error    // errors.Is target
	check func(t *testing.T, r *Result, h *FakeHost)
}

func runEvalCases(t *testing.T, cases []evalCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newTestHost()
			if c.setup != nil {
				c.setup(h)
			}
			action := c.action
			if action == "" {
				action = "add"
			}
			dev := eventDevice(t, h.Sysfs, c.dev, action)
			dev.Props = append(dev.Props, c.extra...)
			r, err := Eval(t.Context(), testRules(t, c.rules), dev, h)
			if c.err != nil || err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("error %v, want %v", err, c.err)
				}
			}
			checkResult(t, c, r, h)
		})
	}
}

func checkResult(t *testing.T, c evalCase, r *Result, h *FakeHost) {
	t.Helper()
	for k, want := range c.props {
		got, ok := r.Property(k)
		if !ok {
			got = absent
		}
		if got != want {
			t.Errorf("property %s = %q, want %q", k, got, want)
		}
	}
	if c.links != nil {
		if d := cmp.Diff(c.links, r.Devlinks, emptyNil()); d != "" {
			t.Errorf("devlinks (-want +got):\n%s", d)
		}
	}
	if c.tags != nil {
		if d := cmp.Diff(c.tags, r.CurrentTags, emptyNil()); d != "" {
			t.Errorf("current tags (-want +got):\n%s", d)
		}
	}
	if c.run != nil {
		var got []string
		for _, x := range r.Run {
			got = append(got, x.Command)
		}
		if d := cmp.Diff(c.run, got, emptyNil()); d != "" {
			t.Errorf("run (-want +got):\n%s", d)
		}
	}
	if c.diags != nil {
		checkDiags(t, c.diags, r.Diagnostics)
	}
	if c.check != nil {
		c.check(t, r, h)
	}
}

func checkDiags(t *testing.T, want []string, got []Diagnostic) {
	t.Helper()
	if len(want) != len(got) {
		t.Errorf("diagnostics %q, want %d holding %q", got, len(want), want)
		return
	}
	for i, w := range want {
		if !strings.Contains(got[i].String(), w) {
			t.Errorf("diagnostic %d %q does not hold %q", i, got[i], w)
		}
	}
}

// emptyNil makes nil and empty slices equal.
func emptyNil() cmp.Option {
	return cmp.FilterValues(func(a, b []string) bool { return len(a) == 0 && len(b) == 0 }, cmp.Ignore())
}

func TestEvalMatches(t *testing.T) {
	runEvalCases(t, []evalCase{
		{name: "kernel plain", dev: sataSda, rules: `KERNEL=="sda", ENV{X}="1"`, props: map[string]string{"X": "1"}},
		{name: "kernel glob", dev: sataSda, rules: `KERNEL=="sd*[a-z]", ENV{X}="1"`, props: map[string]string{"X": "1"}},
		{name: "kernel nomatch stops line", dev: sataSda, rules: `KERNEL=="sdb", ENV{X}="1"`, props: map[string]string{"X": absent}},
		{name: "kernel != ", dev: sataSda, rules: `KERNEL!="sdb", ENV{X}="1"`, props: map[string]string{"X": "1"}},
		{name: "alternatives", dev: sataSda, rules: `KERNEL=="hd*|sd*|vd*", ENV{X}="1"`, props: map[string]string{"X": "1"}},
		{name: "alternatives != none", dev: sataSda, rules: `KERNEL!="hd*|sd*", ENV{X}="1"`, props: map[string]string{"X": absent}},
		{name: "empty alternative matches empty", dev: sataSda, rules: `ENV{NOPE}=="|foo", ENV{X}="1"`, props: map[string]string{"X": "1"}},
		{name: "empty matches missing", dev: sataSda, rules: `ENV{NOPE}=="", ENV{X}="1"`, props: map[string]string{"X": "1"}},
		{name: "?* is nonempty", dev: sataSda, rules: "ENV{NOPE}==\"?*\", ENV{X}=\"1\"\nENV{DEVTYPE}==\"?*\", ENV{Y}=\"1\"", props: map[string]string{"X": absent, "Y": "1"}},
		{name: "action", dev: sataSda, action: "change", rules: `ACTION=="add", ENV{X}="1"` + "\n" + `ACTION=="change", ENV{Y}="1"`, props: map[string]string{"X": absent, "Y": "1"}},
		{name: "devpath", dev: sataSda, rules: `DEVPATH=="/devices/pci*/block/sda", ENV{X}="1"`, props: map[string]string{"X": "1"}},
		{name: "subsystem and devtype", dev: sataSda, rules: `SUBSYSTEM=="block", ENV{DEVTYPE}=="disk", ENV{X}="1"`, props: map[string]string{"X": "1"}},
		{name: "subsystem==subsystem", dev: sataSda, rules: `SUBSYSTEM=="subsystem", ENV{X}="1"`, props: map[string]string{"X": absent}},
		{name: "driver empty for disk", dev: sataSda, rules: `DRIVER=="", ENV{X}="1"`, props: map[string]string{"X": "1"}},
		{name: "driver of uevent", dev: sataSdev, rules: `DRIVER=="sd", ENV{X}="1"`, props: map[string]string{"X": "1"}},
		{name: "attr trailing whitespace trimmed", dev: sataSdev, rules: `ATTR{vendor}=="ATA", ENV{X}="1"`, props: map[string]string{"X": "1"}},
		{name: "attr trailing whitespace kept when asked", dev: sataSdev, rules: `ATTR{vendor}=="ATA     ", ENV{X}="1"`, props: map[string]string{"X": "1"}},
		{name: "attr kept whitespace mismatch", dev: sataSdev, rules: `ATTR{vendor}=="ATA ", ENV{X}="1"`, props: map[string]string{"X": absent}},
		{name: "attr missing", dev: sataSda, rules: `ATTR{nope}=="", ENV{X}="1"`, props: map[string]string{"X": absent}},
		{name: "attr through link", dev: sataSda, rules: `ATTR{device/model}=="QEMU HARDDISK", ENV{X}="1"`, props: map[string]string{"X": "1"}},
		{name: "attr subsys kernel", dev: sataSda, rules: `ATTR{[dmi/id]sys_vendor}=="QEMU", ENV{X}="1"`, props: map[string]string{"X": "1"}},
		{name: "attrs substituted name", dev: sataSda + "/sda1", rules: `ATTRS{$kernel/partition}=="1", ENV{X}="$id"`, props: map[string]string{"X": "sda"}},
		{name: "attr driver link value", dev: sataSdev, rules: `ATTR{driver}=="sd", ENV{X}="1"`, props: map[string]string{"X": "1"}},
		{name: "attr other link refused", dev: sataSda, rules: `ATTR{device}=="?*", ENV{X}="1"`, props: map[string]string{"X": absent}},
		{name: "const", dev: sataSda, rules: `CONST{arch}=="x86-64", CONST{virt}=="kvm|qemu", ENV{X}="1"`, props: map[string]string{"X": "1"}},
		{name: "sysctl", dev: virtioNet, rules: `SYSCTL{net.ipv4.conf.$kernel.forwarding}=="1", ENV{X}="1"`,
			setup: func(h *FakeHost) { h.Sysctls["net/ipv4/conf/eth0/forwarding"] = " 1\n" }, props: map[string]string{"X": "1"}},
		{name: "sysctl missing is empty", dev: virtioNet, rules: `SYSCTL{kernel.nope}=="", ENV{X}="1"`, props: map[string]string{"X": "1"}},
		{name: "env of kernel", dev: sataSda, rules: `ENV{DISKSEQ}=="1", ENV{X}="1"`, props: map[string]string{"X": "1"}},
		{name: "name matches NAME=", dev: virtioNet, rules: "NAME=\"lan0\"\nNAME==\"lan0\", ENV{X}=\"1\"", props: map[string]string{"X": "1"}},
		{name: "tag match current only", dev: sataSda, rules: "TAG==\"old\", ENV{X}=\"1\"\nTAG+=\"systemd\"\nTAG==\"systemd\", ENV{Y}=\"1\"",
			setup: func(h *FakeHost) {}, props: map[string]string{"X": absent, "Y": "1"}},
		{name: "symlink match", dev: sataSda, rules: "SYMLINK+=\"disk/by-id/ata-x\"\nSYMLINK==\"disk/by-id/*\", ENV{X}=\"1\"\nSYMLINK!=\"disk/by-id/*\", ENV{Y}=\"1\"",
			props: map[string]string{"X": "1", "Y": absent}},
	})
}

func TestEvalParents(t *testing.T) {
	runEvalCases(t, []evalCase{
		{name: "kernels includes device", dev: sataSda, rules: `KERNELS=="sda", ENV{X}="$id"`, props: map[string]string{"X": "sda"}},
		{name: "subsystems drivers same parent", dev: sataSda, rules: `SUBSYSTEMS=="scsi", DRIVERS=="sd", ENV{X}="$id $driver"`, props: map[string]string{"X": "0:0:0:0 sd"}},
		{name: "attrs on same parent", dev: sataSda, rules: `SUBSYSTEMS=="scsi", ATTRS{vendor}=="ATA", ATTRS{model}=="QEMU*", ENV{X}="$id"`, props: map[string]string{"X": "0:0:0:0"}},
		{name: "parent tokens split across parents fail", dev: sataSda, rules: `DRIVERS=="ahci", ATTRS{model}=="QEMU*", ENV{X}="1"`, props: map[string]string{"X": absent}},
		{name: "pci parent", dev: sataSda, rules: `SUBSYSTEMS=="pci", ATTRS{vendor}=="0x8086", ENV{X}="$id $attr{vendor}"`, props: map[string]string{"X": "0000:00:1f.2 0x8086"}},
		{name: "failed walk leaves no id", dev: sataSda, rules: "KERNELS==\"nothere\", ENV{X}=\"1\"\nENV{Y}=\"[$id]\"", props: map[string]string{"X": absent, "Y": "[]"}},
		{name: "id persists to later lines", dev: sataSda, rules: "SUBSYSTEMS==\"scsi\", ENV{A}=\"1\"\nENV{Y}=\"$id\"", props: map[string]string{"Y": "0:0:0:0"}},
		{name: "match-only line does not walk", dev: sataSda, rules: "SUBSYSTEMS==\"scsi\", ENV{A}=\"1\"\nKERNELS==\"sda\"\nENV{Y}=\"$id\"", props: map[string]string{"Y": "0:0:0:0"}},
		{name: "tags of parent from db", dev: sataSda, rules: `TAGS=="seat", ENV{X}="$id"`,
			setup: func(h *FakeHost) { h.DB["/sys/"+sataPCI] = &DB{CurrentTags: []string{"seat"}} }, props: map[string]string{"X": "0000:00:1f.2"}},
		{name: "net device parent", dev: virtioNet, rules: `SUBSYSTEMS=="virtio", DRIVERS=="virtio_net", ENV{X}="$id"`, props: map[string]string{"X": "virtio0"}},
		{name: "input keyboard", dev: kbdEvent, rules: `KERNELS=="serio*", DRIVERS=="atkbd", ENV{X}="$driver"` + "\n" + `ATTRS{name}=="AT Translated*", ENV{N}="$attr{name}"`,
			props: map[string]string{"X": "atkbd", "N": "AT Translated Set 2 keyboard"}},
	})
}

func TestEvalGoto(t *testing.T) {
	runEvalCases(t, []evalCase{
		{name: "goto skips", dev: sataSda, rules: "SUBSYSTEM==\"block\", GOTO=\"end\"\nENV{X}=\"1\"\nLABEL=\"end\"\nENV{Y}=\"1\"",
			props: map[string]string{"X": absent, "Y": "1"}},
		{name: "goto not taken when line fails", dev: sataSda, rules: "SUBSYSTEM==\"net\", GOTO=\"end\"\nENV{X}=\"1\"\nLABEL=\"end\"",
			props: map[string]string{"X": "1"}},
		{name: "goto to a label line with tokens", dev: sataSda, rules: "GOTO=\"l\"\nENV{X}=\"1\"\nLABEL=\"l\", ENV{Y}=\"1\"",
			props: map[string]string{"X": absent, "Y": "1"}},
		{name: "unresolved goto ignored", dev: sataSda, rules: "GOTO=\"nowhere\", ENV{A}=\"1\"\nENV{X}=\"1\"", props: map[string]string{"A": "1", "X": "1"}},
	})
}

func TestEvalLineSkipped(t *testing.T) {
	runEvalCases(t, []evalCase{
		{name: "symlink line skipped for netif", dev: virtioNet, rules: `SYMLINK+="x"`, links: []string{}},
		{name: "name line skipped for disk", dev: sataSda, rules: `NAME="x"`, diags: []string{}},
		{name: "name with update diagnoses", dev: sataSda, rules: `NAME="x", ENV{A}="1"`, diags: []string{"test.rules:1: Only network interfaces can be renamed"}},
		{name: "devlink lines skipped on remove", dev: sataSda, action: "remove", rules: `SYMLINK+="x"`, links: []string{}},
	})
}

func TestEvalTest(t *testing.T) {
	runEvalCases(t, []evalCase{
		{name: "relative to syspath", dev: sataSda + "/sda1", rules: `TEST=="partition", ENV{X}="1"`, props: map[string]string{"X": "1"}},
		{name: "missing", dev: sataSda, rules: "TEST==\"partition\", ENV{X}=\"1\"\nTEST!=\"partition\", ENV{Y}=\"1\"", props: map[string]string{"X": absent, "Y": "1"}},
		{name: "absolute glob dir", dev: sataSda, rules: `TEST=="/sys/devices/*/i8042/uevent", ENV{X}="1"`, props: map[string]string{"X": "1"}},
		{name: "subsys kernel", dev: sataSda, rules: `TEST=="[dmi/id]sys_vendor", ENV{X}="1"`, props: map[string]string{"X": "1"}},
		{name: "mode bits", dev: sataSda, rules: "TEST{0200}==\"/sys/devices/virtual/dmi/id/product_serial\", ENV{X}=\"1\"\nTEST{0444}==\"/sys/devices/virtual/dmi/id/product_serial\", ENV{Y}=\"1\"",
			props: map[string]string{"X": "1", "Y": absent}},
		{name: "outside sys", dev: sataSda, rules: `TEST=="/etc/udev/x.conf", ENV{X}="1"`, setup: func(h *FakeHost) { h.Files["/etc/udev/x.conf"] = "" },
			props: map[string]string{"X": "1"}},
	})
}

func TestEvalProgram(t *testing.T) {
	prog := func(out string) func(h *FakeHost) {
		return func(h *FakeHost) { h.Programs["/bin/p sda"] = FakeProgram{Stdout: out} }
	}
	runEvalCases(t, []evalCase{
		{name: "result same line", dev: sataSda, setup: prog("foo bar\n\n"), rules: `PROGRAM="/bin/p %k", RESULT=="foo*", ENV{X}="%c{2}"`, props: map[string]string{"X": "bar"}},
		{name: "result later line", dev: sataSda, setup: prog("a*b\n"), rules: "PROGRAM=\"/bin/p $kernel\"\nRESULT==\"a_b\", ENV{X}=\"$result\"", props: map[string]string{"X": "a_b"}},
		{name: "failure clears result", dev: sataSda, setup: prog("x"),
			rules: "PROGRAM=\"/bin/p sda\"\nPROGRAM=\"/bin/none\"\nRESULT==\"\", ENV{X}=\"[%c]\"", props: map[string]string{"X": "[]"}},
		{name: "program != on failure", dev: sataSda, rules: `PROGRAM!="/bin/none", ENV{X}="1"`, props: map[string]string{"X": "1"}},
		{name: "quoted argv", dev: sataSda, rules: `PROGRAM=="/bin/sh -c 'echo $kernel'", ENV{X}="%c"`,
			setup: func(h *FakeHost) { h.Programs["/bin/sh -c echo sda"] = FakeProgram{Stdout: "sda\n"} }, props: map[string]string{"X": "sda"}},
	})
}

func TestEvalControlAndMove(t *testing.T) {
	runEvalCases(t, []evalCase{
		{name: "control property", dev: sataSda, rules: `ENV{GLOBAL}=="on", ENV{X}="[$env{GLOBAL}]"`,
			setup: func(h *FakeHost) { h.Control = map[string]string{"GLOBAL": "on"} }, props: map[string]string{"X": "[]"}},
		{name: "move drops ID_RENAMING", dev: virtioNet, action: "move", rules: `ENV{ID_RENAMING}=="", ENV{X}="1"`,
			extra: []Property{{"ID_RENAMING", "1"}}, props: map[string]string{"X": "1"}},
		{name: "add keeps ID_RENAMING", dev: virtioNet, rules: `ENV{ID_RENAMING}=="", ENV{X}="1"`,
			extra: []Property{{"ID_RENAMING", "1"}}, props: map[string]string{"X": absent}},
	})
}

func TestDeviceFromUevent(t *testing.T) {
	d, err := DeviceFromUevent([]Property{{"ACTION", "add"}, {"DEVPATH", "/devices/virtual/block/loop0"}, {"SUBSYSTEM", "block"},
		{"MAJOR", "7"}, {"MINOR", "0"}, {"DEVNAME", "loop0"}, {"DEVTYPE", "disk"}, {"SEQNUM", "42"}})
	if err != nil {
		t.Fatal(err)
	}
	want := &Device{Syspath: "/sys/devices/virtual/block/loop0", Subsystem: "block", Devtype: "disk", Devname: "/dev/loop0",
		Major: 7, Action: "add", Seqnum: 42, Props: []Property{{"ACTION", "add"}, {"DEVPATH", "/devices/virtual/block/loop0"},
			{"SUBSYSTEM", "block"}, {"MAJOR", "7"}, {"MINOR", "0"}, {"DEVNAME", "/dev/loop0"}, {"DEVTYPE", "disk"}, {"SEQNUM", "42"}}}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("device (-want +got):\n%s", diff)
	}
	if d.Sysname() != "loop0" || d.Sysnum() != "0" || d.Devpath() != "/devices/virtual/block/loop0" {
		t.Errorf("sysname %q sysnum %q devpath %q", d.Sysname(), d.Sysnum(), d.Devpath())
	}
	if _, err := DeviceFromUevent([]Property{{"DEVPATH", "/devices/x"}}); !errors.Is(err, ErrBadUevent) {
		t.Errorf("without ACTION: %v", err)
	}
}

func TestEvalGuards(t *testing.T) {
	h := newTestHost()
	rs := testRules(t, "ENV{A}=\"1\"\nENV{B}=\"1\"")
	rs.Lines[1].Goto, rs.Lines[1].GotoLine = "back", 0 // a malformed backward jump
	r, err := Eval(t.Context(), rs, eventDevice(t, h.Sysfs, sataSda, "add"), h)
	if err != nil || len(r.Diagnostics) != 1 || !strings.Contains(r.Diagnostics[0].Message, "not forward") {
		t.Errorf("backward GOTO: %v %v", err, r.Diagnostics)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Eval(ctx, rs, eventDevice(t, h.Sysfs, sataSda, "add"), h); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
