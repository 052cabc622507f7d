package builtin

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"github.com/gudevd/gudevd/uevent/sysfstest"
)

func TestEnvRun(t *testing.T) {
	sysfs, err := sysfstest.Load(filepath.Join("testdata", "guest", "sys.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	const vda = "devices/pci0000:00/0000:00:05.0/virtio2/block/vda"
	const kbd = "devices/platform/i8042/serio0/input/input0/event0"
	var loaded [][]string
	loader := func(_ context.Context, names []string) error {
		loaded = append(loaded, names)
		return nil
	}
	tests := []struct {
		name    string
		env     Env
		builtin string
		syspath string
		props   map[string]string
		argv    []string
		want    []Prop
		wantErr error
		loaded  [][]string
	}{
		{name: "path_id", builtin: "path_id", syspath: vda, want: []Prop{{"ID_PATH", "pci-0000:00:05.0"}, {"ID_PATH_TAG", "pci-0000_00_05_0"}}},
		{name: "argv defaults to the name", builtin: "path_id", syspath: vda, argv: []string{}, want: []Prop{{"ID_PATH", "pci-0000:00:05.0"}, {"ID_PATH_TAG", "pci-0000_00_05_0"}}},
		{name: "unknown", builtin: "ata_id", syspath: vda, wantErr: ErrUnknownBuiltin},
		{name: "hwdb without a database", builtin: "hwdb", syspath: vda, wantErr: ErrNoHWDB},
		{name: "blkid without a probe", builtin: "blkid", syspath: vda, props: map[string]string{"DEVNAME": "/dev/vda"}, wantErr: errors.ErrUnsupported},
		{
			name: "blkid with a probe", builtin: "blkid", syspath: vda, props: map[string]string{"DEVNAME": "/dev/vda"},
			env: Env{Blkid: func(context.Context, BlkidRequest) ([]Prop, error) {
				return []Prop{{"TYPE", "ext4"}, {"USAGE", "filesystem"}}, nil
			}},
			want: []Prop{{"ID_FS_TYPE", "ext4"}, {"ID_FS_USAGE", "filesystem"}},
		},
		{name: "btrfs without a check", builtin: "btrfs", syspath: vda, argv: []string{"btrfs", "ready", "/dev/vda"}, wantErr: ErrUnsupported},
		{
			name: "btrfs with a check", builtin: "btrfs", syspath: vda, argv: []string{"btrfs", "ready", "/dev/vda"},
			env:  Env{Btrfs: func(context.Context, string) (bool, error) { return true, nil }},
			want: []Prop{{"ID_BTRFS_READY", "1"}},
		},
		{name: "kmod without load", builtin: "kmod", syspath: vda, argv: []string{"kmod"}, env: Env{Kmod: loader}, wantErr: ErrKmodArgs},
		{name: "kmod without a loader", builtin: "kmod", syspath: vda, argv: []string{"kmod", "load", "ext4"}, wantErr: errors.ErrUnsupported},
		{name: "kmod names", builtin: "kmod", syspath: vda, argv: []string{"kmod", "load", "a", "b"}, env: Env{Kmod: loader}, loaded: [][]string{{"a", "b"}}},
		{
			name: "kmod modalias", builtin: "kmod", syspath: vda, argv: []string{"kmod", "load"}, env: Env{Kmod: loader},
			props: map[string]string{"MODALIAS": "virtio:d00000002v00001AF4"}, loaded: [][]string{{"virtio:d00000002v00001AF4"}},
		},
		{name: "kmod without a modalias", builtin: "kmod", syspath: vda, argv: []string{"kmod", "load"}, env: Env{Kmod: loader}, wantErr: ErrNoModalias},
		{
			name: "keyboard not applied", builtin: "keyboard", syspath: kbd,
			props:   map[string]string{"DEVNAME": "/dev/input/event0", "KEYBOARD_KEY_1d": "leftmeta"},
			wantErr: ErrNotApplied,
		},
		{name: "keyboard with nothing to do", builtin: "keyboard", syspath: kbd, props: map[string]string{"DEVNAME": "/dev/input/event0"}},
		{
			name: "keyboard applied", builtin: "keyboard", syspath: kbd,
			props: map[string]string{"DEVNAME": "/dev/input/event0", "KEYBOARD_KEY_1d": "leftmeta"},
			env: Env{ApplyKeyboard: func(_ context.Context, _ *Device, a KeyboardActions) error {
				if len(a.Remaps) != 1 {
					return errors.New("want one remap")
				}
				return nil
			}},
		},
		{name: "uaccess without /run", builtin: "uaccess", syspath: kbd, wantErr: ErrUnsupported},
		{name: "uaccess without logind", builtin: "uaccess", syspath: kbd, env: Env{RunDir: fstest.MapFS{}}, props: map[string]string{"DEVNAME": "/dev/input/event0"}},
		{
			name: "uaccess not applied", builtin: "uaccess", syspath: kbd, props: map[string]string{"DEVNAME": "/dev/input/event0"},
			env:     Env{RunDir: fstest.MapFS{"systemd/seats/seat0": {Data: []byte("ACTIVE_UID=1000\n")}}},
			wantErr: ErrNotApplied,
		},
		{
			name: "uaccess fails with a bad uid", builtin: "uaccess", syspath: kbd, props: map[string]string{"DEVNAME": "/dev/input/event0"},
			env:     Env{RunDir: fstest.MapFS{"systemd/seats/seat0": {Data: []byte("ACTIVE_UID=x\n")}}},
			wantErr: ErrActiveUID,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loaded = nil
			props := tt.props
			if props == nil {
				props = map[string]string{}
			}
			argv := tt.argv
			if argv == nil {
				argv = []string{tt.builtin}
			}
			got, err := tt.env.Run(t.Context(), tt.builtin, &Device{Sysfs: sysfs, Syspath: tt.syspath, Props: props}, argv)
			if !errors.Is(err, tt.wantErr) || (err != nil) != (tt.wantErr != nil) {
				t.Fatalf("Run error %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("props (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.loaded, loaded); diff != "" {
				t.Errorf("loads (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEnvRunEffect(t *testing.T) {
	sysfs, err := sysfstest.Load(filepath.Join("testdata", "guest", "sys.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	dev := &Device{Sysfs: sysfs, Syspath: "devices/platform/i8042/serio0/input/input0/event0",
		Props: map[string]string{"DEVNAME": "/dev/input/event0", "KEYBOARD_KEY_1d": "leftmeta"}}
	var env Env
	_, err = env.Run(t.Context(), "keyboard", dev, []string{"keyboard"})
	var eff *EffectError
	if !errors.As(err, &eff) {
		t.Fatalf("error %v is no *EffectError", err)
	}
	want := KeyboardActions{Remaps: []KeyRemap{{Scancode: 0x1d, Keycode: 125}}}
	if diff := cmp.Diff(want, eff.Effect); diff != "" {
		t.Errorf("effect (-want +got):\n%s", diff)
	}
}

func TestNames(t *testing.T) {
	var env Env
	dev := &Device{Sysfs: fstest.MapFS{}, Syspath: "devices/none", Props: map[string]string{}}
	for _, n := range Names() {
		_, err := env.Run(t.Context(), n, dev, []string{n})
		if errors.Is(err, ErrUnknownBuiltin) {
			t.Errorf("%s: %v", n, err)
		}
	}
	if n := len(Names()); n != 11 {
		t.Errorf("%d names, want udevd 252's 11", n)
	}
}

// TestEnvOpenHWDB: OpenHWDB runs when a builtin needs the hwdb (hwdb,
// net_id's OUI names) and not before; its error is the builtin's.
func TestEnvOpenHWDB(t *testing.T) {
	sysfs, err := sysfstest.Load(filepath.Join("testdata", "guest", "sys.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	dev := func(p string) *Device { return &Device{Sysfs: sysfs, Syspath: p, Props: map[string]string{}} }
	const vda = "devices/pci0000:00/0000:00:05.0/virtio2/block/vda"
	const nic = "devices/pci0000:00/0000:00:01.0/net/enp0s1"
	broken := errors.New("broken hwdb.bin")
	opens := 0
	e := &Env{OpenHWDB: func() (*HWDB, error) { opens++; return nil, broken }}
	if _, err := e.Run(t.Context(), "path_id", dev(vda), nil); err != nil || opens != 0 {
		t.Errorf("path_id: %v, %d opens; want none", err, opens)
	}
	if _, err := e.Run(t.Context(), "hwdb", dev(vda), nil); !errors.Is(err, broken) || opens != 1 {
		t.Errorf("hwdb: %v after %d opens, want the open's error after 1", err, opens)
	}
	if _, err := e.Run(t.Context(), "net_id", dev(nic), nil); err != nil || opens != 2 {
		t.Errorf("net_id: %v after %d opens, want names without OUI after 2", err, opens)
	}
}
