package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// addSeeds adds requests good and bad to a fuzz test's corpus.
func addSeeds(f *testing.F) {
	for _, s := range []string{
		"",
		" \n",
		"{}",
		"null",
		"[]",
		"1",
		`"settle"`,
		`{"op":"settle"}` + "\n",
		`{"op":"stats"}`,
		`{"op":"reload"}`,
		`{"op":"exit"}`,
		`{"op":"load","modules":["e1000","snd-hda-intel"]}`,
		`{"op":"modprobe","modules":["crypto-aes"]}`,
		`{"op":"log-level","log_level":"debug"}`,
		`{"op":"load","modules":[]}`,
		`{"op":"load","modules":null}`,
		`{"op":"load","modules":[""]}`,
		`{"OP":"settle"}`,
		`{"op":"settle","op":"exit"}`,
		`{"op":"settle","timeout":5}`,
		`{"op":"frobnicate"}`,
		`{"op":1}`,
		`{"op":"stats"}{"op":"exit"}`,
		`{"op":"stats"} x`,
		`{"op":"set`,
		"{\"op\":\"load\",\"modules\":[\"\xff\xfe\"]}",
		`{"op":"load","modules":["\u0000\ud800"]}`,
		"\xef\xbb\xbf{\"op\":\"settle\"}",
	} {
		f.Add([]byte(s))
	}
}

// FuzzReadRequest: any bytes either fail to decode, with a zero Request and
// an error saying the request was malformed, or decode to a Request that
// encodes and decodes to itself.
func FuzzReadRequest(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		req, err := readRequest(bytes.NewReader(in))
		if err != nil {
			if diff := cmp.Diff(Request{}, req); diff != "" {
				t.Errorf("readRequest(%q) failed (%v) but returned a request (-want +got):\n%s", in, err, diff)
			}
			if errors.Is(err, errEmpty) != (len(in) == 0) {
				t.Errorf("readRequest(%q): err = %v; want errEmpty exactly for no input", in, err)
			}
			if !errors.Is(err, errEmpty) && !strings.HasPrefix(err.Error(), "malformed control request: ") {
				t.Errorf("readRequest(%q): err = %q, want it to say the request is malformed", in, err)
			}
			return
		}
		b, err := json.Marshal(req)
		if err != nil {
			t.Fatalf("encode %+v, decoded from %q: %v", req, in, err)
		}
		again, err := readRequest(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("decode %q, encoded from %+v (from %q): %v", b, req, in, err)
		}
		if diff := cmp.Diff(req, again); diff != "" {
			t.Errorf("request from %q changed going through %q (-first +again):\n%s", in, b, diff)
		}
	})
}

// FuzzServerHandle sends any bytes through the server's connection handling
// on a socketpair, the peer shutting down its writing side after them: the
// server does not panic or hang, writes exactly one reply, counts the
// connection exactly once, and hands the handler a request exactly when
// readRequest and validate accept the bytes.
func FuzzServerHandle(f *testing.F) {
	addSeeds(f)
	root := os.Geteuid() == 0
	f.Fuzz(func(t *testing.T, in []byte) {
		h := &fakeHandler{}
		s := &Server{h: h, log: slog.New(slog.DiscardHandler), readTimeout: bound, writeTimeout: bound}
		client, server := socketPair(t)
		defer client.Close()
		client.SetDeadline(time.Now().Add(bound))
		var wg sync.WaitGroup
		defer wg.Wait()
		wg.Go(func() { s.handle(context.Background(), server) })
		wg.Go(func() {
			// EPIPE or ECONNRESET when the server stopped reading early.
			client.Write(in)
			client.(*net.UnixConn).CloseWrite()
		})
		out, err := io.ReadAll(client)
		if err != nil && !errors.Is(err, unix.ECONNRESET) {
			t.Fatalf("read reply to %q: %v (after %q)", in, err, out)
		}
		wg.Wait()
		rep := oneReply(t, out)
		st := s.Stats()
		if n := st.Requests + st.Refused + st.Malformed + st.Empty; n != 1 {
			t.Errorf("%q: stats %+v count the connection %d times, want once", in, st, n)
		}

		want, wantErr := readRequest(bytes.NewReader(in))
		if wantErr == nil {
			wantErr = want.validate()
		}
		// Data after the request is seen when the decoder has read it, and
		// the socket may deliver it in other pieces than a bytes.Reader;
		// what it has not read the hang-up watcher takes.
		afterRequest := func(err string) bool { return strings.Contains(err, "data after the request") }
		got := h.requests()
		switch {
		case !root:
			if rep.Error != ErrNotRoot.Error() || st.Refused != 1 || len(got) != 0 {
				t.Errorf("%q from a non-root peer: reply %+v, stats %+v, handler got %+v; want a refusal", in, rep, st, got)
			}
		case len(got) == 1:
			if rep.Error != "" || st.Requests != 1 {
				t.Errorf("%q served as %+v: reply %+v, stats %+v", in, got[0], rep, st)
			}
			if wantErr != nil && !afterRequest(wantErr.Error()) {
				t.Errorf("server served %q as %+v, which readRequest and validate refuse: %v", in, got[0], wantErr)
			}
			if wantErr == nil {
				if diff := cmp.Diff(want, got[0]); diff != "" {
					t.Errorf("%q: handler got (-readRequest +handler):\n%s", in, diff)
				}
			}
		case len(got) == 0:
			if rep.Error == "" || st.Requests != 0 {
				t.Errorf("%q not served, yet reply %+v, stats %+v", in, rep, st)
			}
			if wantErr == nil && !afterRequest(rep.Error) {
				t.Errorf("server refused %q (%s), which readRequest and validate accept as %+v", in, rep.Error, want)
			}
			if (st.Empty == 1) != (len(in) == 0) {
				t.Errorf("%q: stats %+v; want Empty exactly for no input", in, st)
			}
		default:
			t.Errorf("%q: handler got %d requests, want at most one", in, len(got))
		}
	})
}

// socketPair returns the two ends of a connected Unix stream socketpair.
// The kernel gives each end the creator's credentials for SO_PEERCRED.
func socketPair(t testing.TB) (client, server net.Conn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	var conns [2]net.Conn
	for i, fd := range fds {
		// net.FileConn dups the descriptor (CLOEXEC), so the file closes.
		file := os.NewFile(uintptr(fd), "socketpair")
		c, err := net.FileConn(file)
		file.Close()
		if err != nil {
			if i == 0 {
				unix.Close(fds[1])
			} else {
				conns[0].Close()
			}
			t.Fatal(err)
		}
		conns[i] = c
	}
	return conns[0], conns[1]
}
