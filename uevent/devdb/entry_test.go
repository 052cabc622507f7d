package devdb

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// vdaDB is the entry udevd 252 wrote for the QEMU guest's root disk, as
// rules/testdata/guest/export-db.txt shows it (the properties the uevent
// file lacks, the links, the tags); its G:/Q: order is udevd's set order.
const vdaDB = "S:disk/by-path/virtio-pci-0000:00:05.0\nS:disk/by-diskseq/1\nS:disk/by-label/root\n" +
	"S:disk/by-path/pci-0000:00:05.0\nS:disk/by-uuid/5f0c8e1a-7d2b-4e9c-a3f6-2b8d4c1e9a07\n" +
	"I:11439873\nE:ID_PATH=pci-0000:00:05.0\nE:ID_PATH_TAG=pci-0000_00_05_0\nE:ID_FS_LABEL=root\n" +
	"E:ID_FS_LABEL_ENC=root\nE:ID_FS_UUID=5f0c8e1a-7d2b-4e9c-a3f6-2b8d4c1e9a07\n" +
	"E:ID_FS_UUID_ENC=5f0c8e1a-7d2b-4e9c-a3f6-2b8d4c1e9a07\nE:ID_FS_VERSION=1.0\nE:ID_FS_TYPE=ext4\n" +
	"E:ID_FS_USAGE=filesystem\nG:systemd\nQ:systemd\nV:1\n"

func vdaEntry() Entry {
	return Entry{
		Devlinks: []string{"/dev/disk/by-path/virtio-pci-0000:00:05.0", "/dev/disk/by-diskseq/1", "/dev/disk/by-label/root",
			"/dev/disk/by-path/pci-0000:00:05.0", "/dev/disk/by-uuid/5f0c8e1a-7d2b-4e9c-a3f6-2b8d4c1e9a07"},
		Usec: 11439873,
		Props: []Property{
			{"ID_PATH", "pci-0000:00:05.0"}, {"ID_PATH_TAG", "pci-0000_00_05_0"}, {"ID_FS_LABEL", "root"},
			{"ID_FS_LABEL_ENC", "root"}, {"ID_FS_UUID", "5f0c8e1a-7d2b-4e9c-a3f6-2b8d4c1e9a07"},
			{"ID_FS_UUID_ENC", "5f0c8e1a-7d2b-4e9c-a3f6-2b8d4c1e9a07"}, {"ID_FS_VERSION", "1.0"},
			{"ID_FS_TYPE", "ext4"}, {"ID_FS_USAGE", "filesystem"},
		},
		Tags: []string{"systemd"}, CurrentTags: []string{"systemd"}, Version: 1,
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		text string
		want Entry
	}{
		{name: "empty", text: "", want: Entry{}},
		{name: "guest vda", text: vdaDB, want: vdaEntry()},
		{
			name: "every key",
			text: "S:disk/by-id/a\nS:disk/by-path/b\nL:-10\nI:18295285\nE:ID_FS_TYPE=ext4\nE:A=b=c\nG:systemd\nG:seat\nQ:systemd\nV:1\n",
			want: Entry{
				Devlinks: []string{"/dev/disk/by-id/a", "/dev/disk/by-path/b"}, LinkPriority: -10, Usec: 18295285,
				Props: []Property{{"ID_FS_TYPE", "ext4"}, {"A", "b=c"}},
				Tags:  []string{"systemd", "seat"}, CurrentTags: []string{"systemd"}, Version: 1,
			},
		},
		{
			name: "before V:1 there are no current tags, Current is every tag",
			text: "G:systemd\nG:uaccess\n",
			want: Entry{Tags: []string{"systemd", "uaccess"}},
		},
		{name: "a Q: tag is a G: tag too", text: "Q:seat\nG:seat\nV:1\n", want: Entry{Tags: []string{"seat"}, CurrentTags: []string{"seat"}, Version: 1}},
		{
			name: "unknown keys, bad values and invalid tags are skipped",
			text: "W:1\nN:sda\nE:NOEQUALS\nG:a:b\nG:a b\nI:x\nL:1x\nV:-1\nE:K=v\n",
			want: Entry{Props: []Property{{"K", "v"}}},
		},
		{name: "an empty key is a key", text: "E:=v\n", want: Entry{Props: []Property{{"", "v"}}}},
		{
			name: "a key without ':' swallows the next line",
			text: "X\nE:LOST=1\nE:K=v\n",
			want: Entry{Props: []Property{{"K", "v"}}},
		},
		{name: "the value starts right after ':', even at a newline", text: "G:\nfoo\n", want: Entry{Tags: []string{"\nfoo"}}},
		{name: "a last line without newline is not read", text: "E:A=1\nE:B=2", want: Entry{Props: []Property{{"A", "1"}}}},
		{name: "'\\r' ends a line too", text: "E:A=1\rE:B=2\r", want: Entry{Props: []Property{{"A", "1"}, {"B", "2"}}}},
		{name: "a NUL ends the value", text: "E:A=1\x00junk\nS:\x00\nG:\x00\n", want: Entry{Props: []Property{{"A", "1"}}}},
		{
			name: "numbers as safe_atoi and safe_atou read them",
			text: "L: 0x10\nI:0o17\nV:0b1\n",
			want: Entry{LinkPriority: 16, Usec: 15, Version: 1},
		},
		{name: "octal, sign, out of range", text: "L:-010\nI:-1\nV:4294967296\n", want: Entry{LinkPriority: -8}},
		{
			name: "a repeated key keeps its place, an empty value unsets it",
			text: "E:A=1\nE:B=2\nE:A=3\nE:B=\nS:x\nS:x\nV:1\n",
			want: Entry{Props: []Property{{"A", "3"}}, Devlinks: []string{"/dev/x"}, Version: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Parse([]byte(tt.text))); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCurrent(t *testing.T) {
	tests := []struct {
		name string
		e    Entry
		want []string
	}{
		{name: "V:1 has Q:", e: Entry{Tags: []string{"a", "b"}, CurrentTags: []string{"a"}, Version: 1}, want: []string{"a"}},
		{name: "V:1 without Q:", e: Entry{Tags: []string{"a"}, Version: 1}, want: nil},
		{name: "before V:1", e: Entry{Tags: []string{"a", "b"}}, want: []string{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.e.Current()); diff != "" {
				t.Errorf("Current (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		name string
		e    Entry
		want string
	}{
		{name: "guest vda", e: vdaEntry(), want: vdaDB},
		{
			name: "line order",
			e: Entry{
				Version: 1, CurrentTags: []string{"t"}, Tags: []string{"t", "u"}, Props: []Property{{"K", "v"}},
				Usec: 7, LinkPriority: 5, Devlinks: []string{"/dev/disk/by-id/a"},
			},
			want: "S:disk/by-id/a\nL:5\nI:7\nE:K=v\nG:t\nG:u\nQ:t\nV:1\n",
		},
		{name: "zero priority, time and version are not written", e: Entry{Props: []Property{{"K", "v"}}}, want: "E:K=v\n"},
		{name: "nothing", e: Entry{}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, string(Format(tt.e))); diff != "" {
				t.Errorf("Format (-want +got):\n%s", diff)
			}
		})
	}
}

func TestContent(t *testing.T) {
	links := Entry{Devlinks: []string{"/dev/x"}, LinkPriority: 3, Usec: 9, Version: 0}
	tests := []struct {
		name     string
		id       string
		e        Entry
		want     string
		wantKeep bool
	}{
		{name: "device number: links, V:1", id: "b8:0", e: links, want: "S:x\nL:3\nI:9\nV:1\n", wantKeep: true},
		{name: "no device number: no links, but info", id: "n2", e: links, want: "I:9\nV:1\n", wantKeep: true},
		{name: "no info, device number: empty file", id: "c1:3", e: Entry{Usec: 9}, want: "", wantKeep: true},
		{name: "no info, ifindex: empty file", id: "n1", e: Entry{Usec: 9}, want: "", wantKeep: true},
		{name: "no info, neither: deleted", id: "+pci:0000:00:01.0", e: Entry{Usec: 9}, want: "", wantKeep: false},
		{name: "a driver with a tag", id: "+drivers:pci:e1000", e: Entry{Tags: []string{"t"}}, want: "G:t\nV:1\n", wantKeep: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, keep := Content(tt.id, tt.e)
			if diff := cmp.Diff(tt.want, string(got)); diff != "" || keep != tt.wantKeep {
				t.Errorf("Content = %v (-want +got):\n%s", keep, diff)
			}
		})
	}
}

func TestID(t *testing.T) {
	tests := []struct {
		name, subsystem, syspath string
		major, minor             uint32
		ifindex                  int
		want                     string
	}{
		{name: "block", subsystem: "block", syspath: "/sys/devices/x/block/sda", major: 8, want: "b8:0"},
		{name: "char", subsystem: "input", syspath: "/sys/devices/x/input/event4", major: 13, minor: 68, want: "c13:68"},
		{name: "usb char", subsystem: "usb", syspath: "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-1", major: 189, minor: 1, want: "c189:1"},
		{name: "minor without major is no number", subsystem: "mem", syspath: "/sys/devices/virtual/mem/x", minor: 3, want: "+mem:x"},
		{name: "netif", subsystem: "net", syspath: "/sys/devices/virtual/net/lo", ifindex: 1, want: "n1"},
		{name: "device number wins over ifindex", subsystem: "net", syspath: "/sys/devices/x/net/tap0", major: 10, minor: 200, ifindex: 3, want: "c10:200"},
		{name: "driver", subsystem: "drivers", syspath: "/sys/bus/pci/drivers/e1000", want: "+drivers:pci:e1000"},
		{name: "other", subsystem: "pci", syspath: "/sys/devices/pci0000:00/0000:00:01.0", want: "+pci:0000:00:01.0"},
		{name: "'!' stays", subsystem: "bdi", syspath: "/sys/devices/virtual/bdi/cciss!c0d0", want: "+bdi:cciss!c0d0"},
		{name: "no subsystem", syspath: "/sys/devices/system", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ID(tt.subsystem, tt.syspath, tt.major, tt.minor, tt.ifindex); got != tt.want {
				t.Errorf("ID = %q, want %q", got, tt.want)
			}
		})
	}
}

// FuzzParse: what Parse reads, Format writes so that Parse reads it back
// the same, and Format is then a fixed point.
func FuzzParse(f *testing.F) {
	f.Add([]byte(vdaDB))
	f.Add([]byte("S:disk/by-id/a\nL:-10\nI:18295285\nE:ID_FS_TYPE=ext4\nG:systemd\nQ:systemd\nV:1\n"))
	f.Add([]byte("G:a\nE:A=1\nE:A=\nW:0\nX\nQ:b\nG:\nc\nE:\x00\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		first := Parse(data)
		out := Format(first)
		again := Parse(out)
		if diff := cmp.Diff(first, again); diff != "" {
			t.Errorf("parse, format, parse (-first +again):\n%s", diff)
		}
		if diff := cmp.Diff(string(out), string(Format(again))); diff != "" {
			t.Errorf("format not stable (-first +again):\n%s", diff)
		}
	})
}
