package main

import (
	"errors"
	"testing"
)

// TestParseNetlinkPort reads the daemon's port out of /proc/net/netlink as
// 6.1 prints it: only a NETLINK_KOBJECT_UEVENT (15) row whose inode is one
// of the daemon's fds counts.
func TestParseNetlinkPort(t *testing.T) {
	const table = `sk               Eth Pid        Groups   Rmem     Wmem     Dump  Locks    Drops    Inode
000000000eac300a 0   0          00000000 0        0        0     2        0        4
00000000273782f8 15  0          00000000 0        0        0     2        0        10
00000000e7197e40 15  212        00000001 0        0        0     2        0        20
00000000fbae90f0 0   212        00000000 0        0        0     2        0        30
00000000fbae90f1 15  -4001      00000001 0        0        0     2        0        40
`
	tests := []struct {
		name    string
		inodes  map[string]bool
		want    uint32
		wantErr error
	}{
		{name: "daemon socket", inodes: map[string]bool{"20": true, "99": true}, want: 212},
		{name: "other protocol with the inode", inodes: map[string]bool{"30": true}, wantErr: errNoUeventSocket},
		{name: "no socket", inodes: map[string]bool{}, wantErr: errNoUeventSocket},
		{name: "negative port", inodes: map[string]bool{"40": true}, wantErr: errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseNetlinkPort(table, tt.inodes)
			switch {
			case tt.wantErr == errAny && err != nil:
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("parseNetlinkPort: err %v, want %v", err, tt.wantErr)
			case tt.wantErr == nil && err != nil:
				t.Fatalf("parseNetlinkPort: %v", err)
			case got != tt.want:
				t.Errorf("parseNetlinkPort = %d, want %d", got, tt.want)
			}
		})
	}
}

// errAny stands for "some error" in a table.
var errAny = errors.New("any error")
