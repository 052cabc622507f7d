package builtin

import (
	"context"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// withAttrs adds attributes to the interface a builder made.
func withAttrs(build func(sysTree) (string, map[string]string), kv ...string) func(sysTree) (string, map[string]string) {
	return func(t sysTree) (string, map[string]string) {
		p, m := build(t)
		t.attrs(p, kv...)
		return p, m
	}
}

// withDevtype gives the interface a DEVTYPE, in its uevent and its event.
func withDevtype(build func(sysTree) (string, map[string]string), devtype string) func(sysTree) (string, map[string]string) {
	return func(t sysTree) (string, map[string]string) {
		p, m := build(t)
		m["DEVTYPE"] = devtype
		t.file(p+"/uevent", "INTERFACE="+m["INTERFACE"]+"\nIFINDEX="+m["IFINDEX"]+"\nDEVTYPE="+devtype+"\n")
		return p, m
	}
}

// onParent builds an interface eth0 below parent, whose subsystem is
// given, below any extra devices in between.
func onParent(parent, subsystem string, between ...string) func(sysTree) (string, map[string]string) {
	return func(t sysTree) (string, map[string]string) {
		t.dev(parent, subsystem)
		for _, b := range between {
			t.dev(b, "bus/virtio")
		}
		dir := parent
		if len(between) > 0 {
			dir = between[len(between)-1]
		}
		p := dir + "/net/eth0"
		return p, t.netdev(p, "2", "1", "02:00:00:00:00:01")
	}
}

func TestNetIDBranches(t *testing.T) {
	runNetCases(t, []netCase{
		{name: "stacked: iflink is another interface", build: withAttrs(e1000, "iflink=3")},
		{name: "loopback type 772 is not named", build: withAttrs(e1000, "type=772")},
		{name: "random address: no MAC name", build: withAttrs(e1000, "addr_assign_type=1"), want: named("v252", "", "ID_NET_NAME_PATH", "enp0s2")},
		{name: "no addr_assign_type: no MAC name", build: func(t sysTree) (string, map[string]string) {
			p, m := e1000(t)
			delete(t, p+"/addr_assign_type")
			return p, m
		}, want: named("v252", "", "ID_NET_NAME_PATH", "enp0s2")},
		{name: "wwan prefix", build: withDevtype(e1000, "wwan"), want: named("v252", "wwx525400123456", "ID_NET_NAME_PATH", "wwp0s2")},
		{name: "SLIP prefix", build: withAttrs(e1000, "type=256"), want: named("v252", "slx525400123456", "ID_NET_NAME_PATH", "slp0s2")},
		{name: "dev_port 1", build: withAttrs(onboard("1", ""), "dev_port=1"), want: named("v252", "enx3c970e112233", "ID_NET_NAME_ONBOARD", "eno1d1",
			"ID_NET_NAME_PATH", "enp0s25d1")},
		{name: "phys_port_name wins over dev_port", build: withAttrs(hotplug, "dev_port=1", "phys_port_name=p1"), want: named("v252", "enx525400123456", "ID_NET_NAME_PATH", "enp0s3np1",
			"ID_NET_NAME_SLOT", "ens3np1")},
		{name: "SMBIOS index when there is no acpi_index", build: func(t sysTree) (string, map[string]string) {
			p, m := onboard("1", "")(t)
			delete(t, pciRoot+"/0000:00:19.0/acpi_index")
			t.attrs(pciRoot+"/0000:00:19.0", "index=3")
			return p, m
		}, want: named("v252", "enx3c970e112233", "ID_NET_NAME_ONBOARD", "eno3",
			"ID_NET_NAME_PATH", "enp0s25")},
		{name: "PCI domain 1", build: func(t sysTree) (string, map[string]string) {
			t.pci("devices/pci0001:00/0001:00:02.0", 0, "020000")
			t.slot("2", "0001:00:02")
			p := "devices/pci0001:00/0001:00:02.0/net/eth0"
			return p, t.netdev(p, "2", "1", qemuMAC)
		}, want: named("v252", "enx525400123456", "ID_NET_NAME_PATH", "enP1p0s2",
			"ID_NET_NAME_SLOT", "enP1s2")},
		{name: "slot named 1-1 is not a slot", build: func(t sysTree) (string, map[string]string) {
			t.slot("1-1", "0000:00:03")
			return e1000at("0000:00:03.0")(t)
		}, want: named("v252", "enx525400123456", "ID_NET_NAME_PATH", "enp0s3")},
		{name: "USB on a SoC's controller: no PCI, MAC only", build: func(t sysTree) (string, map[string]string) {
			t.dev("devices/platform/soc/3f980000.usb", "bus/platform")
			t.dev("devices/platform/soc/3f980000.usb/usb1", "bus/usb", "DEVTYPE=usb_device")
			t.dev("devices/platform/soc/3f980000.usb/usb1/1-1", "bus/usb", "DEVTYPE=usb_device")
			t.dev("devices/platform/soc/3f980000.usb/usb1/1-1/1-1:1.0", "bus/usb", "DEVTYPE=usb_interface")
			p := "devices/platform/soc/3f980000.usb/usb1/1-1/1-1:1.0/net/eth0"
			return p, t.netdev(p, "2", "1", "b8:27:eb:00:00:01")
		}, want: named("v252", "enxb827eb000001")},
		{name: "USB behind a slotted controller", build: func(t sysTree) (string, map[string]string) {
			t.slot("4", "0000:00:04")
			return usbNIC("1-1:1.0")(t)
		}, want: named("v252", "enx00e04c680001", "ID_NET_NAME_PATH", "enp0s4u1",
			"ID_NET_NAME_SLOT", "ens4u1")},
		{name: "BCMA core 1", build: func(t sysTree) (string, map[string]string) {
			t.pci(pciRoot+"/0000:00:05.0", 0, "028000")
			t.dev(pciRoot+"/0000:00:05.0/bcma0:1", "bus/bcma")
			p := pciRoot + "/0000:00:05.0/bcma0:1/net/eth0"
			return p, t.netdev(p, "2", "1", "00:10:18:00:00:01")
		}, want: named("v252", "enx001018000001", "ID_NET_NAME_PATH", "enp0s5b1")},
		{name: "qeth on ccwgroup", build: onParent("devices/qeth/0.0.f5f0", "bus/ccwgroup"), want: named("v252", "enx020000000001", "ID_NET_NAME_PATH", "encf5f0")},
		{name: "virtio-net on ccw 0.0.0000", build: onParent("devices/css0/0.0.0000/0.0.0000", "bus/ccw", "devices/css0/0.0.0000/0.0.0000/virtio0"), want: named("v252", "enx020000000001", "ID_NET_NAME_PATH", "enc0")},
		{name: "ibmveth on vio", build: onParent("devices/vio/3000000a", "bus/vio"), want: named("v252", "enx020000000001", "ID_NET_NAME_SLOT", "env10")},
		{name: "ACPI platform device HISI00C2:01", build: onParent("devices/platform/HISI00C2:01", "bus/platform"), want: named("v252", "enx020000000001", "ID_NET_NAME_PATH", "enahisic2i1")},
		{name: "ACPI platform device with PNP ID", build: onParent("devices/platform/PNP0C02:00", "bus/platform"), want: named("v252", "enx020000000001", "ID_NET_NAME_PATH", "enapnpc02i0")},
		{name: "xen-backend is not a netfront", build: onParent("devices/vif-1", "bus/xen-backend"), want: named("v252", "enx020000000001")},
		{name: "xen vif-01 has a leading zero", build: onParent("devices/vif-01", "bus/xen"), want: named("v252", "enx020000000001")},
	})
}

func TestNetIDOUILookup(t *testing.T) {
	for _, c := range []struct {
		name, address string
		wantAsked     []string
		want          []Prop
	}{
		{"asks with the address in capitals, adds after the MAC name", "52:54:00:ab:cd:ef", []string{"OUI:525400ABCDEF"}, named("v252", "enx525400abcdef", "ID_OUI_FROM_DATABASE", "QEMU",
			"ID_NET_NAME_PATH", "enp0s2")},
		{"skips the misused 00:00:00", "00:00:00:ab:cd:ef", nil, named("v252", "enx000000abcdef", "ID_NET_NAME_PATH", "enp0s2")},
	} {
		t.Run(c.name, func(t *testing.T) {
			tree := sysTree{}
			p, m := e1000(tree)
			tree.attrs(p, "address="+c.address)
			var asked []string
			lookup := func(_ context.Context, modalias string) ([]Prop, error) {
				asked = append(asked, modalias)
				return props("ID_OUI_FROM_DATABASE", "QEMU"), nil
			}
			got, err := NetID(context.Background(), &Device{Sysfs: fstest.MapFS(tree), Syspath: p, Props: m}, nil, DefaultNamingScheme(), lookup)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.wantAsked, asked); diff != "" {
				t.Errorf("lookups (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("NetID (-want +got):\n%s", diff)
			}
		})
	}
}
