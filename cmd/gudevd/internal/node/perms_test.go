package node

import (
	"context"
	"errors"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// nodeState is what the permission tests compare of a node.
type nodeState struct {
	Mode     string
	UID, GID uint32
}

func stateOf(t *testing.T, path string) nodeState {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return nodeState{Mode: strconv.FormatUint(uint64(st.Mode&07777), 8), UID: st.Uid, GID: st.Gid}
}

func TestUpdatePermissions(t *testing.T) {
	usb := Device{ID: "c189:1", Devnode: "/dev/bus/usb/001/002", Major: 189, Minor: 1}
	tests := []struct {
		name  string
		make  func(t *testing.T, e *env) // the node, before Update
		perms Perms
		want  nodeState
		stats Stats
	}{
		{
			name:  "rules' owner, group and mode applied",
			perms: Perms{UID: 5, GID: 6, Mode: 0o640, UIDSet: true, GIDSet: true, ModeSet: true},
			want:  nodeState{Mode: "640", UID: 5, GID: 6},
			stats: Stats{PermsChanged: 1},
		},
		{
			name:  "group without mode upgrades mode to 0660",
			perms: Perms{GID: 6, GIDSet: true},
			want:  nodeState{Mode: "660", GID: 6},
			stats: Stats{PermsChanged: 1},
		},
		{
			name:  "group 0 without mode keeps the mode",
			perms: Perms{GID: 0, GIDSet: true},
			want:  nodeState{Mode: "600"},
		},
		{
			name:  "nothing set leaves the node, no 0600 default",
			make:  func(t *testing.T, e *env) { e.mknod(t, usb.Devnode, unix.S_IFCHR|0o644, 189, 1) },
			want:  nodeState{Mode: "644"},
			stats: Stats{},
		},
		{
			name:  "equal permissions are not applied",
			perms: Perms{UID: 0, GID: 0, Mode: 0o600, UIDSet: true, GIDSet: true, ModeSet: true},
			want:  nodeState{Mode: "600"},
		},
		{
			name:  "mode compared by its 0777 bits",
			make:  func(t *testing.T, e *env) { e.mknod(t, usb.Devnode, unix.S_IFCHR|0o1600, 189, 1) },
			perms: Perms{Mode: 0o600, ModeSet: true},
			want:  nodeState{Mode: "1600"},
		},
		{
			name:  "chown alone keeps the mode",
			perms: Perms{UID: 7, UIDSet: true},
			want:  nodeState{Mode: "600", UID: 7},
			stats: Stats{PermsChanged: 1},
		},
		{
			// chown clears the setuid bit; udevd sets the mode again.
			name:  "chown keeps a setuid mode",
			make:  func(t *testing.T, e *env) { e.mknod(t, usb.Devnode, unix.S_IFCHR|0o4755, 189, 1) },
			perms: Perms{UID: 7, UIDSet: true},
			want:  nodeState{Mode: "4755", UID: 7},
			stats: Stats{PermsChanged: 1},
		},
		{
			name:  "wrong device number skipped",
			make:  func(t *testing.T, e *env) { e.mknod(t, usb.Devnode, unix.S_IFCHR|0o600, 189, 2) },
			perms: Perms{Mode: 0o666, ModeSet: true},
			want:  nodeState{Mode: "600"},
			stats: Stats{PermsSkipped: 1},
		},
		{
			name:  "block node of a char device skipped",
			make:  func(t *testing.T, e *env) { e.mknod(t, usb.Devnode, unix.S_IFBLK|0o600, 189, 1) },
			perms: Perms{Mode: 0o666, ModeSet: true},
			want:  nodeState{Mode: "600"},
			stats: Stats{PermsSkipped: 1},
		},
		{
			name: "regular file skipped",
			make: func(t *testing.T, e *env) {
				if err := os.MkdirAll(e.path("/dev/bus/usb/001"), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(e.path(usb.Devnode), nil, 0o600); err != nil {
					t.Fatal(err)
				}
			},
			perms: Perms{Mode: 0o666, ModeSet: true},
			want:  nodeState{Mode: "600"},
			stats: Stats{PermsSkipped: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if tt.make == nil {
				e.mknod(t, usb.Devnode, unix.S_IFCHR|0o600, 189, 1)
			} else {
				tt.make(t, e)
			}
			if err := e.n.Update(context.Background(), usb, tt.perms, nil, 0, nil); err != nil {
				t.Fatalf("Update: %v", err)
			}
			if diff := cmp.Diff(tt.want, stateOf(t, e.path(usb.Devnode))); diff != "" {
				t.Errorf("node (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.stats, e.n.Stats()); diff != "" {
				t.Errorf("Stats (-want +got):\n%s", diff)
			}
			// The links are made whatever became of the permissions.
			if got := e.readlink("/dev/char/189:1"); got != "../bus/usb/001/002" {
				t.Errorf("/dev/char/189:1 -> %q, want ../bus/usb/001/002", got)
			}
		})
	}
}

// TestUpdateMissingNode: a node gone before its event is handled is
// udevd's accepted race: skipped, counted, the links still made.
func TestUpdateMissingNode(t *testing.T) {
	e := newEnv(t)
	sda := Device{ID: "b8:0", Devnode: "/dev/sda", Major: 8, Minor: 0, Block: true}
	err := e.n.Update(context.Background(), sda, Perms{Mode: 0o600, ModeSet: true}, []string{"/dev/disk/by-id/x"}, 0, nil)
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if diff := cmp.Diff(Stats{PermsSkipped: 1}, e.n.Stats()); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
	// udevd checks that the nodes of the other claimants exist, not the
	// device's own: on add it is the first candidate, so the links are
	// made and dangle until the remove event.
	want := map[string]string{
		"block": "dir", "block/8:0": "-> ../sda",
		"disk": "dir", "disk/by-id": "dir", "disk/by-id/x": "-> ../../sda",
	}
	if diff := cmp.Diff(want, tree(t, e.dev)); diff != "" {
		t.Errorf("dev (-want +got):\n%s", diff)
	}
}

// TestUpdateTouchesNode: udevd updates the node's timestamps on every
// event, also when the permissions are already right.
func TestUpdateTouchesNode(t *testing.T) {
	e := newEnv(t)
	sda := e.disk(t, "sda", 0)
	old := time.Unix(1_000_000, 0)
	if err := os.Chtimes(e.path(sda.Devnode), old, old); err != nil {
		t.Fatal(err)
	}
	if err := e.n.Update(context.Background(), sda, Perms{}, nil, 0, nil); err != nil {
		t.Fatalf("Update: %v", err)
	}
	fi, err := os.Stat(e.path(sda.Devnode))
	if err != nil {
		t.Fatal(err)
	}
	if !fi.ModTime().After(old.Add(time.Hour)) {
		t.Errorf("node mtime %v, want now", fi.ModTime())
	}
}

func TestKernelPerms(t *testing.T) {
	tests := []struct {
		name                   string
		devmode, devuid, devgd string
		want                   Perms
		wantErr                bool
	}{
		{name: "none", want: Perms{}},
		{name: "kernel octal mode", devmode: "0666", want: Perms{Mode: 0o666, ModeSet: true}},
		{name: "uid and gid", devuid: "0", devgd: "5", want: Perms{UID: 0, GID: 5, UIDSet: true, GIDSet: true}},
		{name: "mode too large", devmode: "010000", wantErr: true},
		{name: "uid -1", devuid: "4294967295", wantErr: true},
		{name: "uid 65535", devuid: "65535", wantErr: true},
		{name: "garbage", devgd: "wheel", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := KernelPerms(tt.devmode, tt.devuid, tt.devgd)
			if (err != nil) != tt.wantErr {
				t.Fatalf("KernelPerms error = %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("KernelPerms (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWithDefaults(t *testing.T) {
	kernel := Perms{Mode: 0o666, ModeSet: true, UID: 1, UIDSet: true}
	tests := []struct {
		name        string
		rules, want Perms
	}{
		{"rules unset take the kernel's", Perms{GID: 6, GIDSet: true}, Perms{Mode: 0o666, ModeSet: true, UID: 1, UIDSet: true, GID: 6, GIDSet: true}},
		{"rules win", Perms{Mode: 0o600, ModeSet: true, UID: 0, UIDSet: true}, Perms{Mode: 0o600, ModeSet: true, UID: 0, UIDSet: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.rules.WithDefaults(kernel)); diff != "" {
				t.Errorf("WithDefaults (-want +got):\n%s", diff)
			}
		})
	}
}

func TestInvalidDevice(t *testing.T) {
	tests := []struct {
		name string
		dev  Device
	}{
		{"no id", Device{Devnode: "/dev/sda"}},
		{"id with slash", Device{ID: "b8/0", Devnode: "/dev/sda"}},
		{"dot id", Device{ID: ".lock", Devnode: "/dev/sda"}},
		{"devnode outside /dev", Device{ID: "b8:0", Devnode: "/tmp/sda"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if err := e.n.Update(context.Background(), tt.dev, Perms{}, nil, 0, nil); !errors.Is(err, ErrInvalidDevice) {
				t.Errorf("Update error = %v, want ErrInvalidDevice", err)
			}
			if err := e.n.Remove(context.Background(), tt.dev, nil); !errors.Is(err, ErrInvalidDevice) {
				t.Errorf("Remove error = %v, want ErrInvalidDevice", err)
			}
		})
	}
}
