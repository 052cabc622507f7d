package builtin

import (
	"context"
	"errors"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// The expectations below are derived by reading systemd 252's
// udev-builtin-net_id.c and netif-naming-scheme.h, not by running it; they
// are to be confirmed with `udevadm test-builtin net_id` on a guest.

const (
	pciRoot = "devices/pci0000:00"
	qemuMAC = "52:54:00:12:34:56"
)

// netCase is one interface in a tree built for it.
type netCase struct {
	name   string
	scheme string // "" for the default
	build  func(t sysTree) (syspath string, props map[string]string)
	want   []Prop
}

// named is what NetID gives a named interface: the scheme, the MAC name
// unless mac is "", then the other properties.
func named(scheme, mac string, kv ...string) []Prop {
	p := props("ID_NET_NAMING_SCHEME", scheme)
	if mac != "" {
		p = append(p, Prop{Key: "ID_NET_NAME_MAC", Value: mac})
	}
	return append(p, props(kv...)...)
}

func props(kv ...string) []Prop {
	var p []Prop
	for i := 0; i+1 < len(kv); i += 2 {
		p = append(p, Prop{Key: kv[i], Value: kv[i+1]})
	}
	return p
}

// e1000 is QEMU q35's e1000 at 0000:00:02.0.
func e1000(t sysTree) (string, map[string]string) {
	t.pci(pciRoot+"/0000:00:02.0", 0, "020000")
	p := pciRoot + "/0000:00:02.0/net/eth0"
	return p, t.netdev(p, "2", "1", qemuMAC)
}

// virtioNet is virtio-net at 0000:00:03.0, the interface on its virtio0.
func virtioNet(t sysTree) (string, map[string]string) {
	t.pci(pciRoot+"/0000:00:03.0", 0, "020000")
	t.dev(pciRoot+"/0000:00:03.0/virtio0", "bus/virtio", "DRIVER=virtio_net")
	p := pciRoot + "/0000:00:03.0/virtio0/net/eth0"
	return p, t.netdev(p, "2", "1", qemuMAC)
}

// multiFunction is function 1 of a two-port card behind a root port.
func multiFunction(fn string) func(t sysTree) (string, map[string]string) {
	return func(t sysTree) (string, map[string]string) {
		t.pci(pciRoot+"/0000:00:1c.0", 0x81, "060400")
		dev := pciRoot + "/0000:00:1c.0/0000:02:00." + fn
		t.pci(dev, 0x80, "020000")
		return dev + "/net/eth" + fn, t.netdev(dev+"/net/eth"+fn, "3", "1", "00:1b:21:0a:0b:0"+fn)
	}
}

// hotplug is a NIC in hotplug slot 3 (its own slot, not a bridge's).
func hotplug(t sysTree) (string, map[string]string) {
	t.slot("3", "0000:00:03")
	t.slot("4", "0000:00:04")
	return e1000at("0000:00:03.0")(t)
}

func e1000at(addr string) func(t sysTree) (string, map[string]string) {
	return func(t sysTree) (string, map[string]string) {
		t.pci(pciRoot+"/"+addr, 0, "020000")
		p := pciRoot + "/" + addr + "/net/eth0"
		return p, t.netdev(p, "2", "1", qemuMAC)
	}
}

// onboard is an onboard NIC whose firmware gives index and label.
func onboard(index, label string) func(t sysTree) (string, map[string]string) {
	return func(t sysTree) (string, map[string]string) {
		dev := pciRoot + "/0000:00:19.0"
		t.pci(dev, 0, "020000")
		t.attrs(dev, "acpi_index="+index)
		if label != "" {
			t.attrs(dev, "label="+label)
		}
		return dev + "/net/eth0", t.netdev(dev+"/net/eth0", "2", "1", "3c:97:0e:11:22:33")
	}
}

// usbNIC is a USB Ethernet adapter: interface 1-1:1.0 of the device on
// port 1 of the xHCI controller at 0000:00:04.0.
func usbNIC(intf string) func(t sysTree) (string, map[string]string) {
	return func(t sysTree) (string, map[string]string) {
		hc := pciRoot + "/0000:00:04.0"
		t.pci(hc, 0, "0c0330")
		t.dev(hc+"/usb1", "bus/usb", "DEVTYPE=usb_device")
		t.dev(hc+"/usb1/1-1", "bus/usb", "DEVTYPE=usb_device")
		t.dev(hc+"/usb1/1-1/"+intf, "bus/usb", "DEVTYPE=usb_interface")
		p := hc + "/usb1/1-1/" + intf + "/net/eth0"
		return p, t.netdev(p, "4", "1", "00:e0:4c:68:00:01")
	}
}

// wlan is an Intel wireless card behind a root port.
func wlan(t sysTree) (string, map[string]string) {
	t.pci(pciRoot+"/0000:00:1c.1", 0, "060400")
	dev := pciRoot + "/0000:00:1c.1/0000:03:00.0"
	t.pci(dev, 0, "028000")
	return dev + "/net/wlan0", t.netdev(dev+"/net/wlan0", "4", "1", "00:19:d2:75:ae:ff", "DEVTYPE=wlan")
}

// sriovVF is virtual function 0 (0000:01:10.0) of the physical function
// 0000:01:00.0, whose slot is 5 and onboard index 2.
func sriovVF(t sysTree) (string, map[string]string) {
	pf := pciRoot + "/0000:00:01.0/0000:01:00.0"
	vf := pciRoot + "/0000:00:01.0/0000:01:10.0"
	t.pci(pciRoot+"/0000:00:01.0", 0, "060400")
	t.pci(pf, 0, "020000")
	t.attrs(pf, "acpi_index=2", "label=Port 1")
	t.pci(vf, 0, "020000")
	t.link(pf+"/virtfn0", vf)
	t.link(vf+"/physfn", pf)
	t.slot("5", "0000:01:00")
	p := vf + "/net/eth1"
	return p, t.netdev(p, "5", "1", "02:11:22:33:44:55")
}

// ari is function 2 of device 1 with ARI enabled.
func ari(t sysTree) (string, map[string]string) {
	dev := pciRoot + "/0000:00:02.0/0000:03:01.2"
	t.pci(pciRoot+"/0000:00:02.0", 0, "060400")
	t.pci(dev, 0x80, "020000")
	t.attrs(dev, "ari_enabled=1")
	return dev + "/net/eth0", t.netdev(dev+"/net/eth0", "2", "1", qemuMAC)
}

// infiniband is an IPoIB port: type 32, a 20-byte address, dev_port 0
// and the port in dev_id, as older kernels had it.
func infiniband(devID string) func(t sysTree) (string, map[string]string) {
	return func(t sysTree) (string, map[string]string) {
		dev := pciRoot + "/0000:00:02.0/0000:05:00.0"
		t.pci(pciRoot+"/0000:00:02.0", 0, "060400")
		t.pci(dev, 0, "020700")
		p := dev + "/net/ib0"
		m := t.netdev(p, "3", "32", "80:00:02:08:fe:80:00:00:00:00:00:00:00:02:c9:03:00:0a:0b:0c", "dev_port=0", "dev_id="+devID)
		return p, m
	}
}

// bridgeSlot is a device behind a bridge that sits in hotplug slot 5.
func bridgeSlot(headerType byte) func(t sysTree) (string, map[string]string) {
	return func(t sysTree) (string, map[string]string) {
		br := pciRoot + "/0000:00:1c.0"
		t.pci(br, 0, "060400")
		t.slot("5", "0000:00:1c")
		dev := br + "/0000:02:00.0"
		t.pci(dev, headerType, "020000")
		return dev + "/net/eth0", t.netdev(dev+"/net/eth0", "2", "1", qemuMAC)
	}
}

// s390PCI is an s390 PCI function: domain 1, function_id 0x11, its slot
// directory named by the function id.
func s390PCI(t sysTree) (string, map[string]string) {
	dev := "devices/pci0001:00/0001:00:00.0"
	t.pci(dev, 0, "020000")
	t.attrs(dev, "function_id=0x00000011")
	t.slot("00000011", "0001:00:00")
	return dev + "/net/eth0", t.netdev(dev+"/net/eth0", "2", "1", "82:00:00:00:00:11")
}

// netdevsim is port 0 of netdevsim device 1.
func netdevsim(t sysTree) (string, map[string]string) {
	t.dev("devices/netdevsim1", "bus/netdevsim")
	p := "devices/netdevsim1/net/eth0"
	return p, t.netdev(p, "7", "1", "1e:2f:00:00:00:01", "phys_port_name=p0")
}

// xenVIF is a Xen netfront device.
func xenVIF(t sysTree) (string, map[string]string) {
	t.dev("devices/vif-0", "bus/xen", "DEVTYPE=vif")
	p := "devices/vif-0/net/eth0"
	return p, t.netdev(p, "2", "1", "00:16:3e:00:00:01")
}

// devicetree is a SoC's Ethernet with a devicetree alias of its node.
func devicetree(aliases ...string) func(t sysTree) (string, map[string]string) {
	return func(t sysTree) (string, map[string]string) {
		dev := "devices/platform/soc/ff3f0000.ethernet"
		node := devicetreeBase + "/soc/ethernet@ff3f0000"
		t.dev("devices/platform/soc", "bus/platform")
		t.dev(dev, "bus/platform")
		t.file(node+"/compatible", "snps,dwmac\x00")
		t.link(dev+"/of_node", node)
		for _, a := range aliases {
			t.file(devicetreeBase+"/aliases/"+a, "/soc/ethernet@ff3f0000\x00")
		}
		t.file(devicetreeBase+"/aliases/serial0", "/soc/serial@ff803000\x00")
		return dev + "/net/eth0", t.netdev(dev+"/net/eth0", "2", "1", "00:1e:06:00:00:01")
	}
}

func TestNetIDCommonHardware(t *testing.T) {
	runNetCases(t, []netCase{
		{name: "q35 e1000 at 00:02.0", build: e1000, want: named("v252", "enx525400123456", "ID_NET_NAME_PATH", "enp0s2")},
		{name: "virtio-net through its PCI parent", build: virtioNet, want: named("v252", "enx525400123456", "ID_NET_NAME_PATH", "enp0s3")},
		{name: "multi-function card, function 0 gets f0", build: multiFunction("0"), want: named("v252", "enx001b210a0b00", "ID_NET_NAME_PATH", "enp2s0f0")},
		{name: "multi-function card, function 1", build: multiFunction("1"), want: named("v252", "enx001b210a0b01", "ID_NET_NAME_PATH", "enp2s0f1")},
		{name: "hotplug slot 3", build: hotplug, want: named("v252", "enx525400123456", "ID_NET_NAME_PATH", "enp0s3",
			"ID_NET_NAME_SLOT", "ens3")},
		{name: "onboard acpi_index 1 with label", build: onboard("1", "Onboard LAN"), want: named("v252", "enx3c970e112233", "ID_NET_NAME_ONBOARD", "eno1",
			"ID_NET_LABEL_ONBOARD", "Onboard LAN",
			"ID_NET_NAME_PATH", "enp0s25")},
		{name: "USB NIC on the xHCI at 00:04.0", build: usbNIC("1-1:1.0"), want: named("v252", "enx00e04c680001", "ID_NET_NAME_PATH", "enp0s4u1")},
		{name: "USB port chain, configuration 2, interface 1", build: usbNIC("1-1.2:2.1"), want: named("v252", "enx00e04c680001", "ID_NET_NAME_PATH", "enp0s4u1u2c2i1")},
		{name: "wlan", build: wlan, want: named("v252", "wlx0019d275aeff", "ID_NET_NAME_PATH", "wlp3s0")},
		{name: "devicetree ethernet0 alias", build: devicetree("ethernet0"), want: named("v252", "enx001e06000001", "ID_NET_NAME_ONBOARD", "end0")},
		{name: "devicetree bare ethernet alias is index 0", build: devicetree("ethernet"), want: named("v252", "enx001e06000001", "ID_NET_NAME_ONBOARD", "end0")},
		{name: "devicetree ethernet and ethernet0 conflict", build: devicetree("ethernet", "ethernet0"), want: named("v252", "enx001e06000001")},
		{name: "devicetree ethernet2 alias", build: devicetree("ethernet2"), want: named("v252", "enx001e06000001", "ID_NET_NAME_ONBOARD", "end2")},
	})
}

// Each pair shows one flag of 252's scheme table: the scheme before the
// flag and the one that added it.
func TestNetIDSchemeFlags(t *testing.T) {
	runNetCases(t, []netCase{
		{name: "NamingSRIOVv absent (v238): the VF's own address", scheme: "v238", build: sriovVF, want: named("v238", "enx021122334455", "ID_NET_NAME_PATH", "enp1s16")},
		{name: "NamingSRIOVv (v239): the PF's names plus v0, no label", scheme: "v239", build: sriovVF, want: named("v239", "enx021122334455", "ID_NET_NAME_ONBOARD", "eno2v0",
			"ID_NET_NAME_PATH", "enp1s0v0",
			"ID_NET_NAME_SLOT", "ens5v0")},
		{name: "NamingNPARARI absent (v238)", scheme: "v238", build: ari, want: named("v238", "enx525400123456", "ID_NET_NAME_PATH", "enp3s1f2")},
		{name: "NamingNPARARI (v239): slot folds into the function", scheme: "v239", build: ari, want: named("v239", "enx525400123456", "ID_NET_NAME_PATH", "enp3s1f10")},
		{name: "NamingInfiniband absent (v239): not named", scheme: "v239", build: infiniband("0x1")},
		// The kernel prints dev_id in hex; 252 reads it as decimal, so
		// "0x1" is no port.
		{name: "NamingInfiniband (v240): ib prefix, no MAC name", scheme: "v240", build: infiniband("0x1"), want: named("v240", "", "ID_NET_NAME_PATH", "ibp5s0")},
		{name: "NamingInfiniband (v240): decimal dev_id stands in for dev_port 0", scheme: "v240", build: infiniband("1"), want: named("v240", "", "ID_NET_NAME_PATH", "ibp5s0d1")},
		{name: "NamingZeroACPIIndex absent (v239): index 0 refused", scheme: "v239", build: onboard("0", ""), want: named("v239", "enx3c970e112233", "ID_NET_NAME_PATH", "enp0s25")},
		{name: "NamingZeroACPIIndex (v240): eno0", scheme: "v240", build: onboard("0", ""), want: named("v240", "enx3c970e112233", "ID_NET_NAME_ONBOARD", "eno0",
			"ID_NET_NAME_PATH", "enp0s25")},
		{name: "NamingLabelNoPrefix absent (v241): label with prefix", scheme: "v241", build: onboard("1", "Onboard LAN"), want: named("v241", "enx3c970e112233", "ID_NET_NAME_ONBOARD", "eno1",
			"ID_NET_LABEL_ONBOARD", "enOnboard LAN",
			"ID_NET_NAME_PATH", "enp0s25")},
		{name: "NamingNetdevsim absent (v241)", scheme: "v241", build: netdevsim, want: named("v241", "enx1e2f00000001")},
		{name: "NamingNetdevsim (v243)", scheme: "v243", build: netdevsim, want: named("v243", "enx1e2f00000001", "ID_NET_NAME_PATH", "eni1np0")},
		{name: "NamingBridgeNoSlot absent (v245): the bridge's slot", scheme: "v245", build: bridgeSlot(0), want: named("v245", "enx525400123456", "ID_NET_NAME_PATH", "enp2s0",
			"ID_NET_NAME_SLOT", "ens5")},
		{name: "NamingBridgeNoSlot (v247): no slot from a bridge", scheme: "v247", build: bridgeSlot(0), want: named("v247", "enx525400123456", "ID_NET_NAME_PATH", "enp2s0")},
		{name: "NamingBridgeMultifunctionSlot absent (v250): multi-function, still no slot", scheme: "v250", build: bridgeSlot(0x80), want: named("v250", "enx525400123456", "ID_NET_NAME_PATH", "enp2s0f0")},
		{name: "NamingBridgeMultifunctionSlot (v251): multi-function gets the bridge's slot", scheme: "v251", build: bridgeSlot(0x80), want: named("v251", "enx525400123456", "ID_NET_NAME_PATH", "enp2s0f0",
			"ID_NET_NAME_SLOT", "ens5f0")},
		{name: "NamingBridgeMultifunctionSlot (v252): single function behind a bridge, no slot", build: bridgeSlot(0), want: named("v252", "enx525400123456", "ID_NET_NAME_PATH", "enp2s0")},
		// Before v249 the slot directory "00000011" is read as a number with
		// C's base 0: octal 011, 9.
		{name: "NamingSlotFunctionID absent (v247): slot by address", scheme: "v247", build: s390PCI, want: named("v247", "enx820000000011", "ID_NET_NAME_PATH", "enP1p0s0",
			"ID_NET_NAME_SLOT", "enP1s9")},
		{name: "NamingSlotFunctionID (v249): slot by function_id, no domain", scheme: "v249", build: s390PCI, want: named("v249", "enx820000000011", "ID_NET_NAME_PATH", "enP1p0s0",
			"ID_NET_NAME_SLOT", "ens17")},
		{name: "Naming16BitIndex absent (v247): index 20000 refused", scheme: "v247", build: onboard("20000", ""), want: named("v247", "enx3c970e112233", "ID_NET_NAME_PATH", "enp0s25")},
		{name: "Naming16BitIndex (v249): index 20000", scheme: "v249", build: onboard("20000", ""), want: named("v249", "enx3c970e112233", "ID_NET_NAME_ONBOARD", "eno20000",
			"ID_NET_NAME_PATH", "enp0s25")},
		{name: "Naming16BitIndex (v252): index 65536 refused still", build: onboard("65536", ""), want: named("v252", "enx3c970e112233", "ID_NET_NAME_PATH", "enp0s25")},
		{name: "NamingXenVIF absent (v249)", scheme: "v249", build: xenVIF, want: named("v249", "enx00163e000001")},
		{name: "NamingXenVIF (v250)", scheme: "v250", build: xenVIF, want: named("v250", "enx00163e000001", "ID_NET_NAME_SLOT", "enX0")},
		{name: "NamingDevicetreeAliases absent (v251)", scheme: "v251", build: devicetree("ethernet0"), want: named("v251", "enx001e06000001")},
		{name: "latest is v252", scheme: "latest", build: e1000, want: named("v252", "enx525400123456", "ID_NET_NAME_PATH", "enp0s2")},
	})
}

func runNetCases(t *testing.T, cases []netCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			scheme := DefaultNamingScheme()
			if c.scheme != "" {
				var ok bool
				if scheme, ok = LookupNamingScheme(c.scheme); !ok {
					t.Fatalf("no scheme %q", c.scheme)
				}
			}
			tree := sysTree{}
			p, kprops := c.build(tree)
			got, err := NetID(context.Background(), &Device{Sysfs: fstest.MapFS(tree), Syspath: p, Props: kprops}, nil, scheme, nil)
			if err != nil {
				t.Fatalf("NetID: %v", err)
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("NetID %s (-want +got):\n%s", p, diff)
			}
		})
	}
}

func TestNetIDMissingIfindex(t *testing.T) {
	tree := sysTree{}
	p, _ := e1000(tree)
	tree.file(p+"/uevent", "INTERFACE=eth0\n")
	_, err := NetID(context.Background(), &Device{Sysfs: fstest.MapFS(tree), Syspath: p, Props: map[string]string{"INTERFACE": "eth0"}}, nil, DefaultNamingScheme(), nil)
	if !errors.Is(err, ErrNoLinkInfo) {
		t.Fatalf("NetID without IFINDEX: %v, want ErrNoLinkInfo", err)
	}
}
