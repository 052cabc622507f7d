package builtin

import (
	"context"
	"errors"
	"os"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// The expectations are derived from systemd 252's link-config.c,
// net-condition.c and conf-files.c; the e1000 case matches what udevadm
// test printed on the bookworm guest (rules/testdata/guest:
// ID_NET_LINK_FILE=/usr/lib/systemd/network/99-default.link,
// ID_NET_NAME=enp0s1).

// linkRoot is a root file system with Debian's 99-default.link in
// /usr/lib and the given files.
func linkRoot(t *testing.T, files map[string]string) fstest.MapFS {
	t.Helper()
	def, err := os.ReadFile("testdata/link/99-default.link")
	if err != nil {
		t.Fatal(err)
	}
	root := fstest.MapFS{"usr/lib/systemd/network/99-default.link": {Data: def, Mode: 0o644}}
	for name, text := range files {
		root[name] = &fstest.MapFile{Data: []byte(text), Mode: 0o644}
	}
	return root
}

// guestE1000 is the guest's e1000 as net_setup_link saw it on add.
func guestE1000() LinkState {
	return LinkState{
		Ifname: "eth0", Action: "add", NameAssignType: NetNameEnum, IfType: arphrdEther,
		HWAddr: []byte{0x52, 0x54, 0, 0x12, 0x34, 0x56}, Driver: "e1000",
		Props: map[string]string{
			"ID_PATH": "pci-0000:00:01.0", "ID_NET_NAME_MAC": "enx525400123456", "ID_NET_NAME_PATH": "enp0s1",
		},
	}
}

// applied is the plan for an e1000 the file applies to.
func applied(file, name, macPolicy string, altNames ...string) LinkPlan {
	return LinkPlan{
		NewName: name, AlternativeNames: altNames, MACAddressPolicy: macPolicy,
		Props: props("ID_NET_DRIVER", "e1000", "ID_NET_LINK_FILE", file, "ID_NET_NAME", name),
	}
}

func hostIs(name string) ConditionTest {
	return func(c LinkCondition) bool { return c.Kind == "Host" && c.Value == name }
}

func TestNetSetupLink(t *testing.T) {
	const def = "/usr/lib/systemd/network/99-default.link"
	for _, c := range []struct {
		name  string
		files map[string]string
		state func(*LinkState)
		want  LinkPlan
	}{
		{name: "Debian's default: path name, path as alternative name", want: applied(def, "enp0s1", "persistent", "enp0s1")},
		{name: "slot before path, the others as alternative names", state: func(s *LinkState) {
			s.Props["ID_NET_NAME_SLOT"] = "ens1"
			s.Props["ID_NET_NAME_ONBOARD"] = "eno1"
		}, want: applied(def, "eno1", "persistent", "eno1", "enp0s1", "ens1")},
		{name: "kernel policy keeps a predictable kernel name", state: func(s *LinkState) {
			s.NameAssignType = NetNamePredictable
		}, want: applied(def, "eth0", "persistent", "enp0s1")},
		{name: "keep policy keeps a name user space gave", state: func(s *LinkState) {
			s.NameAssignType = NetNameRenamed
			s.Ifname = "uplink"
		}, want: applied(def, "uplink", "persistent", "enp0s1")},
		{name: "change event: nothing applied, the name stays", state: func(s *LinkState) {
			s.Action = "change"
		}, want: LinkPlan{
			NewName: "eth0",
			Props:   props("ID_NET_DRIVER", "e1000", "ID_NET_LINK_FILE", def, "ID_NET_NAME", "eth0")}},
		{name: "/etc file by MAC address wins by name order", files: map[string]string{
			"etc/systemd/network/50-lan.link": "[Match]\nMACAddress=52:54:00:12:34:56\n[Link]\nName=lan0\nMACAddressPolicy=none\nMACAddress=02:00:00:00:00:01\n",
		}, want: LinkPlan{
			NewName: "lan0", MACAddressPolicy: "none", MACAddress: []byte{2, 0, 0, 0, 0, 1},
			Props: props("ID_NET_DRIVER", "e1000", "ID_NET_LINK_FILE", "/etc/systemd/network/50-lan.link", "ID_NET_NAME", "lan0")}},
		{name: "an empty /etc file masks the /usr/lib one", files: map[string]string{
			"etc/systemd/network/99-default.link": "",
		}, want: LinkPlan{Props: props("ID_NET_DRIVER", "e1000")}},
		{name: "/run overrides /usr/lib of the same name, drop-in from /etc", files: map[string]string{
			"run/systemd/network/99-default.link":            "[Match]\nOriginalName=eth*\n[Link]\nNamePolicy=mac\n",
			"etc/systemd/network/99-default.link.d/alt.conf": "[Link]\nAlternativeName=wan0 wan1\n",
		}, want: applied("/run/systemd/network/99-default.link", "enx525400123456", "none", "wan0", "wan1")},
		{name: "a condition not met skips the file", files: map[string]string{
			"etc/systemd/network/10-other.link": "[Match]\nHost=other\nOriginalName=*\n[Link]\nName=never\n",
			"etc/systemd/network/20-here.link":  "[Match]\nHost=!other\nDriver=e1000\n[Link]\nName=here0\n",
		}, want: applied("/etc/systemd/network/20-here.link", "here0", "none")},
		{name: "negated and property matches", files: map[string]string{
			"etc/systemd/network/10-not.link":  "[Match]\nDriver=!e1000\n[Link]\nName=never\n",
			"etc/systemd/network/20-prop.link": "[Match]\nProperty=ID_PATH=pci-* \"ID_NET_NAME_MAC=enx52*\"\nType=ether\n[Link]\nName=prop0\n",
		}, want: applied("/etc/systemd/network/20-prop.link", "prop0", "none")},
		{name: "a file with an empty [Match] is ignored", files: map[string]string{
			"etc/systemd/network/10-all.link": "[Match]\n[Link]\nName=never\n",
		}, want: applied(def, "enp0s1", "persistent", "enp0s1")},
	} {
		t.Run(c.name, func(t *testing.T) {
			configs, err := LoadLinkConfigs(context.Background(), linkRoot(t, c.files), hostIs("guest"))
			if err != nil {
				t.Fatal(err)
			}
			st := guestE1000()
			if c.state != nil {
				c.state(&st)
			}
			got, err := NetSetupLink(context.Background(), LinkSetup{Configs: configs, Scheme: DefaultNamingScheme(), NamePolicy: true}, st, []string{"net_setup_link"})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, got, cmp.FilterPath(func(p cmp.Path) bool { return p.String() == "Config" }, cmp.Ignore())); diff != "" {
				t.Errorf("NetSetupLink (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNetSetupLinkSchemeAndCmdline(t *testing.T) {
	configs, err := LoadLinkConfigs(context.Background(), linkRoot(t, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Without "keep" a user's name is renamed again from v240.
	pathOnly, err := LoadLinkConfigs(context.Background(), linkRoot(t, map[string]string{
		"etc/systemd/network/99-default.link": "[Match]\nOriginalName=*\n[Link]\nNamePolicy=path\n",
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	renamed := guestE1000()
	renamed.NameAssignType = NetNameUser
	renamed.Ifname = "mine"
	for _, c := range []struct {
		name    string
		configs []*LinkConfig
		st      LinkState
		scheme  string
		ifnames bool
		want    string
	}{
		{"net.ifnames=0: no policy, no Name=, the kernel's name", configs, guestE1000(), "v252", false, "eth0"},
		{"NamingAllowRerenames absent (v239): a user's name is final", pathOnly, renamed, "v239", true, "mine"},
		{"NamingAllowRerenames (v240): renamed by the path policy", pathOnly, renamed, "v240", true, "enp0s1"},
		{"NamingAllowRerenames (v252): Debian's keep policy keeps it", configs, renamed, "v252", true, "mine"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, _ := LookupNamingScheme(c.scheme)
			got, err := NetSetupLink(context.Background(), LinkSetup{Configs: c.configs, Scheme: s, NamePolicy: c.ifnames}, c.st, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got.NewName != c.want {
				t.Errorf("NewName %q, want %q", got.NewName, c.want)
			}
		})
	}
	lo := guestE1000()
	lo.Loopback = true
	setup := LinkSetup{Configs: configs, Scheme: DefaultNamingScheme(), NamePolicy: true}
	if got, _ := NetSetupLink(context.Background(), setup, lo, nil); got.Config != nil {
		t.Errorf("loopback got %s", got.Config.Filename)
	}
	if _, err := NetSetupLink(context.Background(), setup, guestE1000(), []string{"net_setup_link", "x"}); !errors.Is(err, ErrLinkArgs) {
		t.Errorf("with an argument: %v, want ErrLinkArgs", err)
	}
}

func TestParseLinkConfig(t *testing.T) {
	text := `# comment
[Match]
OriginalName=eth* !eth9 bad/name sixteen-chars-xx
Path=pci-0000:00:1?.0 \
     pci-0000:02:*
MACAddress=52:54:00:12:34:56 zz 5254.0012.3457
Virtualization=!container
Kind=vlan\\
Driver=e1000
[Link]
NamePolicy=kernel bogus path path mac
AlternativeNamesPolicy=
MTUBytes=9000
not an assignment
=no key
[X-Vendor]
Foo=bar
[Match]
Type=ether \`
	got, err := ParseLinkConfig("/etc/systemd/network/t.link", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	want := &LinkConfig{
		Filename: "/etc/systemd/network/t.link",
		Match: LinkMatch{
			OriginalName: []string{"eth*", "!eth9"},
			Path:         []string{"pci-0000:00:1?.0", "pci-0000:02:*"},
			MACAddress:   [][]byte{{0x52, 0x54, 0, 0x12, 0x34, 0x56}, {0x52, 0x54, 0, 0x12, 0x34, 0x57}},
			// An escaped backslash does not continue the line; the glob
			// matcher gets the escape.
			Kind:   []string{`vlan\\`},
			Driver: []string{"e1000"},
			// A continuation at the end of the file still counts.
			Type: []string{"ether"},
		},
		Conditions: []LinkCondition{{Kind: "Virtualization", Value: "container", Negate: true}},
		Link: LinkSettings{
			NamePolicy: []string{"kernel", "path", "mac"}, AlternativeNamesPolicy: []string{},
			MACAddressPolicy: "none", Other: map[string]string{"MTUBytes": "9000"},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseLinkConfig (-want +got):\n%s", diff)
	}
	if _, err := ParseLinkConfig("x.link", []byte("[Match\nOriginalName=*\n")); !errors.Is(err, ErrLinkSyntax) {
		t.Errorf("bad section header: %v, want ErrLinkSyntax", err)
	}
}

func TestLinkHostConditions(t *testing.T) {
	h := LinkHost{
		Hostname: "Guest-1", MachineID: "0123456789abcdef0123456789abcdef", Virtualization: "kvm",
		KernelCommandLine: `BOOT_IMAGE=/vmlinuz root=/dev/vda1 quiet "net.ifnames=1"`, Architecture: "x86-64",
	}
	for _, c := range []struct {
		kind, value string
		want        bool
	}{
		{"Host", "guest-*", true},
		{"Host", "other", false},
		{"Host", "01234567-89ab-cdef-0123-456789ABCDEF", true},
		{"Host", "fedcba9876543210fedcba9876543210", false},
		{"KernelCommandLine", "quiet", true},
		{"KernelCommandLine", "root", true},
		{"KernelCommandLine", "roo", false},
		{"KernelCommandLine", "net.ifnames=1", true},
		{"KernelCommandLine", "net.ifnames=0", false},
		{"Virtualization", "yes", true},
		{"Virtualization", "vm", true},
		{"Virtualization", "container", false},
		{"Virtualization", "kvm", true},
		{"Virtualization", "qemu", false},
		{"Architecture", "x86-64", true},
		{"Architecture", "arm64", false},
		{"KernelVersion", ">=6.1", false},
	} {
		if got := h.Test(LinkCondition{Kind: c.kind, Value: c.value}); got != c.want {
			t.Errorf("%s=%s: %v, want %v", c.kind, c.value, got, c.want)
		}
	}
	bare := LinkHost{}
	if !bare.Test(LinkCondition{Kind: "Virtualization", Value: "no"}) {
		t.Error("Virtualization=no on bare metal failed")
	}
}
