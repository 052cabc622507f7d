package rulehost

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gudevd/gudevd/rules"
)

func TestParseDB(t *testing.T) {
	tests := []struct {
		name string
		text string
		want DBEntry
	}{
		{name: "empty", text: "", want: DBEntry{}},
		{
			name: "every key",
			text: "S:disk/by-id/a\nS:disk/by-path/b\nL:-10\nI:18295285\nE:ID_FS_TYPE=ext4\nE:A=b=c\nG:systemd\nG:seat\nQ:systemd\nV:1\n",
			want: DBEntry{DB: rules.DB{
				Devlinks: []string{"/dev/disk/by-id/a", "/dev/disk/by-path/b"}, LinkPriority: -10,
				Props: []rules.Property{{Key: "ID_FS_TYPE", Value: "ext4"}, {Key: "A", Value: "b=c"}},
				Tags:  []string{"systemd", "seat"}, CurrentTags: []string{"systemd"},
			}, Usec: 18295285, Version: 1},
		},
		{
			name: "before V:1 every tag is current",
			text: "G:systemd\nG:uaccess\n",
			want: DBEntry{DB: rules.DB{Tags: []string{"systemd", "uaccess"}, CurrentTags: []string{"systemd", "uaccess"}}},
		},
		{
			name: "unknown and malformed lines are skipped",
			text: "W:1\nN:sda\nX\n\nE:NOEQUALS\nE:=v\nG:\nG:a:b\nS:\nI:x\nE:K=v",
			want: DBEntry{DB: rules.DB{Props: []rules.Property{{Key: "K", Value: "v"}}}},
		},
		{
			name: "a repeated key keeps its place, an empty value unsets it",
			text: "E:A=1\nE:B=2\nE:A=3\nE:B=\nS:x\nS:x\nV:1\n",
			want: DBEntry{DB: rules.DB{Props: []rules.Property{{Key: "A", Value: "3"}}, Devlinks: []string{"/dev/x"}}, Version: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseDB([]byte(tt.text))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseDB (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFormatDB(t *testing.T) {
	e := DBEntry{DB: rules.DB{
		Devlinks: []string{"/dev/disk/by-id/a"}, LinkPriority: 5,
		Props: []rules.Property{{Key: "K", Value: "v"}}, Tags: []string{"t", "u"}, CurrentTags: []string{"t"},
	}, Usec: 7, Version: 1}
	want := "S:disk/by-id/a\nL:5\nI:7\nE:K=v\nG:t\nG:u\nQ:t\nV:1\n"
	if diff := cmp.Diff(want, string(FormatDB(e))); diff != "" {
		t.Errorf("FormatDB (-want +got):\n%s", diff)
	}
}

// FuzzDB: what ParseDB reads, FormatDB writes so that ParseDB reads it
// back the same.
func FuzzDB(f *testing.F) {
	f.Add([]byte("S:disk/by-id/a\nL:-10\nI:18295285\nE:ID_FS_TYPE=ext4\nG:systemd\nQ:systemd\nV:1\n"))
	f.Add([]byte("G:a\nE:A=1\nE:A=\nW:0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		first := ParseDB(data)
		again := ParseDB(FormatDB(first))
		if diff := cmp.Diff(first, again); diff != "" {
			t.Errorf("parse, print, parse (-first +again):\n%s", diff)
		}
	})
}

func TestDeviceID(t *testing.T) {
	tests := []struct {
		name string
		dev  rules.Device
		want string
	}{
		{name: "block", dev: rules.Device{Syspath: "/sys/devices/x/block/sda", Subsystem: "block", Major: 8}, want: "b8:0"},
		{name: "char", dev: rules.Device{Syspath: "/sys/devices/x/input/event4", Subsystem: "input", Major: 13, Minor: 68}, want: "c13:68"},
		{name: "netif", dev: rules.Device{Syspath: "/sys/devices/x/net/enp0s1", Subsystem: "net", Ifindex: 2}, want: "n2"},
		{name: "driver", dev: rules.Device{Syspath: "/sys/bus/pci/drivers/e1000", Subsystem: "drivers"}, want: "+drivers:pci:e1000"},
		{name: "other", dev: rules.Device{Syspath: "/sys/devices/pci0000:00/0000:00:01.0", Subsystem: "pci"}, want: "+pci:0000:00:01.0"},
		{name: "no subsystem", dev: rules.Device{Syspath: "/sys/devices/system"}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DeviceID(&tt.dev); got != tt.want {
				t.Errorf("DeviceID = %q, want %q", got, tt.want)
			}
		})
	}
}
