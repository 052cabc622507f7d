package builtin

import (
	"errors"
	"fmt"
)

// NamingFlags are the naming changes net_id made over systemd's releases,
// one bit each (netif-naming-scheme.h). A scheme is the set of changes a
// release had made, so that a system can keep the names an older udev gave
// by booting with net.naming-scheme=v240, say.
type NamingFlags uint32

// The flags of 252, in its order.
const (
	// NamingSRIOVv: an SR-IOV virtual function is named after its physical
	// function with a "v<n>" suffix (v239).
	NamingSRIOVv NamingFlags = 1 << iota
	// NamingNPARARI: with ARI enabled the slot number is part of the
	// function number (v239).
	NamingNPARARI
	// NamingInfiniband: InfiniBand links get "ib" names; before, none (v240).
	NamingInfiniband
	// NamingZeroACPIIndex: an onboard index of 0 is a valid index (v240).
	NamingZeroACPIIndex
	// NamingAllowRerenames: udev may rename an interface once more (v240;
	// net_setup_link's, not net_id's).
	NamingAllowRerenames
	// NamingStableVirtualMACs: MACAddressPolicy=persistent hashes the name
	// for virtual devices (v241; net_setup_link's).
	NamingStableVirtualMACs
	// NamingNetdevsim: netdevsim devices get path names (v243).
	NamingNetdevsim
	// NamingLabelNoPrefix: ID_NET_LABEL_ONBOARD is the firmware's label
	// alone, without the type prefix (v243).
	NamingLabelNoPrefix
	// NamingNspawnLongHash: nspawn's interface names (v245; not udev's).
	NamingNspawnLongHash
	// NamingBridgeNoSlot: a hotplug slot found on a PCI bridge does not
	// name the devices behind it, which would all get the same name (v247).
	NamingBridgeNoSlot
	// NamingSlotFunctionID: s390's function_id names the hotplug slot
	// (v249).
	NamingSlotFunctionID
	// Naming16BitIndex: onboard indexes up to 65535 are believed; before,
	// up to 16383 (v249).
	Naming16BitIndex
	// NamingReplaceStrictly: NAME= replaces invalid characters (v249; the
	// evaluator's).
	NamingReplaceStrictly
	// NamingXenVIF: Xen netfront devices get slot names (v250).
	NamingXenVIF
	// NamingBridgeMultifunctionSlot: a bridge's hotplug slot does name a
	// multi-function device behind it (v251).
	NamingBridgeMultifunctionSlot
	// NamingDevicetreeAliases: devicetree "ethernet<n>" aliases give
	// onboard names (v252).
	NamingDevicetreeAliases
)

// NamingScheme is one row of 252's scheme table.
type NamingScheme struct {
	Name  string
	Flags NamingFlags
}

// Has reports whether the scheme includes all of flags.
func (s NamingScheme) Has(flags NamingFlags) bool {
	return s.Flags&flags == flags
}

// namingSchemes is 252's table, oldest first; each row adds to the one
// before it.
var namingSchemes = func() []NamingScheme {
	steps := []NamingScheme{
		{"v238", 0},
		{"v239", NamingSRIOVv | NamingNPARARI},
		{"v240", NamingInfiniband | NamingZeroACPIIndex | NamingAllowRerenames},
		{"v241", NamingStableVirtualMACs},
		{"v243", NamingNetdevsim | NamingLabelNoPrefix},
		{"v245", NamingNspawnLongHash},
		{"v247", NamingBridgeNoSlot},
		{"v249", NamingSlotFunctionID | Naming16BitIndex | NamingReplaceStrictly},
		{"v250", NamingXenVIF},
		{"v251", NamingBridgeMultifunctionSlot},
		{"v252", NamingDevicetreeAliases},
	}
	var acc NamingFlags
	for i := range steps {
		acc |= steps[i].Flags
		steps[i].Flags = acc
	}
	return steps
}()

// DefaultNamingSchemeName is the scheme used when none is asked for.
// systemd's meson option default-net-naming-scheme defaults to "latest",
// the last row of the table; Debian bookworm's build is assumed not to
// override it (its debian/rules was not at hand), so v252.
const DefaultNamingSchemeName = "latest"

// ErrUnknownNamingScheme: a net.naming-scheme= or $NET_NAMING_SCHEME value
// that is no scheme of 252's table.
var ErrUnknownNamingScheme = errors.New("unknown interface naming scheme")

// NamingSchemes returns 252's table, oldest first.
func NamingSchemes() []NamingScheme {
	return append([]NamingScheme(nil), namingSchemes...)
}

// LookupNamingScheme finds a scheme by name; "latest" is the newest, and
// its name is then that scheme's ("v252"), as ID_NET_NAMING_SCHEME shows.
func LookupNamingScheme(name string) (NamingScheme, bool) {
	for _, s := range namingSchemes {
		if s.Name == name {
			return s, true
		}
	}
	if name == "latest" {
		return namingSchemes[len(namingSchemes)-1], true
	}
	return NamingScheme{}, false
}

// DefaultNamingScheme is the scheme of DefaultNamingSchemeName.
func DefaultNamingScheme() NamingScheme {
	s, _ := LookupNamingScheme(DefaultNamingSchemeName)
	return s
}

// ResolveNamingScheme picks the scheme as udevd does at start: kernelArg
// is net.naming-scheme= of the kernel command line, env $NET_NAMING_SCHEME,
// nil when absent. The variable wins over the command line unless it
// starts with ':', then it is only the fallback for a missing kernel
// argument. An unknown name gives the default scheme and an error wrapping
// ErrUnknownNamingScheme, which udevd only logs.
func ResolveNamingScheme(kernelArg, env *string) (NamingScheme, error) {
	want := kernelArg
	if env != nil {
		e := *env
		switch {
		case len(e) > 0 && e[0] == ':' && kernelArg == nil:
			e = e[1:]
			want = &e
		case len(e) == 0 || e[0] != ':':
			want = &e
		}
	}
	if want == nil {
		return DefaultNamingScheme(), nil
	}
	if s, ok := LookupNamingScheme(*want); ok {
		return s, nil
	}
	return DefaultNamingScheme(), fmt.Errorf("%w %q, using %s", ErrUnknownNamingScheme, *want, DefaultNamingScheme().Name)
}
