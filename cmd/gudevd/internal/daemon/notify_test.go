package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gudevd/gudevd/cmd/gudevd/internal/control"
)

// notifyListener is systemd's side of $NOTIFY_SOCKET: a unixgram socket at
// addr (a path, or an @abstract name).
func notifyListener(t *testing.T, addr string) *net.UnixConn {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// receiveStates reads n datagrams, waiting at most d for each.
func receiveStates(c *net.UnixConn, n int, d time.Duration) ([]string, error) {
	var got []string
	buf := make([]byte, 4096)
	for range n {
		if err := c.SetReadDeadline(time.Now().Add(d)); err != nil {
			return got, err
		}
		m, err := c.Read(buf)
		if err != nil {
			return got, fmt.Errorf("after %q: %w", got, err)
		}
		got = append(got, string(buf[:m]))
	}
	return got, nil
}

func TestNotifySends(t *testing.T) {
	for _, tt := range []struct {
		name string
		addr func(t *testing.T) string
	}{
		{"path", func(t *testing.T) string { return filepath.Join(t.TempDir(), "notify") }},
		{"abstract", func(t *testing.T) string {
			return "@gudevd-notify-test-" + strconv.Itoa(os.Getpid()) + "-" + t.Name()
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr := tt.addr(t)
			c := notifyListener(t, addr)
			for _, s := range []string{"READY=1", "STOPPING=1"} {
				if err := notify(addr, s); err != nil {
					t.Fatal(err)
				}
			}
			got, err := receiveStates(c, 2, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"READY=1", "STOPPING=1"}, got); diff != "" {
				t.Errorf("datagrams (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNotifyRejectsRelativeAddress(t *testing.T) {
	if err := notify("notify", "READY=1"); err == nil {
		t.Error("notify to a relative name = nil, want an error (sd_notify takes /path or @name)")
	}
}

// TestNotifyCheckCanFail proves receiveStates catches a daemon that does
// not send: with nothing sent it must report a missing datagram.
func TestNotifyCheckCanFail(t *testing.T) {
	c := notifyListener(t, filepath.Join(t.TempDir(), "notify"))
	newNotifier(nil, "").send("READY=1") // no $NOTIFY_SOCKET: sends nothing
	got, err := receiveStates(c, 1, 200*time.Millisecond)
	if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("receiveStates with nothing sent = %q, %v; want a deadline error", got, err)
	}
}

// TestRunNotifiesSystemd: Run sends READY=1 once it is ready (after Ready
// is closed) and STOPPING=1 when asked to stop, and nothing else.
func TestRunNotifiesSystemd(t *testing.T) {
	addr := filepath.Join(t.TempDir(), "notify")
	c := notifyListener(t, addr)
	t.Setenv(notifySocketEnv, addr)
	r := startDaemon(t)
	got, err := receiveStates(c, 1, 10*time.Second)
	if err != nil {
		t.Fatalf("no READY=1 after Ready: %v", err)
	}
	r.call(t, control.Request{Op: control.OpExit})
	if err := r.wait(t); err != nil {
		t.Fatalf("Run = %v", err)
	}
	rest, err := receiveStates(c, 1, 5*time.Second)
	if err != nil {
		t.Fatalf("no STOPPING=1 after exit: %v", err)
	}
	got = append(got, rest...)
	if diff := cmp.Diff([]string{"READY=1", "STOPPING=1"}, got); diff != "" {
		t.Errorf("datagrams (-want +got):\n%s", diff)
	}
	if extra, err := receiveStates(c, 1, 100*time.Millisecond); err == nil {
		t.Errorf("extra datagram %q", extra)
	}
}

func TestWorkersDoNotInheritNotifySocket(t *testing.T) {
	t.Setenv(notifySocketEnv, "/run/systemd/notify")
	for _, tt := range []struct {
		name string
		env  []string
	}{
		{"inherited", nil},
		{"explicit", []string{"A=1", notifySocketEnv + "=@x", "B=2"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cmd := withoutNotifySocket(func(ctx context.Context) *exec.Cmd {
				c := exec.CommandContext(ctx, "/bin/true")
				c.Env = tt.env
				return c
			})(context.Background())
			if i := slices.IndexFunc(cmd.Env, func(kv string) bool { return strings.HasPrefix(kv, notifySocketEnv+"=") }); i >= 0 {
				t.Errorf("worker environment holds %q", cmd.Env[i])
			}
			if tt.env != nil && !slices.Equal(cmd.Env, []string{"A=1", "B=2"}) {
				t.Errorf("worker environment = %q, want the rest kept", cmd.Env)
			}
			if tt.env == nil && len(cmd.Env) == 0 {
				t.Error("worker environment empty, want the daemon's without NOTIFY_SOCKET")
			}
		})
	}
}
