package builtin

import (
	"path/filepath"
	"testing"

	"github.com/gudevd/gudevd/uevent/sysfstest"
)

// TestInputIDGuest compares input_id with `udevadm test-builtin input_id`
// of systemd-udevd 252 on the 6.1 QEMU guest (testdata/guest, read with
// guest_test.go's helpers), device by device. The guest's tablet reports
// no resolution, so udevd added no ID_INPUT_WIDTH_MM there either.
func TestInputIDGuest(t *testing.T) {
	sysfs, err := sysfstest.Load(filepath.Join("testdata", "guest", "sys.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	db := readExportDB(t)
	for _, c := range readGuestCases(t, "input_id") {
		t.Run(c.devpath, func(t *testing.T) {
			dev, err := guestDevice(sysfs, db, c.devpath)
			if err != nil {
				t.Fatal(err)
			}
			got, err := InputID(t.Context(), dev, []string{"input_id"})
			if msg := guestDiff(c, got, err); msg != "" {
				t.Error(msg)
			}
		})
	}
}
