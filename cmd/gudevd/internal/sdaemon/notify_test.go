package sdaemon

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gudevd/gudevd/cmd/gudevd/internal/sdaemon/sdaemontest"
)

func TestNotifierSends(t *testing.T) {
	for _, tt := range []struct {
		name string
		addr func(t *testing.T) string
	}{
		{"path", func(t *testing.T) string { return filepath.Join(t.TempDir(), "notify") }},
		{"abstract", func(t *testing.T) string {
			return "@gudevd-sdaemon-test-" + strconv.Itoa(os.Getpid()) + "-" + t.Name()
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr := tt.addr(t)
			c := sdaemontest.ListenNotify(t, addr)
			n := NewNotifier(nil, addr)
			n.Send(StateReady)
			n.Status("coldplug\nrunning")
			n.Send(StateStopping)
			got, err := c.Receive(3, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"READY=1", "STATUS=coldplug running", "STOPPING=1"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("datagrams (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNotifyRejectsRelativeAddress(t *testing.T) {
	if err := Notify("notify", StateReady); err == nil {
		t.Error("Notify to a relative name = nil, want an error (sd_notify takes /path or @name)")
	}
}

// TestNotifierWithoutSocket: not run by systemd, a Notifier sends nothing;
// Receive must then report the missing datagram, so the tests above
// can fail.
func TestNotifierWithoutSocket(t *testing.T) {
	t.Setenv(NotifySocketEnv, "")
	c := sdaemontest.ListenNotify(t, filepath.Join(t.TempDir(), "notify"))
	n := NotifierFromEnv(nil)
	if n.Enabled() {
		t.Error("Enabled with NOTIFY_SOCKET empty")
	}
	n.Send(StateReady)
	got, err := c.Receive(1, 200*time.Millisecond)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Receive with nothing sent = %q, %v; want a deadline error", got, err)
	}
}

func TestWithoutNotifySocket(t *testing.T) {
	t.Setenv(NotifySocketEnv, "/run/systemd/notify")
	for _, tt := range []struct {
		name string
		env  []string
		want func([]string) string // "" when fine
	}{
		{"explicit", []string{"A=1", NotifySocketEnv + "=@x", "B=2"}, func(got []string) string {
			return cmp.Diff([]string{"A=1", "B=2"}, got)
		}},
		{"inherited", nil, func(got []string) string {
			if len(got) == 0 || len(got) != len(os.Environ())-1 {
				return "want the process environment less NOTIFY_SOCKET"
			}
			return ""
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := WithoutNotifySocket(tt.env)
			if msg := tt.want(got); msg != "" {
				t.Errorf("WithoutNotifySocket = %q: %s", got, msg)
			}
		})
	}
}
