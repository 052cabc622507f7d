package builtin

import (
	"os"
	"path/filepath"
	"testing"
)

// Speed is a benchmark, not a timed test:
//
//	go test -run '^$' -bench HWDB ./rules/builtin/
//
// BenchmarkOpenHWDB is the open of Debian bookworm's whole hwdb.bin (13
// MB): the map and the check of every node's offsets, which a one-shot
// `gudevd test` pays for each device that needs the hwdb.
// BenchmarkHWDBLookup is one lookup in it, the daemon's cost per event.
func BenchmarkOpenHWDB(b *testing.B) {
	path := fullHWDB(b)
	for b.Loop() {
		db, err := OpenHWDB(path)
		if err != nil {
			b.Fatal(err)
		}
		db.Close()
	}
}

func BenchmarkHWDBLookup(b *testing.B) {
	db := openTestHWDB(b, fullHWDB(b))
	const modalias = "usb:v0627p0001d0000dc00dsc00dp00ic03isc01ip01in00"
	n := 0
	for b.Loop() {
		n = len(db.Lookup(modalias))
	}
	b.ReportMetric(float64(n), "properties")
}

func fullHWDB(b *testing.B) string {
	path := filepath.Join(hwdbCacheDir(b), "full/lib/udev/hwdb.bin")
	if _, err := os.Stat(path); err != nil {
		b.Skipf("no full hwdb.bin (%v): run sh rules/builtin/testdata/hwdb/regen.sh", err)
	}
	return path
}
