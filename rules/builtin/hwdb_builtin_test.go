package builtin

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The Logitech mouse of testdata/sys.tar.gz: a USB device without
// MODALIAS, its interface, its input device and the input device's
// event node, whose strings small/lib/udev/hwdb.d/40-devices.hwdb
// matches.
const (
	mouseUSB   = "devices/pci0000:00/0000:00:1d.2/usb3/3-1"
	mouseInput = mouseUSB + "/3-1:1.0/input/input8"
	mouseEvent = mouseInput + "/event7"
)

func TestHwdbBuiltin(t *testing.T) {
	db := openTestHWDB(t, smallBin)
	sysfs := sysFixture(t)
	event := map[string]string{"SUBSYSTEM": "input", "DEVNAME": "input/event7"}
	evdev := []Prop{{"DEV_EVDEV", "evdev"}, {"DEV_EVDEV_OTHER", "evdev"}}
	tests := []struct {
		name    string
		syspath string
		props   map[string]string
		argv    []string
		want    []Prop
		wantErr error
	}{
		{"operand", mouseEvent, event, []string{"hwdb", "lit:exact"}, []Prop{{"LIT", "exact"}}, nil},
		{"operand finds nothing", mouseEvent, event, []string{"hwdb", "lit:none"}, nil, ErrNoHwdbEntry},
		{"prefix after the operand", mouseEvent, event, []string{"hwdb", "exact", "-p", "lit:"}, []Prop{{"LIT", "exact"}}, nil},
		{"--lookup-prefix=", mouseEvent, event, []string{"hwdb", "--lookup-prefix=lit:", "exact2"},
			[]Prop{{"LIT", "exact2"}, {"LIT2", "only-exact2"}}, nil},
		{"abbreviated long option", mouseEvent, event, []string{"hwdb", "--look", "lit:", "exact"}, []Prop{{"LIT", "exact"}}, nil},
		{"filter", mouseEvent, event, []string{"hwdb", "--filter=LIT2", "lit:exact2"}, []Prop{{"LIT2", "only-exact2"}}, nil},
		{"filter glob attached", mouseEvent, event, []string{"hwdb", "-fLIT*", "lit:exact2"},
			[]Prop{{"LIT", "exact2"}, {"LIT2", "only-exact2"}}, nil},
		{"filter keeps nothing", mouseEvent, event, []string{"hwdb", "-f", "X*", "lit:exact2"}, nil, ErrNoHwdbEntry},
		{"unknown option ignored", mouseEvent, event, []string{"hwdb", "-x", "--bogus", "lit:exact"}, []Prop{{"LIT", "exact"}}, nil},
		{"after --, a dash is an operand", mouseEvent, event, []string{"hwdb", "--", "-p"}, nil, ErrNoHwdbEntry},
		{"walk to the input parent", mouseEvent, event, []string{"hwdb"}, []Prop{{"DEV_INPUT", "input"}}, nil},
		{"input with evdev: prefix", mouseEvent, event, []string{"hwdb", "--subsystem=input", "--lookup-prefix=evdev:"}, evdev, nil},
		{"subsystem usb stops at the interface", mouseEvent, event, []string{"hwdb", "--subsystem=usb"},
			[]Prop{{"DEV_USB_INTERFACE", "interface"}}, nil},
		{"usb walk ends at the usb_device", mouseEvent, event, []string{"hwdb", "--subsystem=usb", "-p", "x:"}, nil, ErrNoHwdbEntry},
		{"usb_device composes its modalias", mouseUSB, map[string]string{"SUBSYSTEM": "usb", "DEVTYPE": "usb_device"},
			[]string{"hwdb", "--subsystem=usb"}, []Prop{{"DEV_USB_DEVICE", "composed"}}, nil},
		{"event MODALIAS from the rules", mouseEvent, map[string]string{"SUBSYSTEM": "input", "MODALIAS": "lit:exact"},
			[]string{"hwdb"}, []Prop{{"LIT", "exact"}}, nil},
		{"subsystem nobody has", mouseEvent, event, []string{"hwdb", "--subsystem=pci", "-p", "x:"}, nil, ErrNoHwdbEntry},
		{"--device by subsystem and name", "devices/virtual/mem/null", nil, []string{"hwdb", "--device=+input:input8", "-p", "evdev:"}, evdev, nil},
		{"--device by numbers", "devices/virtual/mem/null", nil, []string{"hwdb", "-d", "c13:71", "-p", "evdev:"}, evdev, nil},
		{"--device malformed", mouseEvent, event, []string{"hwdb", "--device=x1"}, nil, ErrBadDeviceID},
		{"--device missing", mouseEvent, event, []string{"hwdb", "--device=+input:input99"}, nil, ErrNoDevice},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dev := &Device{Sysfs: sysfs, Syspath: tc.syspath, Props: tc.props}
			got, err := Hwdb(context.Background(), db, dev, tc.argv)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Hwdb(%q) error %v, want %v", tc.argv, err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Hwdb(%q) (-want +got):\n%s", tc.argv, diff)
			}
		})
	}
}

func TestHwdbBuiltinNoDatabase(t *testing.T) {
	_, err := Hwdb(context.Background(), nil, &Device{}, []string{"hwdb", "x"})
	if !errors.Is(err, ErrNoHWDB) {
		t.Fatalf("Hwdb without a database: %v, want ErrNoHWDB", err)
	}
}
