package sdaemon

import (
	"errors"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

func TestClassify(t *testing.T) {
	for _, tt := range []struct {
		name string
		fd   func(t *testing.T) int
		want Kind
	}{
		{"uevent", ueventSocket, KindUevent},
		{"control", func(t *testing.T) int { return controlSocket(t, true) }, KindUdevControl},
		{"control not listening", func(t *testing.T) int { return controlSocket(t, false) }, KindOther},
		{"route netlink", func(t *testing.T) int {
			fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_ROUTE)
			if err != nil {
				t.Fatal(err)
			}
			return fd
		}, KindOther},
		{"datagram", datagramSocket, KindOther},
		{"regular file", regularFile, KindOther},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := os.NewFile(uintptr(tt.fd(t)), tt.name)
			defer f.Close()
			got, err := Classify(f)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Classify = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestSplitUdev: one of each kind, in any order, or fewer; anything else
// fails the start, as udevd's listen_fds returns -EINVAL, and closes every
// fd.
func TestSplitUdev(t *testing.T) {
	control := func(t *testing.T) int { return controlSocket(t, true) }
	for _, tt := range []struct {
		name               string
		fds                []func(t *testing.T) int
		wantUevent, wantCt int // index into fds, -1: none
		wantErr            error
	}{
		{"kernel then control", []func(*testing.T) int{ueventSocket, control}, 0, 1, nil},
		{"control then kernel", []func(*testing.T) int{control, ueventSocket}, 1, 0, nil},
		{"kernel only", []func(*testing.T) int{ueventSocket}, 0, -1, nil},
		{"none", nil, -1, -1, nil},
		{"two kernel", []func(*testing.T) int{ueventSocket, ueventSocket}, -1, -1, ErrUnexpectedFD},
		{"two control", []func(*testing.T) int{control, control}, -1, -1, ErrUnexpectedFD},
		{"other", []func(*testing.T) int{ueventSocket, control, datagramSocket}, -1, -1, ErrUnexpectedFD},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var ls []Listener
			for i, open := range tt.fds {
				name := string(rune('a' + i))
				ls = append(ls, Listener{Name: name, File: os.NewFile(uintptr(open(t)), name)})
			}
			got, err := SplitUdev(ls)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("SplitUdev = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				for _, l := range ls {
					if _, err := l.File.Stat(); !errors.Is(err, os.ErrClosed) {
						t.Errorf("listener %s not closed after the error", l.Name)
					}
				}
				return
			}
			defer closeAll(ls)
			want := [2]string{pick(ls, tt.wantUevent), pick(ls, tt.wantCt)}
			if diff := cmp.Diff(want, [2]string{nameOf(got.Uevent), nameOf(got.Control)}); diff != "" {
				t.Errorf("SplitUdev uevent, control (-want +got):\n%s", diff)
			}
		})
	}
}

func nameOf(f *os.File) string {
	if f == nil {
		return ""
	}
	return f.Name()
}

// pick is the name of ls[i], or "" for i < 0.
func pick(ls []Listener, i int) string {
	if i < 0 {
		return ""
	}
	return ls[i].Name
}
