package rulehost

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"github.com/gudevd/gudevd/rules"
	"github.com/gudevd/gudevd/rules/builtin"
)

// fakePrograms answers every program with one reply and records argv.
type fakePrograms struct {
	out  string
	err  error
	argv []string
}

func (f *fakePrograms) Program(_ context.Context, argv, _ []string) ([]byte, error) {
	f.argv = argv
	return []byte(f.out), f.err
}

func TestBlkidProbe(t *testing.T) {
	node := filepath.Join(t.TempDir(), "vda")
	if err := os.WriteFile(node, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	failed := fmt.Errorf("exit status 2: %w", rules.ErrProgramFailed)
	tests := []struct {
		name     string
		node     string
		progs    fakePrograms
		want     []builtin.Prop
		err      error
		wantArgv []string
	}{
		{
			name: "found", node: node, progs: fakePrograms{out: "DEVNAME=" + node + "\nTYPE=ext4\nUSAGE=filesystem\n"},
			want:     []builtin.Prop{{Key: "TYPE", Value: "ext4"}, {Key: "USAGE", Value: "filesystem"}},
			wantArgv: []string{"/usr/sbin/blkid", "-p", "-o", "export", "--", node},
		},
		{name: "nothing found", node: node, progs: fakePrograms{err: failed}, wantArgv: []string{"/usr/sbin/blkid", "-p", "-o", "export", "--", node}},
		{name: "failed after printing", node: node, progs: fakePrograms{out: "DEVNAME=x\n", err: failed}, err: builtin.ErrBlkidFailed, wantArgv: []string{"/usr/sbin/blkid", "-p", "-o", "export", "--", node}},
		{name: "could not run", node: node, progs: fakePrograms{err: errors.ErrUnsupported}, err: errors.ErrUnsupported, wantArgv: []string{"/usr/sbin/blkid", "-p", "-o", "export", "--", node}},
		{name: "vanished node", node: node + "-gone", err: fs.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := BlkidProbe(&tt.progs, "/usr/sbin/blkid")(t.Context(), builtin.BlkidRequest{Node: tt.node})
			if !errors.Is(err, tt.err) || (err != nil) != (tt.err != nil) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("props (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantArgv, tt.progs.argv); diff != "" {
				t.Errorf("argv (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFindBlkid(t *testing.T) {
	tests := []struct {
		name string
		root fstest.MapFS
		want string
		err  error
	}{
		{name: "usr/sbin", root: fstest.MapFS{"usr/sbin/blkid": {Mode: 0o755}, "sbin/blkid": {Mode: 0o755}}, want: "/usr/sbin/blkid"},
		{name: "sbin", root: fstest.MapFS{"sbin/blkid": {Mode: 0o755}}, want: "/sbin/blkid"},
		{name: "none", root: fstest.MapFS{"usr/sbin/blkid/x": {}}, err: ErrNoBlkid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FindBlkid(tt.root)
			if !errors.Is(err, tt.err) || got != tt.want {
				t.Errorf("FindBlkid = %q, %v; want %q, %v", got, err, tt.want, tt.err)
			}
		})
	}
}
