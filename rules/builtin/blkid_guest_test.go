package builtin

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/gudevd/gudevd/uevent/sysfstest"
)

// readBlkidRaw reads testdata/guest/blkid-raw/DEV.txt, `blkid -p -o
// export` of the device's node on the guest, then "exit=N", and returns
// what BlkidResult makes of it (the guest's stderr was not kept: blkid
// prints nothing there for a device it opens).
func readBlkidRaw(t *testing.T, devpath string) ([]Prop, error) {
	t.Helper()
	name := strings.ReplaceAll(strings.TrimPrefix(devpath, "/"), "/", "!") + ".txt"
	b, err := os.ReadFile(filepath.Join("testdata", "guest", "blkid-raw", name))
	if err != nil {
		t.Fatalf("no blkid-raw capture for %s: %v", devpath, err)
	}
	i := strings.LastIndex(string(b), "exit=")
	if i < 0 {
		t.Fatalf("%s: no exit= line", name)
	}
	out, status := b[:i], strings.TrimSpace(string(b[i+len("exit="):]))
	code, err := strconv.Atoi(status)
	if err != nil {
		t.Fatalf("%s: exit=%q: %v", name, status, err)
	}
	return BlkidResult(out, nil, code)
}

// guestCharOpen is the probe's open of a character device's node on the
// guest, which blkid-raw has no capture of: udevd's workers and udevadm
// have no controlling terminal, so /dev/tty fails with ENXIO; the other
// nodes open (and then libblkid refuses them).
func guestCharOpen(node string) ([]Prop, error) {
	if node == "/dev/tty" {
		return nil, fmt.Errorf("open %s: %w", node, syscall.ENXIO)
	}
	return nil, nil
}

// TestBlkidGuest feeds each block device's captured blkid output through
// the builtin (a probe that returns it) and compares with what udevd 252's
// blkid builtin printed for it on the same guest
// (`udevadm test-builtin blkid`): the same properties in the same order.
func TestBlkidGuest(t *testing.T) {
	sysfs, err := sysfstest.Load(filepath.Join("testdata", "guest", "sys.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	db := readExportDB(t)
	cases := readGuestCases(t, "blkid")
	same := 0
	for _, c := range cases {
		dev, err := guestDevice(sysfs, db, c.devpath)
		if err != nil {
			t.Errorf("%s: %v", c.devpath, err)
			continue
		}
		probe := func(ctx context.Context, req BlkidRequest) ([]Prop, error) {
			if want := dev.Props["DEVNAME"]; req.Node != want {
				t.Errorf("%s: probed %s, want %s", c.devpath, req.Node, want)
			}
			if dev.Props["SUBSYSTEM"] != "block" {
				return guestCharOpen(req.Node)
			}
			return readBlkidRaw(t, c.devpath)
		}
		got, err := Blkid(t.Context(), dev, []string{"blkid"}, probe)
		if msg := guestDiff(c, got, err); msg != "" {
			t.Errorf("blkid %s: %s", c.devpath, msg)
			continue
		}
		same++
	}
	if len(cases) < 4 {
		t.Errorf("only %d captured block devices", len(cases))
	}
	t.Logf("blkid: %d of %d devices as udevd 252", same, len(cases))
}
