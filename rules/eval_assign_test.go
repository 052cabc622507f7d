package rules

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestEvalSymlink(t *testing.T) {
	runEvalCases(t, []evalCase{
		{name: "add two", dev: sataSda, rules: `SYMLINK+="disk/a disk/b"`, links: []string{"/dev/disk/a", "/dev/disk/b"}},
		{name: "assign replaces", dev: sataSda, rules: "SYMLINK+=\"a\"\nSYMLINK=\"b\"", links: []string{"/dev/b"}},
		{name: "final", dev: sataSda, rules: "SYMLINK:=\"a\"\nSYMLINK+=\"b\"\nSYMLINK=\"c\"", links: []string{"/dev/a"},
			check: func(t *testing.T, r *Result, _ *FakeHost) {
				if !r.DevlinkFinal {
					t.Error("not final")
				}
			}},
		{name: "substituted whitespace becomes underscore", dev: sataSdev + "/block/sda", rules: `SYMLINK+="disk/by-id/ata-$attr{device/model}"`,
			links: []string{"/dev/disk/by-id/ata-QEMU_HARDDISK"}},
		{name: "env whitespace becomes underscore", dev: sataSda, rules: "ENV{M}=\"a  b c \"\nSYMLINK+=\"x-$env{M} y\"",
			links: []string{"/dev/x-a_b_c", "/dev/y"}},
		{name: "result keeps whitespace", dev: sataSda, rules: "PROGRAM=\"/bin/names\", SYMLINK+=\"%c\"",
			setup: func(h *FakeHost) { h.Programs["/bin/names"] = FakeProgram{Stdout: "one two\n"} },
			links: []string{"/dev/one", "/dev/two"}},
		{name: "string_escape=replace joins", dev: sataSda, rules: `OPTIONS+="string_escape=replace", SYMLINK+="a b"`, links: []string{"/dev/a_b"}},
		{name: "string_escape=none keeps whitespace", dev: sataSda, rules: "ENV{M}=\"x y\"\nOPTIONS+=\"string_escape=none\", SYMLINK+=\"p-$env{M}\"",
			links: []string{"/dev/p-x", "/dev/y"}},
		{name: "unsafe characters replaced", dev: sataSda, rules: `SYMLINK+="a*b\x2fc"`, links: []string{`/dev/a_b\x2fc`}},
		{name: "escape is per line", dev: sataSda, rules: "OPTIONS+=\"string_escape=replace\", ENV{A}=\"1\"\nSYMLINK+=\"a b\"", links: []string{"/dev/a", "/dev/b"}},
		{name: "no node no links", dev: virtioNet, rules: `SYMLINK+="x", ENV{A}="1"`, links: []string{}},
		{name: "links priority", dev: sataSda, rules: `OPTIONS+="link_priority=-100", SYMLINK+="x"`,
			check: func(t *testing.T, r *Result, _ *FakeHost) {
				if r.LinkPriority != -100 {
					t.Errorf("priority %d", r.LinkPriority)
				}
			}},
		{name: "DEVLINKS property", dev: sataSda, rules: "SYMLINK+=\"a b\"\nENV{L}=\"$links\"", props: map[string]string{"DEVLINKS": "/dev/a /dev/b", "L": "a b"}},
	})
}

func TestEvalTags(t *testing.T) {
	db := func(h *FakeHost) {}
	runEvalCases(t, []evalCase{
		{name: "add", dev: sataSda, rules: `TAG+="systemd", TAG+="uaccess"`, tags: []string{"systemd", "uaccess"},
			props: map[string]string{"TAGS": ":systemd:uaccess:", "CURRENT_TAGS": ":systemd:uaccess:"},
			check: func(t *testing.T, r *Result, _ *FakeHost) {
				if !r.HasTag("uaccess") || r.HasTag("seat") {
					t.Error("HasTag")
				}
			}},
		{name: "remove current only", dev: sataSda, rules: "TAG+=\"a\", TAG+=\"b\"\nTAG-=\"a\"", tags: []string{"b"},
			check: func(t *testing.T, r *Result, _ *FakeHost) {
				if d := cmp.Diff([]string{"a", "b"}, r.Tags); d != "" {
					t.Errorf("all tags (-want +got):\n%s", d)
				}
			}},
		{name: "assign clears all", dev: sataSda, rules: "TAG+=\"a\"\nTAG=\"b\"", tags: []string{"b"}, setup: db,
			check: func(t *testing.T, r *Result, _ *FakeHost) {
				if d := cmp.Diff([]string{"b"}, r.Tags); d != "" {
					t.Errorf("all tags (-want +got):\n%s", d)
				}
			}},
		{name: "invalid tag", dev: sataSda, rules: `TAG+="a:b"`, tags: []string{}, diags: []string{"Invalid tag name 'a:b', ignoring"}},
		{name: "substituted tag", dev: sataSda, rules: `TAG+="dev-$kernel"`, tags: []string{"dev-sda"}},
	})
}

func TestEvalEnv(t *testing.T) {
	runEvalCases(t, []evalCase{
		{name: "set and unset", dev: sataSda, rules: "ENV{A}=\"1\"\nENV{A}=\"\"\nENV{DISKSEQ}=\"\"", props: map[string]string{"A": absent, "DISKSEQ": absent},
			check: func(t *testing.T, r *Result, _ *FakeHost) {
				if d := cmp.Diff([]string{"A", "DISKSEQ"}, r.Unset); d != "" {
					t.Errorf("unset (-want +got):\n%s", d)
				}
			}},
		{name: "append", dev: sataSda, rules: "ENV{A}+=\"x\"\nENV{A}+=\"y\"\nENV{A}+=\"\"", props: map[string]string{"A": "x y"}},
		{name: "temporary kept out of db", dev: sataSda, rules: `ENV{.TMP}="1", ENV{KEEP}="2"`, props: map[string]string{".TMP": "1"},
			check: func(t *testing.T, r *Result, _ *FakeHost) {
				if d := cmp.Diff([]Property{{"KEEP", "2"}}, r.DBProperties); d != "" {
					t.Errorf("db (-want +got):\n%s", d)
				}
			}},
		{name: "replace escapes value", dev: sataSda, rules: `OPTIONS+="string_escape=replace", ENV{A}="a/b c"`, props: map[string]string{"A": "a_b_c"}},
		{name: "too long refused", dev: sataSda, rules: "ENV{A}=\"" + repeat("x", 600) + "\"", props: map[string]string{"A": absent},
			diags: []string{"The property value"}},
		{name: "no recursion", dev: sataSda, rules: "ENV{A}=\"$$kernel\"\nENV{B}=\"$env{A}\"", props: map[string]string{"A": "$kernel", "B": "$kernel"}},
	})
}

func repeat(s string, n int) string {
	out := ""
	for i := 0; i < n; i++ {
		out += s
	}
	return out
}

func TestEvalPermissions(t *testing.T) {
	users := func(h *FakeHost) { h.Users["disk-owner"] = 7; h.Groups["disk"] = 6 }
	runEvalCases(t, []evalCase{
		{name: "ids", dev: sataSda, rules: `OWNER="10", GROUP="6", MODE="0660"`, check: wantPerm(10, true, 6, true, 0o660, true)},
		{name: "names resolved late", dev: sataSda, setup: users, rules: "ENV{U}=\"disk-owner\"\nOWNER=\"$env{U}\", GROUP=\"di$env{NOPE}sk\"",
			check: wantPerm(7, true, 6, true, 0, false)},
		{name: "root id", dev: sataSda, rules: "OWNER=\"10\"\nOWNER=\"root\", MODE=\"0000\"", check: wantPerm(0, true, 0, false, 0, true)},
		{name: "final", dev: sataSda, rules: "MODE:=\"0600\"\nMODE=\"0666\"", check: wantPerm(0, false, 0, false, 0o600, true)},
		{name: "unknown user", dev: sataSda, rules: "ENV{U}=\"nobody-here\"\nOWNER=\"$env{U}\"", diags: []string{"Unknown user 'nobody-here', ignoring"},
			check: wantPerm(0, false, 0, false, 0, false)},
		{name: "mode substituted", dev: sataSda, rules: "ENV{M}=\"0640\"\nMODE=\"$env{M}\"", check: wantPerm(0, false, 0, false, 0o640, true)},
		{name: "bad mode", dev: sataSda, rules: "ENV{M}=\"rw\"\nMODE=\"$env{M}\"", diags: []string{"Failed to parse mode 'rw'"}},
		{name: "seclabel", dev: sataSda, rules: "SECLABEL{selinux}+=\"a\"\nSECLABEL{smack}+=\"b\"\nSECLABEL{selinux}=\"c_$kernel\"",
			check: func(t *testing.T, r *Result, _ *FakeHost) {
				if d := cmp.Diff([]Seclabel{{"selinux", "c_sda"}}, r.Seclabels); d != "" {
					t.Errorf("seclabels (-want +got):\n%s", d)
				}
			}},
	})
}

func wantPerm(uid uint32, uidSet bool, gid uint32, gidSet bool, mode uint32, modeSet bool) func(*testing.T, *Result, *FakeHost) {
	return func(t *testing.T, r *Result, _ *FakeHost) {
		t.Helper()
		got := [6]any{r.UID, r.UIDSet, r.GID, r.GIDSet, r.Mode, r.ModeSet}
		want := [6]any{uid, uidSet, gid, gidSet, mode, modeSet}
		if got != want {
			t.Errorf("uid, gid, mode %v, want %v", got, want)
		}
	}
}

func TestEvalName(t *testing.T) {
	runEvalCases(t, []evalCase{
		{name: "rename", dev: virtioNet, rules: `NAME="lan0"`, check: wantName("lan0")},
		{name: "final", dev: virtioNet, rules: "NAME:=\"a\"\nNAME=\"b\"", check: wantName("a")},
		{name: "invalid replaced", dev: virtioNet, rules: `ENV{N}="a/b:c%%d"` + "\n" + `NAME="$env{N}"`, check: wantName("a_b_c_d")},
		{name: "name from builtin", dev: virtioNet, rules: "IMPORT{builtin}=\"net_setup_link\"\nNAME==\"\", ENV{ID_NET_NAME}!=\"\", NAME=\"$env{ID_NET_NAME}\"",
			setup: func(h *FakeHost) {
				h.Builtins["net_setup_link"] = func([]string, []Property) ([]Property, error) {
					return []Property{{"ID_NET_LINK_FILE", "/usr/lib/systemd/network/99-default.link"}, {"ID_NET_NAME", "enp0s3"}}, nil
				}
			}, check: wantName("enp0s3")},
		{name: "$name", dev: sataSda, rules: `ENV{A}="$name %D"`, props: map[string]string{"A": "sda sda"}},
		{name: "$name of renamed", dev: virtioNet, rules: "NAME=\"lan0\"\nENV{A}=\"$name\"", props: map[string]string{"A": "lan0"}},
		{name: "$name of netif is kernel", dev: virtioNet, rules: `ENV{A}="$name"`, props: map[string]string{"A": "eth0"}},
	})
}

func wantName(n string) func(*testing.T, *Result, *FakeHost) {
	return func(t *testing.T, r *Result, _ *FakeHost) {
		t.Helper()
		if r.Name != n {
			t.Errorf("name %q, want %q", r.Name, n)
		}
	}
}

func TestEvalWrites(t *testing.T) {
	runEvalCases(t, []evalCase{
		{name: "attr", dev: sataSda, rules: `ATTR{queue/scheduler}="none"`,
			check: wantWrites([]Write{{Path: "/sys/" + sataSda + "/queue/scheduler", Value: "none", File: "test.rules", Line: 1}}, nil)},
		{name: "attr of other device", dev: sataSda, rules: `ATTR{[dmi/id]sys_vendor}="x$kernel"`,
			check: wantWrites([]Write{{Path: "/sys/devices/virtual/dmi/id/sys_vendor", Value: "xsda", File: "test.rules", Line: 1}}, nil)},
		{name: "attr wildcard dir", dev: sataSdev + "/block/sda", rules: `ATTR{../../../*/vendor}="1"`,
			check: wantWrites([]Write{{Path: "/sys/" + sataSdev + "/vendor", Value: "1", File: "test.rules", Line: 1}}, nil)},
		{name: "attr wildcard missing", dev: sataSda, rules: `ATTR{*/nothere}="1"`, diags: []string{"Could not find file matches"}},
		{name: "attr outside sys refused", dev: sataSda, rules: "ATTR{../../../../../../../../../../../etc/passwd}=\"x\"\nENV{DONE}=\"1\"",
			diags: []string{"test.rules:1: ATTR{../../../../../../../../../../../etc/passwd} resolves to '/etc/passwd', outside /sys"},
			props: map[string]string{"DONE": "1"}, check: wantWrites(nil, nil)},
		{name: "sysctl", dev: virtioNet, rules: `SYSCTL{net.ipv6.conf.$kernel.disable_ipv6}="1"`,
			check: wantWrites(nil, []Write{{Path: "net/ipv6/conf/eth0/disable_ipv6", Value: "1", File: "test.rules", Line: 1}})},
		{name: "sysctl dot in name", dev: virtioNet, rules: `SYSCTL{net.ipv4.conf.eth0/1.rp_filter}="0"`,
			check: wantWrites(nil, []Write{{Path: "net/ipv4/conf/eth0.1/rp_filter", Value: "0", File: "test.rules", Line: 1}})},
		{name: "sysctl dots first swap", dev: virtioNet, rules: `SYSCTL{../../etc/x}="0"`,
			check: wantWrites(nil, []Write{{Path: ".etc.x", Value: "0", File: "test.rules", Line: 1}})},
		{name: "sysctl escaping refused", dev: virtioNet, rules: `SYSCTL{net/../../etc/x}="0"`, diags: []string{"Failed to write SYSCTL"}, check: wantWrites(nil, nil)},
	})
}

func wantWrites(attrs, sysctls []Write) func(*testing.T, *Result, *FakeHost) {
	return func(t *testing.T, r *Result, _ *FakeHost) {
		t.Helper()
		if d := cmp.Diff(attrs, r.AttrWrites); d != "" {
			t.Errorf("attribute writes (-want +got):\n%s", d)
		}
		if d := cmp.Diff(sysctls, r.SysctlWrites); d != "" {
			t.Errorf("sysctl writes (-want +got):\n%s", d)
		}
	}
}

func TestEvalRunAndOptions(t *testing.T) {
	runEvalCases(t, []evalCase{
		{name: "run order", dev: sataSda, rules: "RUN+=\"/bin/a $kernel\"\nRUN{builtin}+=\"kmod load $env{NOPE}\"\nRUN+=\"/bin/a $kernel\"",
			run: []string{"/bin/a sda", "kmod load ", "/bin/a sda"},
			check: func(t *testing.T, r *Result, _ *FakeHost) {
				want := []Run{{Command: "/bin/a sda", Argv: []string{"/bin/a", "sda"}},
					{Builtin: "kmod", Command: "kmod load ", Argv: []string{"kmod", "load"}},
					{Command: "/bin/a sda", Argv: []string{"/bin/a", "sda"}}}
				if d := cmp.Diff(want, r.Run); d != "" {
					t.Errorf("run (-want +got):\n%s", d)
				}
			}},
		{name: "run assign clears", dev: sataSda, rules: "RUN+=\"a\"\nRUN=\"b\"", run: []string{"b"}},
		{name: "run final", dev: sataSda, rules: "RUN:=\"a\"\nRUN+=\"b\"", run: []string{"a"}},
		{name: "relative program in libexec", dev: sataSda, rules: `RUN+="scsi_id --export"`,
			check: func(t *testing.T, r *Result, _ *FakeHost) {
				if d := cmp.Diff([]string{"/lib/udev/scsi_id", "--export"}, r.Run[0].Argv); d != "" {
					t.Errorf("argv (-want +got):\n%s", d)
				}
			}},
		{name: "options", dev: sataSda, rules: "OPTIONS+=\"db_persist\", OPTIONS+=\"watch\", OPTIONS+=\"log_level=debug\"\nOPTIONS=\"nowatch\"",
			check: func(t *testing.T, r *Result, _ *FakeHost) {
				if !r.DBPersist || r.Watch || r.LogLevel != "debug" {
					t.Errorf("db_persist %v watch %v log level %q", r.DBPersist, r.Watch, r.LogLevel)
				}
			}},
		{name: "watch final", dev: sataSda, rules: "OPTIONS:=\"watch\"\nOPTIONS=\"nowatch\"",
			check: func(t *testing.T, r *Result, _ *FakeHost) {
				if !r.Watch || !r.WatchFinal {
					t.Errorf("watch %v final %v", r.Watch, r.WatchFinal)
				}
			}},
		{name: "static_node does nothing", dev: sataSda, rules: `OPTIONS+="static_node=sda", MODE="0600"`, check: wantPerm(0, false, 0, false, 0o600, true)},
	})
}

// A name the loader could not resolve is GID_INVALID, which takes back an
// earlier GROUP.
func TestEvalInvalidID(t *testing.T) {
	h := newTestHost()
	rs := testRules(t, `GROUP="6"`+"\n"+`GROUP="7"`)
	rs.Lines[1].Tokens[0].Value = "4294967295"
	r, err := Eval(t.Context(), rs, eventDevice(t, h.Sysfs, sataSda, "add"), h)
	if err != nil {
		t.Fatal(err)
	}
	wantPerm(0, false, 0, false, 0, false)(t, r, h)
}
