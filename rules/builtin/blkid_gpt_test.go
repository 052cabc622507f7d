package builtin

import (
	"context"
	"io/fs"
	"runtime"
	"testing"
	"testing/fstest"
	"unicode/utf16"

	"github.com/google/go-cmp/cmp"
)

// The order systemd documents for strverscmp_improved, oldest first.
var versionOrder = []string{
	"122.1", "123~rc1-1", "123", "123-a", "123-a.1", "123-1", "123-1.1",
	"123^post1", "123.a-1", "123.1-1", "123a-1", "124-1",
}

func TestStrverscmpImproved(t *testing.T) {
	for i, a := range versionOrder {
		for j, b := range versionOrder {
			want := sign(i - j)
			if got := strverscmpImproved(a, b); got != want {
				t.Errorf("strverscmpImproved(%q, %q) = %d, want %d", a, b, got, want)
			}
		}
	}
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"", "a", -1}, {"root_00123", "root-123", 1}, {"root 2", "root.10", 1},
		{"abc", "abcde", -1}, {"1.10", "1.9", 1}, {"~", "", -1}, {"x_y", "xy", -1},
	} {
		if got := strverscmpImproved(tt.a, tt.b); got != tt.want {
			t.Errorf("strverscmpImproved(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

// gptSysfs is a disk vdx with three partitions and, unless loader is "",
// the EFI variable naming the partition the loader booted from.
func gptSysfs(loader string) fstest.MapFS {
	m := fstest.MapFS{
		"devices/virtual/block/vdx/uevent":    {Data: []byte("MAJOR=254\nMINOR=0\nDEVNAME=vdx\nDEVTYPE=disk\n")},
		"devices/virtual/block/vdx/subsystem": {Mode: fs.ModeSymlink, Data: []byte("../../../../class/block")},
	}
	for _, p := range []string{"1", "2", "3"} {
		dir := "devices/virtual/block/vdx/vdx" + p + "/"
		m[dir+"uevent"] = &fstest.MapFile{Data: []byte("DEVNAME=vdx" + p + "\nDEVTYPE=partition\n")}
		m[dir+"partition"] = &fstest.MapFile{Data: []byte(p + "\n"), Mode: 0o444}
	}
	if loader != "" {
		b := []byte{7, 0, 0, 0}
		for _, u := range utf16.Encode([]rune(loader + "\x00")) {
			b = append(b, byte(u), byte(u>>8))
		}
		m[loaderDevicePartUUID] = &fstest.MapFile{Data: b}
	}
	return m
}

func TestBlkidGPTAutoRoot(t *testing.T) {
	native, ok := gptRootNative[runtime.GOARCH]
	if !ok {
		t.Skipf("systemd has no native root partition type for %s", runtime.GOARCH)
	}
	rootType := native[:8] + "-" + native[8:12] + "-" + native[12:16] + "-" + native[16:20] + "-" + native[20:]
	const espUUID = "7a3b9c1d-0e2f-4a5b-8c6d-9e0f1a2b3c4d"
	esp := []Prop{{"PART_ENTRY_SCHEME", "gpt"}, {"PART_ENTRY_NAME", "EFI System"}, {"PART_ENTRY_UUID", espUUID},
		{"PART_ENTRY_TYPE", "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"}, {"PART_ENTRY_NUMBER", "1"}}
	root := func(uuid, name, flags string) []Prop {
		p := []Prop{{"PART_ENTRY_SCHEME", "gpt"}, {"PART_ENTRY_NAME", name}, {"PART_ENTRY_UUID", uuid},
			{"PART_ENTRY_TYPE", rootType}}
		if flags != "" {
			p = append(p, Prop{"PART_ENTRY_FLAGS", flags})
		}
		return p
	}
	disk := []Prop{{"PTUUID", "d"}, {"PTTYPE", "gpt"}}
	diskProps := []Prop{{"ID_PART_TABLE_UUID", "d"}, {"ID_PART_TABLE_TYPE", "gpt"}}
	tests := []struct {
		name   string
		loader string
		parts  map[string][]Prop
		want   []Prop
		probes int
	}{
		{"newest root", "7A3B9C1D-0E2F-4A5B-8C6D-9E0F1A2B3C4D",
			map[string][]Prop{"/dev/vdx1": esp, "/dev/vdx2": root("r-2", "root-1.10", ""), "/dev/vdx3": root("r-3", "root-1.9", "")},
			append(diskProps, Prop{"ID_PART_GPT_AUTO_ROOT_UUID", "r-2"}), 4},
		{"no-auto skipped", espUUID,
			map[string][]Prop{"/dev/vdx1": esp, "/dev/vdx2": root("r-2", "b", "0x8000000000000000"), "/dev/vdx3": root("r-3", "a", "0x1")},
			append(diskProps, Prop{"ID_PART_GPT_AUTO_ROOT_UUID", "r-3"}), 4},
		{"other ESP", "00000000-0000-4000-8000-000000000001",
			map[string][]Prop{"/dev/vdx1": esp, "/dev/vdx2": root("r-2", "", "")}, diskProps, 4},
		{"no root", espUUID, map[string][]Prop{"/dev/vdx1": esp}, diskProps, 4},
		{"no EFI boot", "", map[string][]Prop{"/dev/vdx1": esp, "/dev/vdx2": root("r-2", "", "")}, diskProps, 1},
		{"bad variable", "not a uuid", map[string][]Prop{"/dev/vdx1": esp}, diskProps, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			probes := 0
			probe := func(ctx context.Context, req BlkidRequest) ([]Prop, error) {
				probes++
				if req.Node == "/dev/vdx" {
					return disk, nil
				}
				return tt.parts[req.Node], nil
			}
			dev := &Device{Sysfs: gptSysfs(tt.loader), Syspath: "devices/virtual/block/vdx",
				Props: map[string]string{"DEVNAME": "/dev/vdx"}}
			got, err := Blkid(t.Context(), dev, []string{"blkid"}, probe)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if probes != tt.probes {
				t.Errorf("%d probes, want %d", probes, tt.probes)
			}
		})
	}
}
