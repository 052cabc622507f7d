package main

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

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
