package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestModaliases walks a directory shaped like /sys/devices: modalias
// files and MODALIAS= lines count, duplicates collapse, symlinks (the class
// and bus views of sysfs) are not followed.
func TestModaliases(t *testing.T) {
	root := t.TempDir()
	write := func(p, s string) {
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("pci0000:00/0000:00:02.0/modalias", "pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00\n")
	write("pci0000:00/0000:00:02.0/uevent", "DRIVER=e1000\nMODALIAS=pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00\n")
	write("system/cpu/cpu0/uevent", "DRIVER=processor\nMODALIAS=cpu:type:x86,ven0002fam000Fmod006B:feature:,0000\n")
	write("system/cpu/cpu1/uevent", "MODALIAS=cpu:type:x86,ven0002fam000Fmod006B:feature:,0000\n")
	write("virtual/mem/null/uevent", "MAJOR=1\nMINOR=3\nDEVNAME=null\n")
	write("platform/serial8250/modalias", "  \n")
	if err := os.Symlink(filepath.Join(root, "pci0000:00"), filepath.Join(root, "system", "link")); err != nil {
		t.Fatal(err)
	}
	write("../outside/modalias", "usb:should-not-appear\n")
	if err := os.Symlink(filepath.Join(root, "..", "outside"), filepath.Join(root, "virtual", "out")); err != nil {
		t.Fatal(err)
	}
	got, err := modaliases(root)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"cpu:type:x86,ven0002fam000Fmod006B:feature:,0000",
		"pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("modaliases (-want +got):\n%s", diff)
	}
}
