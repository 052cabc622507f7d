package rules

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestStaticNodes(t *testing.T) {
	text := `KERNEL=="tun", GROUP="kvm", MODE="0666", OPTIONS+="static_node=net/tun"
KERNEL=="fuse", MODE="0666", OPTIONS+="static_node=fuse"
SUBSYSTEM=="sound", KERNEL=="seq", TAG+="uaccess", OPTIONS+="static_node=snd/seq"
KERNEL=="x", OPTIONS+="static_node=nothing-set"
KERNEL=="kvm", OPTIONS+="static_node=kvm", GROUP="kvm"
`
	lines, diags := ParseFile("/usr/lib/udev/rules.d/50-test.rules", []byte(text), &Options{Users: testUsers{}})
	if len(diags) > 0 {
		t.Fatalf("diagnostics: %v", diags)
	}
	got := StaticNodes(&Rules{Lines: lines})
	want := []StaticNode{
		{Name: "net/tun", GID: 104, GIDSet: true, Mode: 0o666, ModeSet: true},
		{Name: "fuse", Mode: 0o666, ModeSet: true},
		{Name: "snd/seq", Tags: []string{"uaccess"}},
		// udevd sorts a line's tokens by type, OWNER, GROUP, MODE and
		// TAG before OPTIONS: a GROUP written after the option counts.
		{Name: "kvm", GID: 104, GIDSet: true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("StaticNodes (-want +got):\n%s", diff)
	}
}
