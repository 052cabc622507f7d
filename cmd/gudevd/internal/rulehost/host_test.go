package rulehost

import (
	"context"
	"errors"
	"io/fs"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"github.com/gudevd/gudevd/rules"
	"github.com/gudevd/gudevd/rules/builtin"
)

// testHost is a Host over a disk below a PCI device, with a database
// entry for the PCI device, and a few files of /etc and /proc.
func testHost(t *testing.T, env *builtin.Env) *Host {
	t.Helper()
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s), Mode: 0o644} }
	link := func(target string) *fstest.MapFile {
		return &fstest.MapFile{Data: []byte(target), Mode: fs.ModeSymlink}
	}
	sysfs := fstest.MapFS{
		"devices/pci0000:00/0000:00:05.0/uevent":              file("PCI_ID=1AF4:1001\n"),
		"devices/pci0000:00/0000:00:05.0/vendor":              file("0x1af4\n"),
		"devices/pci0000:00/0000:00:05.0/subsystem":           link("../../../bus/pci"),
		"devices/pci0000:00/0000:00:05.0/block/vda/uevent":    file("MAJOR=254\nMINOR=0\nDEVNAME=vda\nDEVTYPE=disk\n"),
		"devices/pci0000:00/0000:00:05.0/block/vda/size":      file("2097152\n"),
		"devices/pci0000:00/0000:00:05.0/block/vda/subsystem": link("../../../../../class/block"),
		"bus/pci/devices/0000:00:05.0":                        link("../../../devices/pci0000:00/0000:00:05.0"),
		"class/block/vda":                                     link("../../devices/pci0000:00/0000:00:05.0/block/vda"),
	}
	root := fstest.MapFS{
		"run/udev/data/+pci:0000:00:05.0": file("I:5\nE:ID_VENDOR_FROM_DATABASE=Red Hat, Inc.\nG:pci\nQ:pci\nV:1\n"),
		"proc/sys/net/ipv4/ip_forward":    file("1\n"),
		"proc/cmdline":                    file("root=/dev/vda net.ifnames=0\n"),
		"etc/passwd":                      file("root:x:0:0:root:/root:/bin/sh\n"),
		"etc/group":                       file("root:x:0:\ndisk:x:6:\n"),
		"etc/initrd-release":              file(""),
	}
	return New(Config{Sysfs: sysfs, Root: root, Builtins: env, Machine: "x86_64", Control: map[string]string{"K": "v"}})
}

func TestHost(t *testing.T) {
	h := testHost(t, nil)
	ctx := t.Context()
	const vda = "/sys/devices/pci0000:00/0000:00:05.0/block/vda"
	tests := []struct {
		name string
		call func() (any, error)
		want any
		err  error
	}{
		{name: "attribute", call: func() (any, error) { return h.SysAttr(ctx, vda, "size") }, want: "2097152"},
		{name: "missing attribute", call: func() (any, error) { return h.SysAttr(ctx, vda, "nope") }, want: "", err: fs.ErrNotExist},
		{name: "parent with its database entry", call: func() (any, error) {
			p, err := h.Parent(ctx, vda)
			if err != nil {
				return nil, err
			}
			return p.DB, nil
		}, want: &rules.DB{Props: []rules.Property{{Key: "ID_VENDOR_FROM_DATABASE", Value: "Red Hat, Inc."}}, Tags: []string{"pci"}, CurrentTags: []string{"pci"}}},
		{name: "lookup", call: func() (any, error) {
			d, err := h.LookupDevice(ctx, "block", "vda")
			if err != nil {
				return nil, err
			}
			return d.Syspath, nil
		}, want: vda},
		{name: "no such device", call: func() (any, error) { return h.LookupDevice(ctx, "block", "sdz") }, want: (*rules.Device)(nil), err: builtin.ErrNoDevice},
		{name: "stat a sysfs dir", call: func() (any, error) { m, err := h.Stat(ctx, vda); return m.IsDir(), err }, want: true},
		{name: "stat outside sysfs", call: func() (any, error) { m, err := h.Stat(ctx, "/etc/passwd"); return m.IsRegular(), err }, want: true},
		{name: "read dir", call: func() (any, error) { return h.ReadDir(ctx, "/sys/devices/pci0000:00/0000:00:05.0/block") }, want: []string{"vda"}},
		{name: "sysctl", call: func() (any, error) { return h.Sysctl(ctx, "net/ipv4/ip_forward") }, want: "1"},
		{name: "read file", call: func() (any, error) { b, err := h.ReadFile(ctx, "/etc/group"); return string(b), err }, want: "root:x:0:\ndisk:x:6:\n"},
		{name: "cmdline", call: func() (any, error) { return h.Cmdline(ctx) }, want: "root=/dev/vda net.ifnames=0"},
		{name: "initrd", call: func() (any, error) { return h.InInitrd(ctx), nil }, want: true},
		{name: "group", call: func() (any, error) { return h.LookupGroup(ctx, "disk") }, want: uint32(6)},
		{name: "unknown user", call: func() (any, error) { return h.LookupUser(ctx, "nobody-here") }, want: uint32(0), err: rules.ErrUnknownName},
		{name: "arch", call: func() (any, error) { return h.Arch(ctx), nil }, want: "x86-64"},
		{name: "virt", call: func() (any, error) { return h.Virt(ctx), nil }, want: "none"},
		{name: "control property", call: func() (any, error) { v, _ := h.ControlProperty("K"); return v, nil }, want: "v"},
		{name: "no program runner", call: func() (any, error) { return h.Program(ctx, []string{"/bin/true"}, nil) }, want: []byte(nil), err: errors.ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.call()
			if !errors.Is(err, tt.err) || (err != nil) != (tt.err != nil) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestHostBuiltin(t *testing.T) {
	const vda = "/sys/devices/pci0000:00/0000:00:05.0/block/vda"
	tests := []struct {
		name    string
		env     *builtin.Env
		dev     *rules.Device
		builtin string
		argv    []string
		props   []rules.Property
		want    []rules.Property
		err     error
	}{
		{name: "path_id", dev: &rules.Device{Syspath: "/sys/devices/pci0000:00/0000:00:05.0", Subsystem: "pci"}, builtin: "path_id", want: []rules.Property{{Key: "ID_PATH", Value: "pci-0000:00:05.0"}, {Key: "ID_PATH_TAG", Value: "pci-0000_00_05_0"}}},
		{name: "unsupported fails", builtin: "blkid", props: []rules.Property{{Key: "DEVNAME", Value: "/dev/vda"}}, want: []rules.Property{}, err: errors.ErrUnsupported},
		{
			name: "props reach the builtin, the last value of a key", builtin: "blkid",
			props: []rules.Property{{Key: "DEVNAME", Value: "/dev/old"}, {Key: "DEVNAME", Value: "/dev/vda"}},
			env: &builtin.Env{Blkid: func(_ context.Context, req builtin.BlkidRequest) ([]builtin.Prop, error) {
				return []builtin.Prop{{Key: "TYPE", Value: req.Node}}, nil
			}},
			want: []rules.Property{{Key: "ID_FS_TYPE", Value: "/dev/vda"}},
		},
		{
			name: "an effect not applied is a success", builtin: "keyboard",
			props: []rules.Property{{Key: "DEVNAME", Value: "/dev/vda"}, {Key: "KEYBOARD_KEY_1d", Value: "leftmeta"}},
			want:  []rules.Property{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := testHost(t, tt.env)
			argv := tt.argv
			if argv == nil {
				argv = []string{tt.builtin}
			}
			dev := tt.dev
			if dev == nil {
				dev = &rules.Device{Syspath: vda, Subsystem: "block"}
			}
			got, err := h.Builtin(t.Context(), tt.builtin, argv, dev, tt.props)
			if !errors.Is(err, tt.err) || (err != nil) != (tt.err != nil) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
