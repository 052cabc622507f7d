package rules

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func countCalls(h *FakeHost, method string) int {
	n := 0
	for _, c := range h.Calls {
		if c.Method == method {
			n++
		}
	}
	return n
}

func TestEvalImports(t *testing.T) {
	pathID := func(h *FakeHost) {
		h.Builtins["path_id"] = func(argv []string, _ []Property) ([]Property, error) {
			return []Property{{"ID_PATH", "pci-0000:00:1f.2-ata-1"}, {"ID_PATH_TAG", "pci-0000_00_1f_2-ata-1"}}, nil
		}
	}
	runEvalCases(t, []evalCase{
		{name: "program", dev: sataSda, rules: `IMPORT{program}="ata_id --export $devnode"`,
			setup: func(h *FakeHost) {
				h.Programs["/lib/udev/ata_id --export /dev/sda"] = FakeProgram{Stdout: "ID_ATA=1\n# c\n\nID_MODEL='QEMU HARDDISK'\nbad line\nID_EMPTY=\nID_Q=\"x\n"}
			},
			props: map[string]string{"ID_ATA": "1", "ID_MODEL": "QEMU HARDDISK", "ID_EMPTY": absent, "ID_Q": absent},
			check: func(t *testing.T, _ *Result, h *FakeHost) {
				env := h.Calls[len(h.Calls)-1].Env
				if d := cmp.Diff([]string{"ACTION=add", "DEVPATH=/" + sataSda, "SUBSYSTEM=block", "MAJOR=8", "MINOR=0", "DEVNAME=/dev/sda", "DEVTYPE=disk", "DISKSEQ=1", "SEQNUM=1234"}, env); d != "" {
					t.Errorf("env (-want +got):\n%s", d)
				}
			}},
		{name: "program failing", dev: sataSda, rules: "IMPORT{program}=\"/bin/f\", ENV{X}=\"1\"\nIMPORT{program}!=\"/bin/f\", ENV{Y}=\"1\"",
			setup: func(h *FakeHost) {
				h.Programs["/bin/f"] = FakeProgram{Stdout: "A=1\n", Err: fmt.Errorf("exit 1: %w", ErrProgramFailed)}
			}, props: map[string]string{"X": absent, "Y": "1", "A": absent}, diags: []string{}},
		{name: "program not runnable warns", dev: sataSda, rules: `PROGRAM="/bin/missing"`, diags: []string{"Failed to execute \"/bin/missing\""}},
		{name: "builtin run once", dev: sataSda, setup: pathID,
			rules: "IMPORT{builtin}=\"path_id\"\nIMPORT{builtin}=\"path_id\", ENV{AGAIN}=\"1\"\nIMPORT{program}=\"path_id\"",
			props: map[string]string{"ID_PATH": "pci-0000:00:1f.2-ata-1", "AGAIN": "1"},
			check: func(t *testing.T, _ *Result, h *FakeHost) {
				if n := countCalls(h, "Builtin"); n != 1 {
					t.Errorf("path_id ran %d times", n)
				}
			}},
		{name: "builtin failure remembered", dev: sataSda,
			setup: func(h *FakeHost) {
				h.Builtins["usb_id"] = func([]string, []Property) ([]Property, error) { return nil, errors.New("not usb") }
			},
			rules: "IMPORT{builtin}=\"usb_id\", ENV{A}=\"1\"\nIMPORT{builtin}!=\"usb_id\", ENV{B}=\"1\"", props: map[string]string{"A": absent, "B": "1"}},
		{name: "builtin not once runs again", dev: sataSda,
			setup: func(h *FakeHost) {
				h.Builtins["hwdb"] = func(argv []string, _ []Property) ([]Property, error) {
					return []Property{{"HW", argv[len(argv)-1]}}, nil
				}
			},
			rules: "IMPORT{builtin}=\"hwdb --subsystem=pci\"\nIMPORT{builtin}=\"hwdb 'a b'\"", props: map[string]string{"HW": "a b"}},
		{name: "file", dev: sataSda, rules: `IMPORT{file}="/run/x/$kernel"`,
			setup: func(h *FakeHost) { h.Files["/run/x/sda"] = "  A = 1 \r\nB=\"two words\"\n#C=3\nD\n" },
			props: map[string]string{"A": "1", "B": "two words", "C": absent}},
		{name: "file missing", dev: sataSda, rules: "IMPORT{file}=\"/nope\", ENV{X}=\"1\"\nIMPORT{file}!=\"/nope\", ENV{Y}=\"1\"", props: map[string]string{"X": absent, "Y": "1"}},
		{name: "cmdline", dev: sataSda, rules: "IMPORT{cmdline}=\"net.ifnames\"\nIMPORT{cmdline}=\"quiet\"\nIMPORT{cmdline}=\"nope\", ENV{X}=\"1\"\nIMPORT{cmdline}=\"rd_lvm\"",
			setup: func(h *FakeHost) { h.Cmd = `BOOT_IMAGE=/vmlinuz net.ifnames=1 net.ifnames=0 quiet rd-lvm="a b"` },
			props: map[string]string{"net.ifnames": "0", "quiet": "1", "X": absent, "rd_lvm": "a b"}},
		{name: "cmdline rd. outside initrd", dev: sataSda, rules: "IMPORT{cmdline}=\"rd.udev.log_level\", ENV{X}=\"1\"",
			setup: func(h *FakeHost) { h.Cmd = "rd.udev.log_level=7" }, props: map[string]string{"X": absent}},
		{name: "cmdline rd. in initrd", dev: sataSda, rules: "IMPORT{cmdline}=\"rd.udev.log_level\", ENV{X}=\"1\"",
			setup: func(h *FakeHost) { h.Cmd = "rd.udev.log_level=7"; h.Initrd = true }, props: map[string]string{"X": "1", "rd.udev.log_level": "7"}},
		{name: "parent", dev: sataSda + "/sda1", rules: `IMPORT{parent}="ID_*"`,
			setup: func(h *FakeHost) {
				h.DB["/sys/"+sataSda] = &DB{Props: []Property{{"ID_SERIAL", "QEMU_HARDDISK_QM00001"}, {"OTHER", "x"}}}
			},
			props: map[string]string{"ID_SERIAL": "QEMU_HARDDISK_QM00001", "OTHER": absent}},
		{name: "parent none", dev: "devices/pci0000:00", rules: `IMPORT{parent}="*", ENV{X}="1"`, props: map[string]string{"X": absent}},
	})
}

// The db-related cases need the device's own database entry, which
// eventDevice does not set; they run here.
func TestEvalDatabase(t *testing.T) {
	h := newTestHost()
	dev := eventDevice(t, h.Sysfs, sataSda, "change")
	dev.DB = &DB{Props: []Property{{"ID_FS_TYPE", "ext4"}}, Tags: []string{"old"}, CurrentTags: []string{"old"},
		Devlinks: []string{"/dev/disk/by-uuid/1"}, LinkPriority: 5}
	rs := testRules(t, "IMPORT{db}=\"ID_FS_TYPE\"\nTAG==\"old\", ENV{CUR}=\"1\"\nTAG+=\"new\"\nENV{L}=\"[$links]\"")
	r, err := Eval(t.Context(), rs, dev, h)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := r.Property("ID_FS_TYPE"); v != "ext4" {
		t.Errorf("ID_FS_TYPE %q", v)
	}
	if _, ok := r.Property("CUR"); ok {
		t.Error("an earlier event's tag is current")
	}
	if d := cmp.Diff([]string{"old", "new"}, r.Tags); d != "" {
		t.Errorf("all tags (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"new"}, r.CurrentTags); d != "" {
		t.Errorf("current tags (-want +got):\n%s", d)
	}
	if v, _ := r.Property("L"); v != "[]" || r.LinkPriority != 0 {
		t.Errorf("links %q priority %d: the earlier links are not the new event's", v, r.LinkPriority)
	}

	dev.Action = "remove"
	rs = testRules(t, "IMPORT{db}=\"ID_FS_TYPE\", ENV{X}=\"1\"\nTAG==\"old\", ENV{CUR}=\"1\"\nENV{L}=\"$links\"")
	r, err = Eval(t.Context(), rs, dev, h)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"X": absent, "CUR": "1", "L": "disk/by-uuid/1", "ID_FS_TYPE": "ext4", "DEVLINKS": "/dev/disk/by-uuid/1"} {
		if v, ok := r.Property(k); !ok && want != absent || ok && v != want {
			t.Errorf("on remove %s = %q, want %q", k, v, want)
		}
	}
}

func TestEvalAborts(t *testing.T) {
	runEvalCases(t, []evalCase{
		{name: "sysctl read error", dev: virtioNet, rules: "SYSCTL{kernel/x}==\"1\", ENV{A}=\"1\"\nENV{AFTER}=\"1\"", err: ErrAborted,
			setup: func(h *FakeHost) { h.Fail = map[string]error{"Sysctl kernel/x": errors.New("EIO")} }, props: map[string]string{"AFTER": absent},
			diags: []string{"test.rules:1: Failed to read sysctl 'kernel/x': EIO"}},
		{name: "file open error", dev: sataSda, rules: `IMPORT{file}="/etc/x"`, err: ErrAborted,
			setup: func(h *FakeHost) { h.Fail = map[string]error{"ReadFile /etc/x": errors.New("EACCES")} }},
		{name: "cmdline error", dev: sataSda, rules: `IMPORT{cmdline}="x"`, err: ErrAborted,
			setup: func(h *FakeHost) { h.Fail = map[string]error{"Cmdline": errors.New("EIO")} }},
		{name: "parent error", dev: sataSda, rules: `IMPORT{parent}="x"`, err: ErrAborted,
			setup: func(h *FakeHost) { h.Fail = map[string]error{"Parent /sys/" + sataSda: errors.New("ENOMEM")} }},
		{name: "test dir error", dev: sataSda, rules: `TEST=="/sys/*/x", ENV{A}="1"`, err: ErrAborted,
			setup: func(h *FakeHost) { h.Fail = map[string]error{"ReadDir /sys": errors.New("EACCES")} }},
	})
	h := newTestHost()
	_, err := Eval(t.Context(), testRules(t, `ENV{A}="1"`), &Device{Syspath: "/sys/devices/x"}, h)
	if !errors.Is(err, ErrInvalidDevice) {
		t.Errorf("device without action: %v", err)
	}
}

func TestEvalBuiltinEmptyValue(t *testing.T) {
	runEvalCases(t, []evalCase{
		{name: "empty builtin value is kept", dev: sataSda, rules: `IMPORT{builtin}="hwdb"`,
			setup: func(h *FakeHost) {
				h.Builtins["hwdb"] = func([]string, []Property) ([]Property, error) { return []Property{{"ID_EMPTY", ""}}, nil }
			}, props: map[string]string{"ID_EMPTY": ""}},
	})
}
