package control

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/gudevd/gudevd/cmd/gudevd/internal/privaterun"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/sys/unix"
)

// udevadmEnv names the real udevadm for TestUdevadmControlChild, which
// TestUdevadmControl runs in a mount namespace of its own.
const udevadmEnv = "GUDEVD_CONTROL_TEST_UDEVADM"

// recorder is a UdevHandler that keeps every message; UdevExit cancels
// the serve, as the daemon's exit does.
type recorder struct {
	mu   sync.Mutex
	msgs []UdevMessage
	exit context.CancelFunc
}

func (r *recorder) ServeUdevControl(ctx context.Context, m UdevMessage) {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
	if m.Op == UdevExit && r.exit != nil {
		r.exit()
	}
}

func (r *recorder) got() []UdevMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]UdevMessage(nil), r.msgs...)
}

func TestUdevMessageRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		m    UdevMessage
	}{
		{"ping", UdevMessage{Version: "udev-252", Op: UdevPing}},
		{"log level", UdevMessage{Version: "udev-252", Op: UdevSetLogLevel, Int: 7}},
		{"children max", UdevMessage{Version: "udev-252", Op: UdevSetChildrenMax, Int: 12}},
		{"set env", UdevMessage{Version: "udev-252", Op: UdevSetEnv, Env: "FOO=bar baz"}},
		{"unset env", UdevMessage{Version: "udev-252", Op: UdevSetEnv, Env: "FOO="}},
		{"exit", UdevMessage{Version: "udev-252", Op: UdevExit}},
		{"end", UdevMessage{Version: "udev-252", Op: UdevEnd}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.m.Marshal()
			if len(b) != 280 {
				t.Fatalf("Marshal: %d bytes, want 280 (sizeof(UdevCtrlMessageWire))", len(b))
			}
			got, err := ParseUdevMessage(b)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.m, got); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseUdevMessageBad(t *testing.T) {
	good := UdevMessage{Version: "udev-252", Op: UdevPing}.Marshal()
	badMagic := bytes.Clone(good)
	badMagic[16] ^= 1
	badType := UdevMessage{Op: 9}.Marshal()
	for name, b := range map[string][]byte{
		"empty": nil, "short": good[:279], "long": append(bytes.Clone(good), 0),
		"magic": badMagic, "type": badType, "negative type": UdevMessage{Op: -1}.Marshal(),
	} {
		if _, err := ParseUdevMessage(b); !errors.Is(err, ErrBadUdevMessage) || !errors.Is(err, unix.EBADMSG) {
			t.Errorf("%s: ParseUdevMessage = %v, want ErrBadUdevMessage (EBADMSG)", name, err)
		}
	}
}

// FuzzParseUdevMessage: what parses survives Marshal and parses the same.
func FuzzParseUdevMessage(f *testing.F) {
	f.Add(UdevMessage{Version: "udev-252", Op: UdevSetEnv, Env: "A=b"}.Marshal())
	f.Add(UdevMessage{Version: "udev-252", Op: UdevSetLogLevel, Int: 3}.Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseUdevMessage(b)
		if err != nil {
			return
		}
		if len(m.Version) > udevVersionLen-1 || len(m.Env) > udevValueLen-1 {
			// A string filling its whole field has no NUL; Marshal
			// cuts it as strscpy would.
			return
		}
		again, err := ParseUdevMessage(m.Marshal())
		if err != nil {
			t.Fatalf("parse of Marshal(%+v): %v", m, err)
		}
		if diff := cmp.Diff(m, again); diff != "" {
			t.Errorf("round trip (-first +again):\n%s", diff)
		}
	})
}

// startUdevServer serves path with h until the test ends or h exits it.
func startUdevServer(t *testing.T, path string, h *recorder) (*UdevServer, <-chan struct{}) {
	t.Helper()
	srv, err := ListenUdev(path, h, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	h.exit = cancel
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return srv, done
}

// sendUdev is udevadm's side: connect, send each message, END_MESSAGES,
// then wait for the server's close (udev_ctrl_wait).
func sendUdev(t *testing.T, path string, raw ...[]byte) error {
	t.Helper()
	c, err := net.Dial("unixpacket", path)
	if err != nil {
		return err
	}
	defer c.Close()
	for _, b := range append(raw, UdevMessage{Version: "udev-252", Op: UdevEnd}.Marshal()) {
		if _, err := c.Write(b); errors.Is(err, unix.EPIPE) || errors.Is(err, unix.ECONNRESET) {
			break // the server closed on a message it refused
		} else if err != nil {
			return err
		}
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(make([]byte, 1))
	if n != 0 || (err != nil && !errors.Is(err, unix.ECONNRESET) && err.Error() != "EOF") {
		return fmt.Errorf("waiting for the close: %d bytes, %v", n, err)
	}
	return nil
}

// TestUdevServer: messages reach the handler in order and END_MESSAGES
// closes the connection; a datagram that is no message is counted and
// ends its connection, and the next client is served.
func TestUdevServer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", "control")
	h := &recorder{}
	srv, _ := startUdevServer(t, path, h)
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket: %v, %v; want mode 0600", fi, err)
	}
	msgs := []UdevMessage{
		{Version: "udev-252", Op: UdevSetLogLevel, Int: 7},
		{Version: "udev-252", Op: UdevSetEnv, Env: "FOO=bar"},
		{Version: "udev-252", Op: UdevPing},
	}
	var raw [][]byte
	for _, m := range msgs {
		raw = append(raw, m.Marshal())
	}
	if err := sendUdev(t, path, raw...); err != nil {
		t.Fatal(err)
	}
	bad := UdevMessage{Op: UdevReload}.Marshal()
	bad[17] = 0 // magic
	if err := sendUdev(t, path, bad, UdevMessage{Op: UdevReload}.Marshal()); err != nil {
		t.Fatal(err)
	}
	if err := sendUdev(t, path, UdevMessage{Op: UdevStopExecQueue}.Marshal()[:100]); err != nil {
		t.Fatal(err)
	}
	if err := sendUdev(t, path, UdevMessage{Op: UdevStartExecQueue}.Marshal()); err != nil {
		t.Fatal(err)
	}
	want := append(msgs, UdevMessage{Op: UdevStartExecQueue})
	if diff := cmp.Diff(want, h.got()); diff != "" {
		t.Errorf("handled (-want +got):\n%s", diff)
	}
	// 3 messages and END, then START_EXEC_QUEUE and END; the reload after
	// the bad magic was never read.
	if diff := cmp.Diff(UdevStats{Messages: 6, Malformed: 2}, srv.Stats()); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
}

// TestUdevServerExit: UDEV_CTRL_EXIT stops the server, which closes the
// client's connection (udevadm control --exit waits for that) and removes
// the socket.
func TestUdevServerExit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "control")
	h := &recorder{}
	_, done := startUdevServer(t, path, h)
	c, err := net.Dial("unixpacket", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(UdevMessage{Op: UdevExit}.Marshal()); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, _ := c.Read(make([]byte, 1)); n != 0 {
		t.Errorf("read %d bytes, want the close", n)
	}
	<-done
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket after exit: %v, want removed", err)
	}
}

// TestUdevadmControl drives systemd's own udevadm (bookworm's 252 where
// the tests run) against the server: ping, log level, children max,
// environment, the exec queue, reload and exit must each arrive as the
// message udevd would handle. udevadm only knows /run/udev/control, so the
// server runs in a mount namespace of its own with a tmpfs on /run
// (TestUdevadmControlChild).
func TestUdevadmControl(t *testing.T) {
	privaterun.Run(t, "TestUdevadmControlChild", udevadmEnv, privaterun.Udevadm(t))
}

type udevadmOutcome struct {
	Messages      []UdevMessage
	Errors        []string
	Stats         UdevStats
	SocketRemoved bool
}

func TestUdevadmControlChild(t *testing.T) {
	udevadm := privaterun.Enter(t, udevadmEnv)
	h := &recorder{}
	srv, err := ListenUdev(UdevPath, h, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.exit = cancel
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ctx) }()
	var got udevadmOutcome
	for _, args := range [][]string{
		{"--ping"}, {"--log-level=debug"}, {"--children-max=7"}, {"--property=FOO=bar"}, {"--property=FOO="},
		{"--stop-exec-queue"}, {"--start-exec-queue"}, {"--reload"}, {"--exit"},
	} {
		b, err := exec.Command(udevadm, append([]string{"control", "--timeout=5"}, args...)...).CombinedOutput()
		if err != nil {
			got.Errors = append(got.Errors, fmt.Sprintf("udevadm control %s: %v: %s", args, err, b))
		}
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		got.Errors = append(got.Errors, "server still running after --exit")
		cancel()
		<-done
	}
	got.Messages, got.Stats = h.got(), srv.Stats()
	_, err = os.Stat(UdevPath)
	got.SocketRemoved = errors.Is(err, os.ErrNotExist)
	want := udevadmOutcome{
		Messages: []UdevMessage{
			{Op: UdevPing},
			{Op: UdevSetLogLevel, Int: 7}, // debug
			{Op: UdevSetChildrenMax, Int: 7},
			{Op: UdevSetEnv, Env: "FOO=bar"},
			{Op: UdevSetEnv, Env: "FOO="},
			{Op: UdevStopExecQueue},
			{Op: UdevStartExecQueue},
			{Op: UdevReload},
			{Op: UdevExit},
		},
		Stats:         UdevStats{Messages: 17}, // 9 and 8 END_MESSAGES (none after exit)
		SocketRemoved: true,
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(UdevMessage{}, "Version")); diff != "" {
		t.Errorf("what udevadm sent (-want +got):\n%s", diff)
	}
	for _, m := range got.Messages {
		if !strings.HasPrefix(m.Version, "udev-") {
			t.Errorf("version %q, want udev-N", m.Version)
		}
	}
}

// TestListenUdevStaleAndLive: a socket nobody serves (a killed daemon's) is
// replaced; one a daemon serves is not, and a second daemon fails with
// EADDRINUSE, as Listen does for gudevd's own socket.
func TestListenUdevStaleAndLive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "control")
	stale, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	stale.SetUnlinkOnClose(false)
	stale.Close() // the file stays, nothing listens: ECONNREFUSED
	h := &recorder{}
	startUdevServer(t, path, h)
	if _, err := ListenUdev(path, h, slog.New(slog.DiscardHandler)); !errors.Is(err, unix.EADDRINUSE) {
		t.Errorf("second ListenUdev = %v, want EADDRINUSE", err)
	}
	if err := sendUdev(t, path, UdevMessage{Op: UdevPing}.Marshal()); err != nil {
		t.Fatal(err)
	}
	if got := h.got(); len(got) != 1 || got[0].Op != UdevPing {
		t.Errorf("after the refused second listener the first served %+v, want one ping", got)
	}
}

// udevPeerEnv makes the test binary a forger of udev control messages:
// TestUdevServerRefusesNonRoot runs it as uid 65534 with the socket's
// path here.
const udevPeerEnv = "GUDEVD_CONTROL_TEST_UDEV_PEER"

// udevPeerMain sends a reload as udevadm would and prints "sent" once the
// server has closed the connection.
func udevPeerMain(path string) int {
	c, err := net.Dial("unixpacket", path)
	if err != nil {
		fmt.Println("dial:", err)
		return 0
	}
	defer c.Close()
	c.Write(UdevMessage{Version: "udev-252", Op: UdevReload}.Marshal())
	c.Write(UdevMessage{Version: "udev-252", Op: UdevEnd}.Marshal())
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	c.Read(make([]byte, 1))
	fmt.Println("sent")
	return 0
}

// TestUdevServerRefusesNonRoot: a reload forged by an unprivileged
// process on a socket open to it reaches no handler and is counted.
func TestUdevServerRefusesNonRoot(t *testing.T) {
	base := nobodyDir(t)
	h := &recorder{}
	path := filepath.Join(base, "run", "control")
	srv, _ := startUdevServer(t, path, h)
	openToNobody(t, base, path)
	out := runAsNobody(t, udevPeerEnv, path)
	if !strings.Contains(string(out), "sent") {
		t.Fatalf("peer: %s", out)
	}
	if got := h.got(); len(got) != 0 {
		t.Errorf("handled %+v from uid 65534, want nothing", got)
	}
	if s := srv.Stats(); s.Refused != 1 || s.Messages != 0 {
		t.Errorf("stats %+v, want 1 refused and no message", s)
	}
}
