package builtin

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/gudevd/gudevd/internal/fnmatch"
)

// The kernel's name_assign_type values (NET_NAME_*).
const (
	NetNameUnknown     = 0 // also what a missing attribute reads as
	NetNameEnum        = 1 // eth%d: the kernel's next free number
	NetNamePredictable = 2 // a name the driver derived from the hardware
	NetNameUser        = 3 // given by user space at creation
	NetNameRenamed     = 4 // renamed by user space
)

// ErrLinkArgs: net_setup_link takes no arguments.
var ErrLinkArgs = errors.New("net_setup_link takes no arguments")

// LinkState is what net_setup_link learns of an interface (link_new):
// the event, sysfs, rtnetlink and ethtool's answers, gathered by the
// caller.
type LinkState struct {
	Ifname string // the current name, the device's sysname
	Action string // the event's ACTION: "add", "bind", "move", "change"...
	// NameAssignType and AddrAssignType are the attributes, 0 when
	// missing, as udevd reads them.
	NameAssignType  int
	AddrAssignType  int
	IfType          int  // ARPHRD_* of rtnetlink
	Loopback        bool // IFF_LOOPBACK of the link's flags
	Kind            string
	HWAddr          []byte
	PermanentHWAddr []byte
	Driver          string   // ethtool's driver name, "" for none
	AltNames        []string // the alternative names it has
	// Props are the device's properties: DEVTYPE, ID_PATH, ID_NET_NAME_*
	// and whatever Property= matches.
	Props map[string]string
}

// LinkPlan is what net_setup_link would do; the caller does it.
type LinkPlan struct {
	// Config is the .link file applied, nil for none (no match, or a
	// loopback device).
	Config *LinkConfig
	// NewName is the name the interface should have (its current one when
	// not to be renamed), "" when no config applies.
	NewName string
	// AlternativeNames are the names to add, sorted. They may hold
	// NewName itself (only the current name is left out, as in 252): the
	// rename must first drop an alternative name it takes, as udevd's
	// rtnl_set_link_name does.
	AlternativeNames []string
	// MACAddressPolicy is the config's. MACAddress is the address to set,
	// nil for none: MACAddress= under policy "none", or for policy
	// "persistent" the one hashed from the machine ID and the device's
	// name, when the device's own is not already stable. RandomMACAddress
	// is policy "random" asking for a new random address, which the caller
	// draws.
	MACAddressPolicy string
	MACAddress       []byte
	RandomMACAddress bool
	// Props are ID_NET_DRIVER, ID_NET_LINK_FILE and ID_NET_NAME as
	// udevd's builtin sets them.
	Props []Prop
}

// LinkSetup is what net_setup_link knows beyond the device: the .link
// files (LoadLinkConfigs), the naming scheme, net.ifnames= of the kernel
// command line (NamePolicy: false disables NamePolicy=; true when absent)
// and the machine ID persistent addresses are hashed with.
type LinkSetup struct {
	Configs    []*LinkConfig
	Scheme     NamingScheme
	NamePolicy bool
	MachineID  string
}

// NetSetupLink is the pure part of the net_setup_link builtin: pick the
// first of the configs matching the interface, and from it the name
// (NamePolicy=, Name=), the alternative names (AlternativeName=,
// AlternativeNamesPolicy=) and the address (MACAddressPolicy=,
// MACAddress=). On events other than add, bind and move nothing is
// applied and the name stays. argv is the builtin's command line, argv[0]
// its name, as udevd passes it; it takes no arguments.
func NetSetupLink(ctx context.Context, setup LinkSetup, st LinkState, argv []string) (LinkPlan, error) {
	if len(argv) > 1 {
		return LinkPlan{}, fmt.Errorf("%w: %q", ErrLinkArgs, argv[1:])
	}
	if err := ctx.Err(); err != nil {
		return LinkPlan{}, fmt.Errorf("net_setup_link: %w", err)
	}
	var plan LinkPlan
	if st.Driver != "" {
		plan.Props = append(plan.Props, Prop{Key: "ID_NET_DRIVER", Value: st.Driver})
	}
	c := selectLinkConfig(setup.Configs, st)
	if c == nil {
		return plan, nil
	}
	plan.Config, plan.NewName = c, st.Ifname
	if st.Action == "add" || st.Action == "bind" || st.Action == "move" {
		plan.MACAddressPolicy = c.Link.MACAddressPolicy
		plan.MACAddress, plan.RandomMACAddress = macPlan(c, st, setup.Scheme, setup.MachineID)
		plan.NewName = newLinkName(c, st, setup.Scheme, setup.NamePolicy)
		plan.AlternativeNames = alternativeNames(c, st)
	}
	plan.Props = append(plan.Props,
		Prop{Key: "ID_NET_LINK_FILE", Value: c.Filename},
		Prop{Key: "ID_NET_NAME", Value: plan.NewName})
	return plan, nil
}

// selectLinkConfig is link_get_config: loopback devices take no .link
// file; otherwise the first that matches.
func selectLinkConfig(configs []*LinkConfig, st LinkState) *LinkConfig {
	if st.Loopback {
		return nil
	}
	for _, c := range configs {
		if c.Match.matches(st) {
			return c
		}
	}
	return nil
}

// matches is net_match_config for a device without wireless details.
func (m LinkMatch) matches(st LinkState) bool {
	if len(m.MACAddress) > 0 && (st.HWAddr == nil || !containsAddr(m.MACAddress, st.HWAddr)) {
		return false
	}
	if len(m.PermanentMACAddress) > 0 && (st.PermanentHWAddr == nil || !containsAddr(m.PermanentMACAddress, st.PermanentHWAddr)) {
		return false
	}
	path, hasPath := st.Props["ID_PATH"]
	typ, hasType := linkTypeName(st)
	return matchPatterns(m.Path, path, hasPath) &&
		matchPatterns(m.Driver, st.Driver, st.Driver != "") &&
		matchPatterns(m.Type, typ, hasType) &&
		matchPatterns(m.Kind, st.Kind, st.Kind != "") &&
		matchPatterns(m.OriginalName, st.Ifname, true) &&
		matchProperties(m.Property, st.Props)
}

// matchPatterns is net_condition_test_strv: no patterns match anything;
// a matching '!' pattern refuses; otherwise with any positive pattern one
// must match. A missing value matches no pattern.
func matchPatterns(patterns []string, value string, ok bool) bool {
	matched, positive := false, false
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(p, "!")
		positive = positive || !neg
		if ok && fnmatch.Match(p, value) {
			if neg {
				return false
			}
			matched = true
		}
	}
	return !positive || matched
}

// matchProperties is net_condition_test_property: every "KEY=glob" must
// match the device's property (a '!' one must not).
func matchProperties(patterns []string, props map[string]string) bool {
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		k, glob, _ := strings.Cut(strings.TrimPrefix(p, "!"), "=")
		v, ok := props[k]
		if (ok && fnmatch.Match(glob, v)) == neg {
			return false
		}
	}
	return true
}

// arphrdNames are arphrd_to_name's names, lowercased as Type= matches
// them, for the types a .link file is likely to meet.
var arphrdNames = map[int]string{
	1: "ether", 2: "eether", 3: "ax25", 6: "ieee802", 7: "arcnet", 19: "atm", 24: "ieee1394",
	32: "infiniband", 256: "slip", 257: "cslip", 258: "slip6", 259: "cslip6", 271: "x25",
	280: "can", 290: "mctp", 512: "ppp", 513: "cisco", 519: "rawip", 768: "tunnel",
	769: "tunnel6", 772: "loopback", 774: "fddi", 776: "sit", 778: "ipgre", 783: "irda",
	801: "ieee80211", 802: "ieee80211_prism", 803: "ieee80211_radiotap", 804: "ieee802154",
	805: "ieee802154_monitor", 820: "phonet", 821: "phonet_pipe", 822: "caif", 823: "ip6gre",
	824: "netlink", 825: "6lowpan", 826: "vsockmon", 0xfffe: "none", 0xffff: "void",
}

// linkTypeName is net_get_type_string: DEVTYPE ("wlan", "bridge",
// "vlan"...) when set, else the link type's name.
func linkTypeName(st LinkState) (string, bool) {
	if t := st.Props["DEVTYPE"]; t != "" {
		return t, true
	}
	t, ok := arphrdNames[st.IfType]
	return t, ok
}

// newLinkName is link_generate_new_name: the first policy that yields a
// valid name, else Name=, else the current name. A move keeps the name,
// and so does a name user space gave unless the scheme allows renaming
// it again (v240).
func newLinkName(c *LinkConfig, st LinkState, scheme NamingScheme, ifnames bool) string {
	userNamed := st.NameAssignType == NetNameUser || st.NameAssignType == NetNameRenamed
	if st.Action == "move" || (userNamed && !scheme.Has(NamingAllowRerenames)) {
		return st.Ifname
	}
	if ifnames {
		for _, p := range c.Link.NamePolicy {
			switch p {
			case "kernel":
				if st.NameAssignType == NetNamePredictable {
					return st.Ifname
				}
				continue
			case "keep":
				if userNamed {
					return st.Ifname
				}
				continue
			}
			if n := st.Props[policyProperty(p)]; ifnameValid(n, false) {
				return n
			}
		}
	}
	if c.Link.Name != "" {
		return c.Link.Name
	}
	return st.Ifname
}

// policyProperty is the property a naming policy reads.
func policyProperty(policy string) string {
	if policy == "database" {
		return "ID_NET_NAME_FROM_DATABASE"
	}
	return "ID_NET_NAME_" + strings.ToUpper(policy)
}

// alternativeNames is link_apply_alternative_names: AlternativeName= and
// the policies' names, without the current name and the alternative
// names it has, sorted and each once.
func alternativeNames(c *LinkConfig, st LinkState) []string {
	names := append([]string(nil), c.Link.AlternativeName...)
	for _, p := range c.Link.AlternativeNamesPolicy {
		if n := st.Props[policyProperty(p)]; n != "" {
			names = append(names, n)
		}
	}
	var out []string
	for _, n := range names {
		if n != st.Ifname && !contains(st.AltNames, n) && !contains(out, n) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}
