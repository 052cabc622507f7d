package daemon

import (
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gudevd/gudevd/cmd/gudevd/internal/control"
	"github.com/gudevd/gudevd/cmd/gudevd/internal/sdaemon/sdaemontest"
)

// TestRunNotifiesSystemd: Run sends READY=1 once it is ready (after Ready
// is closed) and STOPPING=1 when asked to stop, and nothing else.
func TestRunNotifiesSystemd(t *testing.T) {
	addr := filepath.Join(t.TempDir(), "notify")
	c := sdaemontest.ListenNotify(t, addr)
	t.Setenv(notifySocketEnv, addr)
	r := startDaemon(t)
	got, err := c.Receive(1, 10*time.Second)
	if err != nil {
		t.Fatalf("no READY=1 after Ready: %v", err)
	}
	r.call(t, control.Request{Op: control.OpExit})
	if err := r.wait(t); err != nil {
		t.Fatalf("Run = %v", err)
	}
	rest, err := c.Receive(1, 5*time.Second)
	if err != nil {
		t.Fatalf("no STOPPING=1 after exit: %v", err)
	}
	got = append(got, rest...)
	if diff := cmp.Diff([]string{"READY=1", "STOPPING=1"}, got); diff != "" {
		t.Errorf("datagrams (-want +got):\n%s", diff)
	}
	if extra, err := c.Receive(1, 100*time.Millisecond); err == nil {
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
