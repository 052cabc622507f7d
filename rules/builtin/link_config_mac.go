package builtin

import (
	"encoding/binary"
	"encoding/hex"
	"math/bits"
	"strings"
)

// The kernel's addr_assign_type values (NET_ADDR_*), netAddrPerm being 0.
const (
	netAddrRandom = 1 // made up by the driver
	netAddrStolen = 2 // taken from another device (a bond's slave)
	netAddrSet    = 3 // set by user space
)

// infinibandAddrLen is INFINIBAND_ALEN; only its last 8 bytes (the GUID)
// are the port's to change.
const infinibandAddrLen = 20

// persistentMACKey is the fixed key udevd hashes persistent addresses
// with (HASH_KEY of netif-util.c), so that a device gets the same address
// on every boot of the same machine.
var persistentMACKey = [16]byte{0xd3, 0x1e, 0x48, 0xfa, 0x90, 0xfe, 0x4b, 0x4c, 0x9d, 0xaf, 0xd5, 0xd7, 0xa1, 0xb1, 0x2e, 0x8a}

// macPlan is link_generate_new_hw_addr: the address to set (nil for none)
// and whether policy random wants a random one, which the caller draws
// (then, for Ethernet, clears the multicast bit and sets the locally
// administered one, and refuses all zeros and all ones).
func macPlan(c *LinkConfig, st LinkState, scheme NamingScheme, machineID string) (addr []byte, random bool) {
	if len(st.HWAddr) == 0 {
		return nil, false
	}
	policy := c.Link.MACAddressPolicy
	if policy == "none" {
		return verifiedMAC(c.Link.MACAddress, true, st), false
	}
	if st.IfType != arphrdEther && st.IfType != arphrdInfiniband {
		return nil, false
	}
	switch st.AddrAssignType {
	case netAddrPerm, netAddrRandom:
	default: // set by user space, stolen, or unknown: leave it
		return nil, false
	}
	if (policy == "random") == (st.AddrAssignType == netAddrRandom) {
		return nil, false // the address already is what the policy wants
	}
	if policy == "random" {
		return nil, true
	}
	return verifiedMAC(persistentMAC(st, scheme, machineID), false, st), false
}

// persistentMAC hashes the machine ID and the device's first stable name
// (ID_NET_NAME_ONBOARD, _SLOT, _PATH or _MAC; from v241 its kernel name
// when it has none, which gives virtual devices stable addresses) with
// SipHash-2-4; the hash's little-endian bytes are the address (for
// InfiniBand its last 8 bytes). Nil when there is no name or machine ID,
// or the result is all zeros or all ones.
func persistentMAC(st LinkState, scheme NamingScheme, machineID string) []byte {
	name := ""
	for _, k := range []string{"ID_NET_NAME_ONBOARD", "ID_NET_NAME_SLOT", "ID_NET_NAME_PATH", "ID_NET_NAME_MAC"} {
		if v, ok := st.Props[k]; ok {
			name = v
			break
		}
	}
	if name == "" && scheme.Has(NamingStableVirtualMACs) {
		name = st.Ifname
	}
	id, ok := normalizeID128(machineID)
	if name == "" || !ok {
		return nil
	}
	idBytes, _ := hex.DecodeString(id)
	var sum [8]byte
	binary.LittleEndian.PutUint64(sum[:], siphash24(append(idBytes, name...), persistentMACKey))
	if st.IfType == arphrdInfiniband {
		addr := make([]byte, infinibandAddrLen)
		copy(addr[infinibandAddrLen-8:], sum[:])
		return addr
	}
	addr := sum[:6:6]
	if isZeroBytes(addr) || strings.Count(string(addr), "\xff") == 6 {
		return nil
	}
	return addr
}

// verifiedMAC is net_verify_hardware_address: nil for an address of the
// wrong length or one the kernel would refuse; Ethernet's multicast bit
// cleared and, for a generated address, the locally administered bit
// set; InfiniBand's first 12 bytes kept from the current address. The
// result is nil too when it is the current address.
func verifiedMAC(addr []byte, static bool, st LinkState) []byte {
	if len(addr) == 0 {
		return nil
	}
	a := append([]byte(nil), addr...)
	switch {
	case st.IfType == arphrdEther && len(a) == 6:
		if isZeroBytes(a) || strings.Count(string(a), "\xff") == 6 {
			return nil
		}
		a[0] &^= 0x01
		if !static {
			a[0] |= 0x02
		}
	case st.IfType == arphrdInfiniband && len(a) == infinibandAddrLen && len(st.HWAddr) == infinibandAddrLen:
		if isZeroBytes(a[infinibandAddrLen-8:]) {
			return nil
		}
		copy(a, st.HWAddr[:infinibandAddrLen-8])
	default:
		return nil
	}
	if string(a) == string(st.HWAddr) {
		return nil
	}
	return a
}

func isZeroBytes(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// siphash24 is SipHash-2-4 with a 128-bit key, systemd's siphash24().
func siphash24(msg []byte, key [16]byte) uint64 {
	k0 := binary.LittleEndian.Uint64(key[:8])
	k1 := binary.LittleEndian.Uint64(key[8:])
	v := [4]uint64{k0 ^ 0x736f6d6570736575, k1 ^ 0x646f72616e646f6d, k0 ^ 0x6c7967656e657261, k1 ^ 0x7465646279746573}
	n := len(msg)
	for ; len(msg) >= 8; msg = msg[8:] {
		m := binary.LittleEndian.Uint64(msg)
		v[3] ^= m
		sipRounds(&v, 2)
		v[0] ^= m
	}
	var last [8]byte
	copy(last[:], msg)
	last[7] = byte(n)
	m := binary.LittleEndian.Uint64(last[:])
	v[3] ^= m
	sipRounds(&v, 2)
	v[0] ^= m
	v[2] ^= 0xff
	sipRounds(&v, 4)
	return v[0] ^ v[1] ^ v[2] ^ v[3]
}

func sipRounds(v *[4]uint64, n int) {
	for i := 0; i < n; i++ {
		v[0] += v[1]
		v[1] = bits.RotateLeft64(v[1], 13) ^ v[0]
		v[0] = bits.RotateLeft64(v[0], 32)
		v[2] += v[3]
		v[3] = bits.RotateLeft64(v[3], 16) ^ v[2]
		v[0] += v[3]
		v[3] = bits.RotateLeft64(v[3], 21) ^ v[0]
		v[2] += v[1]
		v[1] = bits.RotateLeft64(v[1], 17) ^ v[2]
		v[2] = bits.RotateLeft64(v[2], 32)
	}
}
