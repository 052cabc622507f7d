package builtin

import (
	"encoding/binary"
	"encoding/hex"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSiphash24(t *testing.T) {
	// systemd's test-siphash24.c vector: key 00..0f, message 00..0e.
	var key [16]byte
	msg := make([]byte, 15)
	for i := range key {
		key[i] = byte(i)
		if i < 15 {
			msg[i] = byte(i)
		}
	}
	if got := siphash24(msg, key); got != 0xa129ca6149be45e5 {
		t.Errorf("siphash24 = %#x, want 0xa129ca6149be45e5", got)
	}
}

const testMachineID = "0123456789abcdef0123456789abcdef"

// hashedMAC is what 252 derives for a name: the first 6 little-endian
// bytes of SipHash-2-4 over the machine ID's bytes and the name, unicast
// and locally administered.
func hashedMAC(name string) []byte {
	id, _ := hex.DecodeString(testMachineID)
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], siphash24(append(id, name...), persistentMACKey))
	b[0] = b[0]&^0x01 | 0x02
	return b[:6]
}

func TestMACPlan(t *testing.T) {
	random := []byte{0x7a, 0x11, 0x22, 0x33, 0x44, 0x55}
	for _, c := range []struct {
		name       string
		link       string // [Link] lines
		scheme     string
		st         LinkState
		want       []byte
		wantRandom bool
	}{
		{name: "persistent: a permanent address stays", link: "MACAddressPolicy=persistent",
			st: LinkState{Ifname: "eth0", IfType: arphrdEther, HWAddr: []byte{0x52, 0x54, 0, 0x12, 0x34, 0x56}}},
		{name: "persistent: a bridge's random address is hashed from its path name", link: "MACAddressPolicy=persistent",
			st:   LinkState{Ifname: "eth0", IfType: arphrdEther, AddrAssignType: netAddrRandom, HWAddr: random, Props: map[string]string{"ID_NET_NAME_PATH": "enp0s3"}},
			want: hashedMAC("enp0s3")},
		{name: "NamingStableVirtualMACs (v241): a nameless bridge is hashed from its kernel name", link: "MACAddressPolicy=persistent", scheme: "v241",
			st:   LinkState{Ifname: "br0", IfType: arphrdEther, AddrAssignType: netAddrRandom, HWAddr: random},
			want: hashedMAC("br0")},
		{name: "NamingStableVirtualMACs absent (v240): a nameless bridge keeps its address", link: "MACAddressPolicy=persistent", scheme: "v240",
			st: LinkState{Ifname: "br0", IfType: arphrdEther, AddrAssignType: netAddrRandom, HWAddr: random}},
		{name: "persistent: an address user space set stays", link: "MACAddressPolicy=persistent",
			st: LinkState{Ifname: "br0", IfType: arphrdEther, AddrAssignType: netAddrSet, HWAddr: random}},
		{name: "random on a permanent address asks for one", link: "MACAddressPolicy=random",
			st: LinkState{Ifname: "eth0", IfType: arphrdEther, HWAddr: []byte{0x52, 0x54, 0, 0x12, 0x34, 0x56}}, wantRandom: true},
		{name: "random on a random address: already so", link: "MACAddressPolicy=random",
			st: LinkState{Ifname: "eth0", IfType: arphrdEther, AddrAssignType: netAddrRandom, HWAddr: random}},
		{name: "static address loses its multicast bit", link: "MACAddressPolicy=none\nMACAddress=03:00:00:00:00:01",
			st:   LinkState{Ifname: "eth0", IfType: arphrdEther, HWAddr: random},
			want: []byte{2, 0, 0, 0, 0, 1}},
		{name: "static global address stays global", link: "MACAddress=00:11:22:33:44:55",
			st:   LinkState{Ifname: "eth0", IfType: arphrdEther, AddrAssignType: netAddrSet, HWAddr: random},
			want: []byte{0, 0x11, 0x22, 0x33, 0x44, 0x55}},
		{name: "static address equal to the current one: nothing", link: "MACAddress=7a:11:22:33:44:55",
			st: LinkState{Ifname: "eth0", IfType: arphrdEther, HWAddr: random}},
		{name: "static address of the wrong length: refused", link: "MACAddress=00:00:00:00",
			st: LinkState{Ifname: "eth0", IfType: arphrdEther, HWAddr: random}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := ParseLinkConfig("/t.link", []byte("[Match]\nOriginalName=*\n[Link]\n"+c.link+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			scheme := DefaultNamingScheme()
			if c.scheme != "" {
				scheme, _ = LookupNamingScheme(c.scheme)
			}
			got, gotRandom := macPlan(cfg, c.st, scheme, testMachineID)
			if diff := cmp.Diff(c.want, got); diff != "" || gotRandom != c.wantRandom {
				t.Errorf("macPlan random %v, want %v; address (-want +got):\n%s", gotRandom, c.wantRandom, diff)
			}
		})
	}
}
