package builtin

import (
	"errors"
	"io/fs"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

func TestUaccess(t *testing.T) {
	seats := func(files map[string]string) fstest.MapFS {
		m := fstest.MapFS{"systemd/seats": &fstest.MapFile{Mode: fs.ModeDir | 0o755}}
		for name, body := range files {
			m["systemd/seats/"+name] = &fstest.MapFile{Data: []byte(body)}
		}
		return m
	}
	seat0 := "# This is private data. Do not parse.\nIS_SEAT0=1\nACTIVE=2\nACTIVE_UID=1000\n"
	tests := []struct {
		name  string
		run   fstest.MapFS
		props map[string]string
		want  *UaccessACL
		err   error
	}{
		{name: "active user of seat0", run: seats(map[string]string{"seat0": seat0}),
			want: &UaccessACL{Node: "/dev/snd/pcmC0D0p", Grant: true, UID: 1000}},
		{name: "ID_SEAT", run: seats(map[string]string{"seat0": seat0, "seat1": "ACTIVE_UID = \"1001\"\n"}),
			props: map[string]string{"ID_SEAT": "seat1"},
			want:  &UaccessACL{Node: "/dev/snd/pcmC0D0p", Grant: true, UID: 1001}},
		{name: "root is active", run: seats(map[string]string{"seat0": "ACTIVE_UID=0\n"}),
			want: &UaccessACL{Node: "/dev/snd/pcmC0D0p"}},
		{name: "no active session", run: seats(map[string]string{"seat0": "IS_SEAT0=1\n"}),
			want: &UaccessACL{Node: "/dev/snd/pcmC0D0p"}},
		{name: "no seat file", run: seats(nil), want: &UaccessACL{Node: "/dev/snd/pcmC0D0p"}},
		{name: "nobody16", run: seats(map[string]string{"seat0": "ACTIVE_UID=65535\n"}),
			want: &UaccessACL{Node: "/dev/snd/pcmC0D0p"}},
		{name: "logind not running", run: fstest.MapFS{}},
		{name: "bad uid", run: seats(map[string]string{"seat0": "ACTIVE_UID=01000\n"}),
			want: &UaccessACL{Node: "/dev/snd/pcmC0D0p"}, err: ErrActiveUID},
		{name: "uid overflow", run: seats(map[string]string{"seat0": "ACTIVE_UID=4294967296\n"}),
			want: &UaccessACL{Node: "/dev/snd/pcmC0D0p"}, err: ErrActiveUID},
		{name: "bad seat", run: seats(nil), props: map[string]string{"ID_SEAT": "../x"},
			want: &UaccessACL{Node: "/dev/snd/pcmC0D0p"}, err: ErrSeatName},
		{name: "no devname", run: seats(map[string]string{"seat0": seat0}), props: map[string]string{"DEVNAME": ""},
			err: ErrNoDevnode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dev := &Device{Syspath: "devices/pci0000:00/sound/card0/pcmC0D0p",
				Props: map[string]string{"DEVNAME": "/dev/snd/pcmC0D0p"}}
			for k, v := range tt.props {
				dev.Props[k] = v
			}
			got, err := Uaccess(t.Context(), dev, tt.run)
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
