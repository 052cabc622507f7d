package rules

import "strconv"

// StaticNode is one OPTIONS+="static_node=NAME" with what its line set
// before it: udevd applies these once, when the rules load, to the nodes
// kmod's static-nodes made before any device exists (/dev/net/tun,
// /dev/fuse, /dev/snd/seq), whose modules load only when the node is
// first opened.
type StaticNode struct {
	// Name is the node below /dev, "net/tun".
	Name string
	// UID, GID and Mode are the line's OWNER, GROUP and MODE resolved when
	// the rules loaded; the *Set flags say which the line gave.
	UID, GID, Mode          uint32
	UIDSet, GIDSet, ModeSet bool
	// Tags are the line's TAG values before the option.
	Tags []string
}

// StaticNodes lists the static nodes of rs in order, as
// udev_rules_apply_static_dev_perms walks them: each static_node token
// takes the OWNER, GROUP, MODE and TAG tokens that come before it on its
// line (only those resolved at load time: a value with substitutions has
// no meaning without an event). A line that sets none of them gives
// nothing, as static_node_apply_permissions returns at once.
func StaticNodes(rs *Rules) []StaticNode {
	var out []StaticNode
	for _, l := range rs.Lines {
		var cur StaticNode
		for _, t := range l.Tokens {
			switch t.Type {
			case TypeAOwnerID:
				cur.UID, cur.UIDSet = parseID(t.Value, 10)
			case TypeAGroupID:
				cur.GID, cur.GIDSet = parseID(t.Value, 10)
			case TypeAModeID:
				cur.Mode, cur.ModeSet = parseID(t.Value, 8)
			case TypeATag:
				cur.Tags = append(cur.Tags, t.Value)
			case TypeAOptionsStaticNode:
				if cur.UIDSet || cur.GIDSet || cur.ModeSet || len(cur.Tags) > 0 {
					n := cur
					n.Name = t.Value
					n.Tags = append([]string(nil), cur.Tags...)
					out = append(out, n)
				}
			}
		}
	}
	return out
}

func parseID(s string, base int) (uint32, bool) {
	n, err := strconv.ParseUint(s, base, 32)
	return uint32(n), err == nil
}
