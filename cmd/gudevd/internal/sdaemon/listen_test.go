package sdaemon

import (
	"errors"
	"os"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// setListenEnv sets the three variables; a nil value leaves one unset.
func setListenEnv(t *testing.T, pid, fds, names *string) {
	t.Helper()
	for k, v := range map[string]*string{listenPIDEnv: pid, listenFDsEnv: fds, listenFDNamesEnv: names} {
		t.Setenv(k, "") // restores the old value after the test
		if v == nil {
			os.Unsetenv(k)
		} else {
			os.Setenv(k, *v)
		}
	}
}

func ptr(s string) *string { return &s }

func TestListeners(t *testing.T) {
	self := strconv.Itoa(os.Getpid())
	for _, tt := range []struct {
		name           string
		pid, fds, fdns *string
		want           []string // names; nil: no listeners
		wantErr        error
	}{
		{name: "named", pid: &self, fds: ptr("2"), fdns: ptr("systemd-udevd-kernel.socket:systemd-udevd-control.socket"),
			want: []string{"systemd-udevd-kernel.socket", "systemd-udevd-control.socket"}},
		{name: "unnamed", pid: &self, fds: ptr("2"), want: []string{"unknown", "unknown"}},
		{name: "empty name kept", pid: &self, fds: ptr("2"), fdns: ptr(":b"), want: []string{"", "b"}},
		{name: "no LISTEN_PID", fds: ptr("2")},
		{name: "another process's", pid: ptr("1"), fds: ptr("2")},
		{name: "no LISTEN_FDS", pid: &self},
		{name: "bad LISTEN_PID", pid: ptr("x"), fds: ptr("2"), wantErr: ErrListenEnv},
		{name: "zero LISTEN_FDS", pid: &self, fds: ptr("0"), wantErr: ErrListenEnv},
		{name: "negative LISTEN_FDS", pid: &self, fds: ptr("-1"), wantErr: ErrListenEnv},
		{name: "names short", pid: &self, fds: ptr("2"), fdns: ptr("a"), wantErr: ErrListenEnv},
		{name: "empty names", pid: &self, fds: ptr("2"), fdns: ptr(""), wantErr: ErrListenEnv},
	} {
		t.Run(tt.name, func(t *testing.T) {
			base := passFDs(t, ueventSocket(t), controlSocket(t, true))
			setListenEnv(t, tt.pid, tt.fds, tt.fdns)
			ls, err := listeners(false, base)
			defer closeAll(ls)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("listeners = %v, want %v", err, tt.wantErr)
			}
			var got []string
			for i, l := range ls {
				got = append(got, l.Name)
				if l.File.Fd() != uintptr(base+i) {
					t.Errorf("listener %d has fd %d, want %d", i, l.File.Fd(), base+i)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("names (-want +got):\n%s", diff)
			}
		})
	}
}

// TestListenersSetCloexec: systemd passes the fds without FD_CLOEXEC;
// sd_listen_fds sets it, so that a worker does not inherit the sockets.
func TestListenersSetCloexec(t *testing.T) {
	base := passFDs(t, ueventSocket(t))
	if cloexec(t, base) {
		t.Fatal("passFDs left FD_CLOEXEC set: the check below could not fail")
	}
	setListenEnv(t, ptr(strconv.Itoa(os.Getpid())), ptr("1"), nil)
	ls, err := listeners(false, base)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll(ls)
	if !cloexec(t, base) {
		t.Error("passed fd not close-on-exec after listeners")
	}
}

func cloexec(t *testing.T, fd int) bool {
	t.Helper()
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil {
		t.Fatal(err)
	}
	return fl&unix.FD_CLOEXEC != 0
}

// TestListenersUnset: with unset the variables are gone on every path, as
// sd_listen_fds' unsetenv_all, and kept without.
func TestListenersUnset(t *testing.T) {
	self := strconv.Itoa(os.Getpid())
	for _, tt := range []struct {
		name      string
		fds       string
		unset     bool
		wantUnset bool
	}{
		{"unset", "1", true, true},
		{"unset after error", "0", true, true},
		{"kept", "1", false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			base := passFDs(t, ueventSocket(t))
			setListenEnv(t, &self, &tt.fds, ptr("kernel"))
			ls, _ := listeners(tt.unset, base)
			closeAll(ls)
			for _, k := range []string{listenPIDEnv, listenFDsEnv, listenFDNamesEnv} {
				if _, set := os.LookupEnv(k); set == tt.wantUnset {
					t.Errorf("%s set = %v, want %v", k, set, !tt.wantUnset)
				}
			}
		})
	}
}

// TestListenersNotPassed: outside socket activation Listeners finds none,
// with no error, and touches no fd.
func TestListenersNotPassed(t *testing.T) {
	setListenEnv(t, nil, nil, nil)
	ls, err := Listeners(true)
	if err != nil || ls != nil {
		t.Errorf("Listeners = %v, %v; want none", ls, err)
	}
}
