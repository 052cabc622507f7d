package control

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// passedControlSocket makes what systemd-udevd-control.socket passes: a
// SOCK_SEQPACKET socket bound at path, mode 0600, listening unless told
// otherwise, without SO_PASSCRED so that the test sees UdevListenerFile
// set it.
func passedControlSocket(t *testing.T, typ int, path string, listen bool) *os.File {
	t.Helper()
	fd, err := unix.Socket(unix.AF_UNIX, typ, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "systemd-udevd-control.socket")
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		f.Close()
		t.Fatal(err)
	}
	if listen {
		if err := unix.Listen(fd, 8); err != nil {
			f.Close()
			t.Fatal(err)
		}
	}
	return f
}

// TestUdevListenerFile serves a passed socket: udevadm's messages reach
// the handler (credentials and all), and when the serve ends the socket
// file stays, since the socket unit owns it.
func TestUdevListenerFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "control")
	f := passedControlSocket(t, unix.SOCK_SEQPACKET, path, true)
	ln, err := UdevListenerFile(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("f.Close after UdevListenerFile = %v, want os.ErrClosed: it owns f", err)
	}
	h := &recorder{}
	srv := NewUdevServer(ln, h, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ctx) }()
	defer func() { cancel(); <-done }()

	msg := UdevMessage{Version: "udev-252", Op: UdevPing}
	if err := sendUdev(t, path, msg.Marshal()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]UdevMessage{msg}, h.got()); diff != "" {
		t.Errorf("handled (-want +got):\n%s", diff)
	}
	cancel()
	<-done
	if _, err := os.Stat(path); err != nil {
		t.Errorf("socket file after the serve ended: %v; want it kept for the socket unit", err)
	}
}

// TestUdevListenerFileRefuses: anything but a listening SOCK_SEQPACKET
// unix socket is refused with ErrNotUdevControlSocket, f closed all the
// same.
func TestUdevListenerFileRefuses(t *testing.T) {
	for _, tt := range []struct {
		name string
		open func(t *testing.T) *os.File
		want string
	}{
		{"stream", func(t *testing.T) *os.File {
			return passedControlSocket(t, unix.SOCK_STREAM, filepath.Join(t.TempDir(), "s"), true)
		}, "type 1, want 5"},
		{"not listening", func(t *testing.T) *os.File {
			return passedControlSocket(t, unix.SOCK_SEQPACKET, filepath.Join(t.TempDir(), "s"), false)
		}, "listening 0, want 1"},
		{"netlink", func(t *testing.T) *os.File {
			fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_KOBJECT_UEVENT)
			if err != nil {
				t.Fatal(err)
			}
			return os.NewFile(uintptr(fd), "kernel")
		}, "family 16, want 1"},
		{"regular file", func(t *testing.T) *os.File {
			f, err := os.Create(filepath.Join(t.TempDir(), "f"))
			if err != nil {
				t.Fatal(err)
			}
			return f
		}, "socket operation on non-socket"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.open(t)
			ln, err := UdevListenerFile(f)
			if err == nil {
				ln.Close()
				t.Fatal("UdevListenerFile = nil error")
			}
			if !errors.Is(err, ErrNotUdevControlSocket) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("UdevListenerFile = %v, want ErrNotUdevControlSocket saying %q", err, tt.want)
			}
			if err := f.Close(); !errors.Is(err, os.ErrClosed) {
				t.Errorf("f.Close after a refusal = %v, want os.ErrClosed", err)
			}
		})
	}
}
