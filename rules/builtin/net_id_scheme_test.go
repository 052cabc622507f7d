package builtin

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNamingSchemeTable(t *testing.T) {
	var names []string
	for _, s := range NamingSchemes() {
		names = append(names, s.Name)
	}
	want := []string{"v238", "v239", "v240", "v241", "v243", "v245", "v247", "v249", "v250", "v251", "v252"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("schemes (-want +got):\n%s", diff)
	}
	for _, c := range []struct {
		scheme string
		flag   NamingFlags
		has    bool
	}{
		{"v238", NamingSRIOVv, false},
		{"v239", NamingSRIOVv | NamingNPARARI, true},
		{"v239", NamingInfiniband, false},
		{"v243", NamingLabelNoPrefix | NamingStableVirtualMACs, true},
		{"v247", NamingSlotFunctionID, false},
		{"v249", NamingSlotFunctionID | Naming16BitIndex | NamingBridgeNoSlot, true},
		{"v251", NamingDevicetreeAliases, false},
		{"v252", NamingDevicetreeAliases | NamingBridgeMultifunctionSlot | NamingXenVIF, true},
	} {
		s, ok := LookupNamingScheme(c.scheme)
		if !ok || s.Has(c.flag) != c.has {
			t.Errorf("%s.Has(%#x) = %v (found %v), want %v", c.scheme, c.flag, s.Has(c.flag), ok, c.has)
		}
	}
	if d := DefaultNamingScheme(); d.Name != "v252" {
		t.Errorf("default scheme %s, want v252", d.Name)
	}
}

func TestResolveNamingScheme(t *testing.T) {
	str := func(s string) *string { return &s }
	for _, c := range []struct {
		name       string
		kernel     *string
		env        *string
		want       string
		wantErrors bool
	}{
		{"nothing: default", nil, nil, "v252", false},
		{"kernel command line", str("v240"), nil, "v240", false},
		{"environment wins", str("v240"), str("v247"), "v247", false},
		{"':' makes the command line win", str("v240"), str(":v247"), "v240", false},
		{"':' without a command line", nil, str(":v247"), "v247", false},
		{"latest", str("latest"), nil, "v252", false},
		{"unknown: default and an error", str("v246"), nil, "v252", true},
		{"empty environment is asked for, unknown", str("v240"), str(""), "v252", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := ResolveNamingScheme(c.kernel, c.env)
			if got.Name != c.want {
				t.Errorf("scheme %s, want %s", got.Name, c.want)
			}
			if errors.Is(err, ErrUnknownNamingScheme) != c.wantErrors {
				t.Errorf("error %v, want one: %v", err, c.wantErrors)
			}
		})
	}
}

func TestParseHWAddr(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []byte
	}{
		{"52:54:00:12:34:56", []byte{0x52, 0x54, 0, 0x12, 0x34, 0x56}},
		{"52-54-00-12-34-56", []byte{0x52, 0x54, 0, 0x12, 0x34, 0x56}},
		{"5254.0012.3456", []byte{0x52, 0x54, 0, 0x12, 0x34, 0x56}},
		{"2:4:0:1:3:5", []byte{2, 4, 0, 1, 3, 5}},
		{"52:54:00:12:34", nil},
		{"52:54:00:12:34:56:", nil},
		{"525400123456", nil},
		{"52:54:00:12:34:567", nil},
		{"00:00:00:00", []byte{0, 0, 0, 0}},
	} {
		got, _ := parseHWAddr(c.in)
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("parseHWAddr(%q) (-want +got):\n%s", c.in, diff)
		}
	}
}
