package builtin

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gudevd/gudevd/uevent/sysfstest"
)

// TestNetSetupLinkGuest runs net_setup_link's pure part for the bookworm
// guest's interfaces with Debian's 99-default.link, against the
// ID_NET_DRIVER, ID_NET_LINK_FILE and ID_NET_NAME its udevd recorded
// (rules/testdata/guest/export-db.txt). The interfaces are renamed
// already (name_assign_type 4), so the keep policy keeps their names, as
// udevadm test did on them.
func TestNetSetupLinkGuest(t *testing.T) {
	sysfs, err := sysfstest.Load(filepath.Join("testdata", "guest", "sys.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	db := readExportDB(t)
	configs, err := LoadLinkConfigs(context.Background(), linkRoot(t, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	setup := LinkSetup{Configs: configs, Scheme: DefaultNamingScheme(), NamePolicy: true}
	for _, devpath := range []string{
		"/devices/pci0000:00/0000:00:01.0/net/enp0s1",
		"/devices/pci0000:00/0000:00:02.0/virtio0/net/enp0s2",
		"/devices/virtual/net/lo", // loopback: no .link file, no driver
	} {
		t.Run(devpath, func(t *testing.T) {
			dev, err := guestDevice(sysfs, db, devpath)
			if err != nil {
				t.Fatal(err)
			}
			st, err := LinkStateFromSysfs(dev)
			if err != nil {
				t.Fatal(err)
			}
			st.Action = "add" // the database has no ACTION; udevadm test says add
			plan, err := NetSetupLink(context.Background(), setup, st, []string{"net_setup_link"})
			if err != nil {
				t.Fatal(err)
			}
			var want []Prop
			for _, k := range []string{"ID_NET_DRIVER", "ID_NET_LINK_FILE", "ID_NET_NAME"} {
				if v, ok := db[devpath][k]; ok {
					want = append(want, Prop{Key: k, Value: v})
				}
			}
			if diff := cmp.Diff(want, plan.Props); diff != "" {
				t.Errorf("NetSetupLink (-udevd +got):\n%s", diff)
			}
			if plan.MACAddress != nil || plan.RandomMACAddress {
				t.Errorf("a permanent address under policy persistent changed: %x %v", plan.MACAddress, plan.RandomMACAddress)
			}
		})
	}
}
