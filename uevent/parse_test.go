package uevent

// The golden datagrams in testdata/guest/ were captured in a QEMU guest by
// the harness in test/qemu; testdata/guest/README names the command that
// regenerates them. The table inputs below are shaped after real uevents
// (devpaths and properties from guest sysfs) and cut to what each case needs.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// kmsg joins a kernel uevent's header and pairs with the NULs the kernel
// puts after each.
func kmsg(parts ...string) []byte {
	return []byte(strings.Join(parts, "\x00") + "\x00")
}

// props builds the Props of an expected event.
func props(kv ...string) []Property {
	var ps []Property
	for i := 0; i+1 < len(kv); i += 2 {
		ps = append(ps, Property{Key: kv[i], Value: kv[i+1]})
	}
	return ps
}

func TestParseKernel(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want *Event
		err  string // substring of the error; "" means success
	}{
		{
			name: "pci device add",
			in: kmsg("add@/devices/pci0000:00/0000:00:03.0",
				"ACTION=add", "DEVPATH=/devices/pci0000:00/0000:00:03.0", "SUBSYSTEM=pci",
				"PCI_CLASS=20000", "PCI_ID=8086:100E", "PCI_SUBSYS_ID=1AF4:1100",
				"PCI_SLOT_NAME=0000:00:03.0", "MODALIAS=pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00",
				"SEQNUM=1042"),
			want: &Event{
				Action: ActionAdd, DevPath: "/devices/pci0000:00/0000:00:03.0", Subsystem: "pci", Seqnum: 1042,
				Props: props("ACTION", "add", "DEVPATH", "/devices/pci0000:00/0000:00:03.0", "SUBSYSTEM", "pci",
					"PCI_CLASS", "20000", "PCI_ID", "8086:100E", "PCI_SUBSYS_ID", "1AF4:1100",
					"PCI_SLOT_NAME", "0000:00:03.0", "MODALIAS", "pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00",
					"SEQNUM", "1042"),
			},
		},
		{
			name: "block disk with devtype and device number",
			in: kmsg("add@/devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sda",
				"ACTION=add", "DEVPATH=/devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sda",
				"SUBSYSTEM=block", "MAJOR=8", "MINOR=0", "DEVNAME=sda", "DEVTYPE=disk", "DISKSEQ=1", "SEQNUM=7"),
			want: &Event{
				Action: ActionAdd, DevPath: "/devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sda",
				Subsystem: "block", DevType: "disk", Seqnum: 7,
				Props: props("ACTION", "add", "DEVPATH", "/devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sda",
					"SUBSYSTEM", "block", "MAJOR", "8", "MINOR", "0", "DEVNAME", "sda", "DEVTYPE", "disk", "DISKSEQ", "1", "SEQNUM", "7"),
			},
		},
		{
			name: "devpath containing @ splits at the first @",
			in: kmsg("bind@/devices/platform/soc@0/3f215040.serial",
				"ACTION=bind", "DEVPATH=/devices/platform/soc@0/3f215040.serial", "SUBSYSTEM=platform",
				"DRIVER=bcm2835-aux-uart", "SEQNUM=99"),
			want: &Event{
				Action: ActionBind, DevPath: "/devices/platform/soc@0/3f215040.serial", Subsystem: "platform", Seqnum: 99,
				Props: props("ACTION", "bind", "DEVPATH", "/devices/platform/soc@0/3f215040.serial", "SUBSYSTEM", "platform",
					"DRIVER", "bcm2835-aux-uart", "SEQNUM", "99"),
			},
		},
		{
			name: "value containing = splits at the first =",
			in: kmsg("change@/devices/virtual/misc/loop-control",
				"ACTION=change", "DEVPATH=/devices/virtual/misc/loop-control", "SUBSYSTEM=misc",
				"SYNTH_UUID=2d7c5ab2-1c1b-4a7e-9d43-3f0a7c6f1e55", "SYNTH_ARG_OPT=a=b=c", "SEQNUM=5"),
			want: &Event{
				Action: ActionChange, DevPath: "/devices/virtual/misc/loop-control", Subsystem: "misc", Seqnum: 5,
				Props: props("ACTION", "change", "DEVPATH", "/devices/virtual/misc/loop-control", "SUBSYSTEM", "misc",
					"SYNTH_UUID", "2d7c5ab2-1c1b-4a7e-9d43-3f0a7c6f1e55", "SYNTH_ARG_OPT", "a=b=c", "SEQNUM", "5"),
			},
		},
		{
			name: "trailing newline of a value is dropped with what follows",
			in: kmsg("add@/module/e1000", "ACTION=add", "DEVPATH=/module/e1000", "SUBSYSTEM=module",
				"FIRMWARE=x\njunk", "SEQNUM=3"),
			want: &Event{
				Action: ActionAdd, DevPath: "/module/e1000", Subsystem: "module", Seqnum: 3,
				Props: props("ACTION", "add", "DEVPATH", "/module/e1000", "SUBSYSTEM", "module", "FIRMWARE", "x", "SEQNUM", "3"),
			},
		},
		{
			name: "repeated key replaces the value in place",
			in: kmsg("add@/devices/virtual/net/lo", "ACTION=add", "DEVPATH=/devices/virtual/net/lo", "SUBSYSTEM=net",
				"INTERFACE=lo", "IFINDEX=1", "INTERFACE=lo2", "SEQNUM=11"),
			want: &Event{
				Action: ActionAdd, DevPath: "/devices/virtual/net/lo", Subsystem: "net", Seqnum: 11,
				Props: props("ACTION", "add", "DEVPATH", "/devices/virtual/net/lo", "SUBSYSTEM", "net",
					"INTERFACE", "lo2", "IFINDEX", "1", "SEQNUM", "11"),
			},
		},
		{
			name: "empty value",
			in:   kmsg("remove@/devices/virtual/tty/tty9", "ACTION=remove", "DEVPATH=/devices/virtual/tty/tty9", "SUBSYSTEM=tty", "DEVNAME=", "SEQNUM=12"),
			want: &Event{
				Action: ActionRemove, DevPath: "/devices/virtual/tty/tty9", Subsystem: "tty", Seqnum: 12,
				Props: props("ACTION", "remove", "DEVPATH", "/devices/virtual/tty/tty9", "SUBSYSTEM", "tty", "DEVNAME", "", "SEQNUM", "12"),
			},
		},
		{name: "empty datagram", in: nil, err: "has no NUL"},
		{name: "no NUL at all", in: []byte("add@/devices/x"), err: "has no NUL"},
		{name: "empty header", in: kmsg("", "ACTION=add"), err: "empty header"},
		{name: "header without @", in: kmsg("add/devices/x", "ACTION=add"), err: "not ACTION@/DEVPATH"},
		{name: "header with relative devpath", in: kmsg("add@devices/x", "ACTION=add"), err: "not ACTION@/DEVPATH"},
		{name: "header with empty action", in: kmsg("@/devices/x", "ACTION=add"), err: "not ACTION@/DEVPATH"},
		{name: "header with bare slash", in: kmsg("add@/", "ACTION=add"), err: "not ACTION@/DEVPATH"},
		{name: "header only", in: kmsg("add@/devices/x"), err: "no properties"},
		{name: "pair without =", in: kmsg("add@/devices/x", "ACTION=add", "DEVPATH"), err: "has no '='"},
		{name: "empty pair", in: kmsg("add@/devices/x", "ACTION=add", "", "DEVPATH=/devices/x"), err: "has no '='"},
		{name: "empty key", in: kmsg("add@/devices/x", "=add"), err: "empty key"},
		{
			name: "last pair not NUL-terminated",
			in:   append(kmsg("add@/devices/x", "ACTION=add", "DEVPATH=/devices/x", "SUBSYSTEM=s"), "SEQNUM=1"...),
			err:  "not NUL-terminated",
		},
		{
			name: "header action disagrees with ACTION",
			in:   kmsg("add@/devices/x", "ACTION=remove", "DEVPATH=/devices/x", "SUBSYSTEM=s", "SEQNUM=1"),
			err:  `action "add" disagrees`,
		},
		{
			name: "header devpath disagrees with DEVPATH",
			in:   kmsg("add@/devices/x", "ACTION=add", "DEVPATH=/devices/y", "SUBSYSTEM=s", "SEQNUM=1"),
			err:  `devpath "/devices/x" disagrees`,
		},
		{
			name: "unknown action",
			in:   kmsg("frob@/devices/x", "ACTION=frob", "DEVPATH=/devices/x", "SUBSYSTEM=s", "SEQNUM=1"),
			err:  `unknown ACTION="frob"`,
		},
		{name: "no ACTION", in: kmsg("add@/devices/x", "DEVPATH=/devices/x", "SUBSYSTEM=s", "SEQNUM=1"), err: "no ACTION"},
		{name: "no DEVPATH", in: kmsg("add@/devices/x", "ACTION=add", "SUBSYSTEM=s", "SEQNUM=1"), err: "no DEVPATH"},
		{name: "no SUBSYSTEM", in: kmsg("add@/devices/x", "ACTION=add", "DEVPATH=/devices/x", "SEQNUM=1"), err: "no SUBSYSTEM"},
		{name: "no SEQNUM", in: kmsg("add@/devices/x", "ACTION=add", "DEVPATH=/devices/x", "SUBSYSTEM=s"), err: "no SEQNUM"},
		{name: "SEQNUM zero", in: kmsg("add@/devices/x", "ACTION=add", "DEVPATH=/devices/x", "SUBSYSTEM=s", "SEQNUM=0"), err: `SEQNUM="0"`},
		{name: "SEQNUM not a number", in: kmsg("add@/devices/x", "ACTION=add", "DEVPATH=/devices/x", "SUBSYSTEM=s", "SEQNUM=-1"), err: `SEQNUM="-1"`},
		{name: "SEQNUM overflows", in: kmsg("add@/devices/x", "ACTION=add", "DEVPATH=/devices/x", "SUBSYSTEM=s", "SEQNUM=18446744073709551616"), err: "SEQNUM="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseKernel(tt.in)
			checkParse(t, got, err, tt.want, tt.err)
			// Parse must detect the kernel format and agree.
			got2, err2 := Parse(tt.in)
			checkParse(t, got2, err2, tt.want, tt.err)
		})
	}
}

func checkParse(t *testing.T, got *Event, err error, want *Event, wantErr string) {
	t.Helper()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("error = %v, want one containing %q", err, wantErr)
		}
		if !errors.Is(err, ErrMalformed) || !errors.Is(err, unix.EBADMSG) {
			t.Errorf("error %v does not match ErrMalformed and EBADMSG", err)
		}
		if got != nil {
			t.Errorf("event = %+v with an error, want nil", got)
		}
		return
	}
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("event mismatch (-want +got):\n%s", diff)
	}
}

// libudevHeader builds a libudev header field by field, independently of
// MarshalLibudev, for the parser's tests.
type libudevHeader struct {
	prefix                string
	magic                 uint32
	headerSize, off, size uint32
}

func (h libudevHeader) bytes(body []byte) []byte {
	b := make([]byte, 40)
	copy(b, h.prefix)
	binary.BigEndian.PutUint32(b[8:], h.magic)
	binary.NativeEndian.PutUint32(b[12:], h.headerSize)
	binary.NativeEndian.PutUint32(b[16:], h.off)
	binary.NativeEndian.PutUint32(b[20:], h.size)
	return append(b, body...)
}

func TestParseLibudev(t *testing.T) {
	body := kmsg("ACTION=add", "DEVPATH=/devices/virtual/input/input3", "SUBSYSTEM=input",
		"PRODUCT=3/627/1/1", "SEQNUM=1290", "ID_INPUT=1", "ID_INPUT_TABLET=1", "TAGS=:seat:", "CURRENT_TAGS=:seat:")
	n := uint32(len(body))
	good := libudevHeader{prefix: "libudev\x00", magic: 0xfeedcafe, headerSize: 40, off: 40, size: n}
	want := &Event{
		Action: ActionAdd, DevPath: "/devices/virtual/input/input3", Subsystem: "input", Seqnum: 1290,
		Props: props("ACTION", "add", "DEVPATH", "/devices/virtual/input/input3", "SUBSYSTEM", "input",
			"PRODUCT", "3/627/1/1", "SEQNUM", "1290", "ID_INPUT", "1", "ID_INPUT_TABLET", "1",
			"TAGS", ":seat:", "CURRENT_TAGS", ":seat:"),
		Tags: []string{"seat"},
	}
	noSeqnum := kmsg("ACTION=add", "DEVPATH=/devices/x", "SUBSYSTEM=s")
	with := func(f func(*libudevHeader)) libudevHeader {
		h := good
		f(&h)
		return h
	}
	tests := []struct {
		name string
		in   []byte
		want *Event
		err  string
	}{
		{name: "input device", in: good.bytes(body), want: want},
		{
			name: "properties after a larger header",
			in:   with(func(h *libudevHeader) { h.headerSize, h.off = 48, 48 }).bytes(append(make([]byte, 8), body...)),
			want: want,
		},
		{
			name: "bytes after the properties are ignored",
			in:   good.bytes(append(append([]byte{}, body...), "JUNK"...)),
			want: want,
		},
		{name: "shorter than the header", in: good.bytes(nil)[:39], err: "shorter than its 40-byte header"},
		{name: "wrong prefix", in: with(func(h *libudevHeader) { h.prefix = "libudeX\x00" }).bytes(body), err: "prefix"},
		{name: "wrong magic", in: with(func(h *libudevHeader) { h.magic = 0xcafefeed }).bytes(body), err: "magic 0xcafefeed"},
		{name: "properties inside the header", in: with(func(h *libudevHeader) { h.off = 32 }).bytes(body), err: "outside"},
		{name: "properties past the end", in: with(func(h *libudevHeader) { h.size = n + 1 }).bytes(body), err: "outside"},
		{name: "offset overflows", in: with(func(h *libudevHeader) { h.off = 0xffffffff }).bytes(body), err: "outside"},
		{name: "no properties", in: with(func(h *libudevHeader) { h.size = 0 }).bytes(body), err: "no properties"},
		{name: "properties cut mid-pair", in: with(func(h *libudevHeader) { h.size = n - 1 }).bytes(body), err: "not NUL-terminated"},
		{
			name: "missing SEQNUM",
			in:   with(func(h *libudevHeader) { h.size = uint32(len(noSeqnum)) }).bytes(noSeqnum),
			err:  "no SEQNUM",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			got, err := ParseLibudev(in)
			checkParse(t, got, err, tt.want, tt.err)
			if len(in) >= 8 && string(in[:8]) == "libudev\x00" {
				got2, err2 := Parse(in)
				checkParse(t, got2, err2, tt.want, tt.err)
			}
		})
	}
}

func TestMurmur2(t *testing.T) {
	// Expected values computed by Austin Appleby's reference C
	// MurmurHash2 (seed 0, as systemd's src/basic/MurmurHash2.c) on
	// x86-64; TestGoldenLibudev checks the same hashes against real
	// systemd-udevd messages.
	tests := []struct {
		in   string
		want uint32
	}{
		{"", 0},
		{"pci", 0x59163b92},
		{"usb", 0x0577c5e5},
		{"block", 0xf0031db7},
		{"disk", 0x7bcbc5ee},
		{"partition", 0xcb234489},
		{"usb_device", 0x27f8f50c},
		{"usb_interface", 0xb1024765},
		{"net", 0xa74d3cc8},
		{"systemd", 0xa75f972a},
		{"uaccess", 0xe88ed0cc},
		{"seat", 0x435b3e40},
		{"input", 0xc1a28470},
	}
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("vectors are for little-endian hosts; MurmurHash2 reads host-order words")
	}
	for _, tt := range tests {
		if got := murmur2([]byte(tt.in)); got != tt.want {
			t.Errorf("murmur2(%q) = %#08x, want %#08x", tt.in, got, tt.want)
		}
	}
}

// TestMarshalLibudevHeader checks each header field against its definition
// in systemd's device_monitor_send_device.
func TestMarshalLibudevHeader(t *testing.T) {
	e := &Event{}
	for _, kv := range [][2]string{
		{"ACTION", "add"}, {"DEVPATH", "/devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sda"},
		{"SUBSYSTEM", "block"}, {"DEVTYPE", "disk"}, {"SEQNUM", "7"}, {"TAGS", ":systemd:uaccess:"},
	} {
		e.Set(kv[0], kv[1])
	}
	b, err := MarshalLibudev(e)
	if err != nil {
		t.Fatal(err)
	}
	bloom := func(h uint32) uint64 { return 1<<(h&63) | 1<<(h>>6&63) | 1<<(h>>12&63) | 1<<(h>>18&63) }
	tags := bloom(0xa75f972a) | bloom(0xe88ed0cc)
	body := kmsg("ACTION=add", "DEVPATH=/devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sda",
		"SUBSYSTEM=block", "DEVTYPE=disk", "SEQNUM=7", "TAGS=:systemd:uaccess:")
	want := libudevHeader{prefix: "libudev\x00", magic: 0xfeedcafe, headerSize: 40, off: 40, size: uint32(len(body))}.bytes(body)
	binary.BigEndian.PutUint32(want[24:], murmur2([]byte("block")))
	binary.BigEndian.PutUint32(want[28:], murmur2([]byte("disk")))
	binary.BigEndian.PutUint32(want[32:], uint32(tags>>32))
	binary.BigEndian.PutUint32(want[36:], uint32(tags))
	if diff := cmp.Diff(want, b); diff != "" {
		t.Errorf("MarshalLibudev mismatch (-want +got):\n%s", diff)
	}
}

func TestMarshalRejects(t *testing.T) {
	valid := func() *Event {
		e := &Event{}
		for _, kv := range [][2]string{{"ACTION", "add"}, {"DEVPATH", "/devices/x"}, {"SUBSYSTEM", "s"}, {"SEQNUM", "1"}} {
			e.Set(kv[0], kv[1])
		}
		return e
	}
	tests := []struct {
		name   string
		modify func(*Event)
		err    string
	}{
		{name: "field set without its property", modify: func(e *Event) { e.Subsystem = "other" }, err: "disagree"},
		{name: "tags without TAGS", modify: func(e *Event) { e.Tags = []string{"seat"} }, err: "disagree"},
		{name: "value with newline", modify: func(e *Event) { e.Set("X", "a\nb") }, err: "newline"},
		{name: "key with =", modify: func(e *Event) { e.Props = append(e.Props, Property{"A=B", "c"}) }, err: "contains '='"},
		{name: "duplicate key", modify: func(e *Event) { e.Props = append(e.Props, Property{"SUBSYSTEM", "s"}) }, err: "twice"},
		{name: "unknown action", modify: func(e *Event) { e.Set("ACTION", "frob") }, err: "unknown ACTION"},
		{name: "no SEQNUM", modify: func(e *Event) { e.Props = e.Props[:3]; e.Seqnum = 0 }, err: "no SEQNUM"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := valid()
			tt.modify(e)
			for name, marshal := range map[string]func(*Event) ([]byte, error){"libudev": MarshalLibudev, "kernel": MarshalKernel} {
				b, err := marshal(e)
				if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, ErrMalformed) {
					t.Errorf("Marshal%s error = %v, want ErrMalformed containing %q", name, err, tt.err)
				}
				if b != nil {
					t.Errorf("Marshal%s returned %d bytes with an error", name, len(b))
				}
			}
		})
	}
	if _, err := MarshalLibudev(nil); err == nil {
		t.Error("MarshalLibudev(nil) succeeded")
	}
}

// guestFiles returns the captured datagrams matching pattern, skipping the
// test when the QEMU harness has not produced any.
func guestFiles(t *testing.T, pattern string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "guest", pattern))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Skipf("no testdata/guest/%s: capture them with the command in testdata/guest/README", pattern)
	}
	return files
}

// TestGoldenKernel parses every datagram the guest kernel sent and encodes it
// back: the kernel format has one encoding, so the bytes must match, except
// that a value's trailing newline is dropped as udev drops it (6.1 ends the
// cpu MODALIAS with one).
func TestGoldenKernel(t *testing.T) {
	for _, f := range guestFiles(t, "kernel-*.bin") {
		t.Run(filepath.Base(f), func(t *testing.T) {
			in, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			e, err := ParseKernel(in)
			if err != nil {
				t.Fatalf("ParseKernel: %v", err)
			}
			out, err := MarshalKernel(e)
			if err != nil {
				t.Fatalf("MarshalKernel: %v", err)
			}
			if diff := cmp.Diff(dropNewlines(in), out); diff != "" {
				t.Errorf("re-encoding differs (-captured +ours):\n%s", diff)
			}
		})
	}
}

// dropNewlines cuts every NUL-terminated string of b at its first newline.
func dropNewlines(b []byte) []byte {
	var out []byte
	for _, s := range bytes.SplitAfter(b, []byte{0}) {
		if i := bytes.IndexAny(s, "\r\n"); i >= 0 {
			s = append(s[:i:i], 0)
		}
		out = append(out, s...)
	}
	return out
}

// TestGoldenLibudev parses every datagram systemd-udevd broadcast in the
// guest and encodes it back: MarshalLibudev must be byte-compatible with
// device_monitor_send_device, header hashes and tag bloom included.
func TestGoldenLibudev(t *testing.T) {
	for _, f := range guestFiles(t, "libudev-*.bin") {
		t.Run(filepath.Base(f), func(t *testing.T) {
			in, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			e, err := ParseLibudev(in)
			if err != nil {
				t.Fatalf("ParseLibudev: %v", err)
			}
			out, err := MarshalLibudev(e)
			if err != nil {
				t.Fatalf("MarshalLibudev: %v", err)
			}
			if diff := cmp.Diff(in[:40], out[:min(40, len(out))]); diff != "" {
				t.Errorf("header differs (-captured +ours):\n%s", diff)
			}
			if diff := cmp.Diff(string(in[40:]), string(out[40:])); diff != "" {
				t.Errorf("properties differ (-captured +ours):\n%s", diff)
			}
		})
	}
}

func BenchmarkParseKernel(b *testing.B) {
	in := kmsg("add@/devices/system/cpu/cpu17", "ACTION=add", "DEVPATH=/devices/system/cpu/cpu17", "SUBSYSTEM=cpu",
		"MODALIAS=cpu:type:x86,ven0000fam0006mod0055:feature:,0000,0001,0002,0003,0004,0005,0006,0007,0008,0009",
		"SEQNUM=2381")
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := ParseKernel(in); err != nil {
			b.Fatal(err)
		}
	}
}
