package builtin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestBtrfs(t *testing.T) {
	long := "/dev/" + strings.Repeat("x", 5000)
	tests := []struct {
		name     string
		argv     []string
		ready    bool
		checkErr error
		want     []Prop
		node     string // what the check was asked, "" for not asked
		err      error
	}{
		{name: "ready", argv: []string{"btrfs", "ready", "/dev/vdb"}, ready: true,
			want: []Prop{{"ID_BTRFS_READY", "1"}}, node: "/dev/vdb"},
		{name: "not ready", argv: []string{"btrfs", "ready", "/dev/vdb"},
			want: []Prop{{"ID_BTRFS_READY", "0"}}, node: "/dev/vdb"},
		{name: "no btrfs.ko", argv: []string{"btrfs", "ready", "/dev/vdb"}, checkErr: fmt.Errorf("open: %w", syscall.ENOENT),
			want: []Prop{{"ID_BTRFS_READY", "0"}}, node: "/dev/vdb"},
		{name: "control absent sentinel", argv: []string{"btrfs", "ready", "/dev/vdb"}, checkErr: ErrBtrfsControlAbsent,
			want: []Prop{{"ID_BTRFS_READY", "0"}}, node: "/dev/vdb"},
		{name: "ioctl fails", argv: []string{"btrfs", "ready", "/dev/vdb"}, checkErr: syscall.EPERM,
			node: "/dev/vdb", err: syscall.EPERM},
		{name: "name cut", argv: []string{"btrfs", "ready", long}, ready: true,
			want: []Prop{{"ID_BTRFS_READY", "1"}}, node: long[:4087]},
		{name: "no node", argv: []string{"btrfs", "ready"}, err: ErrBtrfsArgs},
		{name: "extra word", argv: []string{"btrfs", "ready", "/dev/a", "x"}, err: ErrBtrfsArgs},
		{name: "other verb", argv: []string{"btrfs", "scan", "/dev/a"}, err: ErrBtrfsArgs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var asked string
			check := func(ctx context.Context, node string) (bool, error) {
				asked = node
				return tt.ready, tt.checkErr
			}
			got, err := Btrfs(t.Context(), &Device{}, tt.argv, check)
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if asked != tt.node {
				t.Errorf("checked %.40q, want %.40q", asked, tt.node)
			}
		})
	}
}
