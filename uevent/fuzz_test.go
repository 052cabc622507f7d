package uevent

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzParse checks the parsers' invariants on arbitrary datagrams: no panic;
// an error comes with no event and matches ErrMalformed; an event is
// consistent (fields agree with properties, keys unique, every required
// property present) and survives both encodings: parse(encode(e)) == e.
//
//	go test -fuzz=FuzzParse ./uevent/
func FuzzParse(f *testing.F) {
	f.Add(kmsg("add@/devices/pci0000:00/0000:00:03.0", "ACTION=add", "DEVPATH=/devices/pci0000:00/0000:00:03.0",
		"SUBSYSTEM=pci", "MODALIAS=pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00", "SEQNUM=1042"))
	f.Add(kmsg("bind@/devices/platform/soc@0/x", "ACTION=bind", "DEVPATH=/devices/platform/soc@0/x",
		"SUBSYSTEM=platform", "A=b=c", "SEQNUM=9"))
	f.Add(kmsg("add@/devices/x", "ACTION=add", "DEVPATH=/devices/x", "SUBSYSTEM=s", "V=a\nb", "SEQNUM=1"))
	lib := &Event{}
	for _, kv := range [][2]string{{"ACTION", "change"}, {"DEVPATH", "/devices/virtual/input/input3"},
		{"SUBSYSTEM", "input"}, {"DEVTYPE", "x"}, {"SEQNUM", "12"}, {"TAGS", ":seat:uaccess:"}} {
		lib.Set(kv[0], kv[1])
	}
	if b, err := MarshalLibudev(lib); err == nil {
		f.Add(b)
	}
	guest, _ := filepath.Glob(filepath.Join("testdata", "guest", "*.bin"))
	for _, g := range guest {
		if b, err := os.ReadFile(g); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		e, err := Parse(in)
		if err != nil {
			if e != nil {
				t.Fatalf("Parse returned event %+v with error %v", e, err)
			}
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse error %v does not match ErrMalformed", err)
			}
			return
		}
		if e == nil {
			t.Fatal("Parse returned neither event nor error")
		}
		if err := checkConsistent(e); err != nil {
			t.Fatalf("parsed event is inconsistent: %v\n%+v", err, e)
		}
		roundTrip(t, e, MarshalLibudev, ParseLibudev)
		roundTrip(t, e, MarshalKernel, ParseKernel)
		roundTrip(t, e, MarshalLibudev, Parse)
		roundTrip(t, e, MarshalKernel, Parse)
	})
}

func roundTrip(t *testing.T, e *Event, marshal func(*Event) ([]byte, error), parse func([]byte) (*Event, error)) {
	t.Helper()
	b, err := marshal(e)
	if err != nil {
		t.Fatalf("marshal parsed event: %v\n%+v", err, e)
	}
	got, err := parse(b)
	if err != nil {
		t.Fatalf("parse marshalled event: %v\n%q", err, b)
	}
	if diff := cmp.Diff(e, got); diff != "" {
		t.Fatalf("round trip mismatch (-parsed +reparsed):\n%s", diff)
	}
}
