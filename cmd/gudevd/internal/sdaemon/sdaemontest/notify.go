package sdaemontest

import (
	"fmt"
	"net"
	"testing"
	"time"
)

// NotifySocket is a unixgram socket at an address (a path, or an
// @abstract name), as systemd's /run/systemd/notify is.
type NotifySocket struct{ c *net.UnixConn }

// ListenNotify opens it; the test's cleanup closes it.
func ListenNotify(t testing.TB, addr string) *NotifySocket {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &NotifySocket{c: c}
}

// Receive reads n datagrams, waiting at most d for each; the error of a
// missing one matches os.ErrDeadlineExceeded.
func (s *NotifySocket) Receive(n int, d time.Duration) ([]string, error) {
	var got []string
	buf := make([]byte, 4096)
	for range n {
		if err := s.c.SetReadDeadline(time.Now().Add(d)); err != nil {
			return got, err
		}
		m, err := s.c.Read(buf)
		if err != nil {
			return got, fmt.Errorf("after %q: %w", got, err)
		}
		got = append(got, string(buf[:m]))
	}
	return got, nil
}

// Drain reads and drops what arrives within quiet of the last datagram.
func (s *NotifySocket) Drain(quiet time.Duration) {
	for {
		if _, err := s.Receive(1, quiet); err != nil {
			return
		}
	}
}
