package main

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gudevd/gudevd/cmd/gudevd/internal/control"
	"github.com/gudevd/gudevd/cmd/gudevd/internal/rtnl"
	"github.com/gudevd/gudevd/rules/builtin"
)

// fakeLinks records what applyLink asks of rtnetlink.
type fakeLinks struct {
	link  rtnl.Link
	calls []string
	fail  error
}

func (f *fakeLinks) Link(context.Context, int) (rtnl.Link, error) { return f.link, nil }
func (f *fakeLinks) SetMAC(_ context.Context, _ int, mac []byte) error {
	f.calls = append(f.calls, "mac "+strconv.Itoa(len(mac)))
	return f.fail
}
func (f *fakeLinks) AddAltNames(_ context.Context, _ int, names []string) error {
	f.calls = append(f.calls, "altnames "+strings.Join(names, ","))
	return nil
}

func TestApplyLink(t *testing.T) {
	dev := &builtin.Device{Syspath: "devices/pci0000:00/0000:00:03.0/net/eth0", Props: map[string]string{"IFINDEX": "2"}}
	tests := []struct {
		name  string
		link  rtnl.Link
		plan  builtin.LinkPlan
		fail  error
		calls []string
		err   bool
	}{
		{"nothing to do", rtnl.Link{Name: "eth0"}, builtin.LinkPlan{NewName: "enp0s3"}, nil, nil, false},
		{
			"altnames less the current name and those present",
			rtnl.Link{Name: "eth0", AltNames: []string{"enp0s3"}},
			builtin.LinkPlan{AlternativeNames: []string{"enp0s3", "eth0", "enx525400123456"}}, nil,
			[]string{"altnames enx525400123456"}, false,
		},
		{"persistent MAC", rtnl.Link{Name: "eth0"}, builtin.LinkPlan{MACAddress: []byte{2, 0, 0, 0, 0, 1}}, nil, []string{"mac 6"}, false},
		{"random MAC", rtnl.Link{Name: "eth0"}, builtin.LinkPlan{RandomMACAddress: true}, nil, []string{"mac 6"}, false},
		{
			"a failed MAC still adds altnames",
			rtnl.Link{Name: "eth0"}, builtin.LinkPlan{MACAddress: []byte{2, 0, 0, 0, 0, 1}, AlternativeNames: []string{"enp0s3"}},
			syscall.EBUSY, []string{"mac 6", "altnames enp0s3"}, true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeLinks{link: tt.link, fail: tt.fail}
			err := applyLink(context.Background(), f, dev, tt.plan)
			if diff := cmp.Diff(tt.calls, f.calls); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
			if (err != nil) != tt.err || tt.fail != nil && !errors.Is(err, tt.fail) {
				t.Errorf("err = %v, want error %v", err, tt.err)
			}
		})
	}
}

// TestWriteStatsUdev: the udev stage's counters are printed when the
// daemon has them, and absent otherwise.
func TestWriteStatsUdev(t *testing.T) {
	var with, without strings.Builder
	s := &control.Stats{Udev: &control.UdevEvents{Events: 7, Failed: 3}, UdevControl: &control.UdevStats{Refused: 2}}
	if err := writeStats(&with, s); err != nil {
		t.Fatal(err)
	}
	if err := writeStats(&without, &control.Stats{}); err != nil {
		t.Fatal(err)
	}
	// tabwriter pads with runs of spaces; compare words.
	got := "\n" + strings.Join(strings.Fields(strings.ReplaceAll(with.String(), "\n", " | ")), " ")
	for _, want := range []string{"| udev events 7 |", "| udev events failed (UDEV_WORKER_FAILED) 3 |", "| udev control messages refused (not root) 2 |"} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in:\n%s", want, with.String())
		}
	}
	if strings.Contains(without.String(), "udev") {
		t.Errorf("udev counters without the udev stage:\n%s", without.String())
	}
}
