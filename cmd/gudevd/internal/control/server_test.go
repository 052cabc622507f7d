package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/gudevd/gudevd/cmd/gudevd/internal/modules"
)

// bound is how long a test waits for what should take milliseconds.
const bound = 5 * time.Second

// fakeHandler records every request it is handed.
type fakeHandler struct {
	// serve answers a request when set; without it every request is
	// answered with a "loaded" result for each of its modules.
	serve func(ctx context.Context, req Request) Reply

	mu  sync.Mutex // guards got
	got []Request
}

func (h *fakeHandler) ServeControl(ctx context.Context, req Request) Reply {
	h.mu.Lock()
	h.got = append(h.got, req)
	h.mu.Unlock()
	if h.serve != nil {
		return h.serve(ctx, req)
	}
	var res []modules.Result
	for _, m := range req.Modules {
		res = append(res, modules.Result{Module: m, Result: "loaded"})
	}
	return Reply{Results: res}
}

func (h *fakeHandler) requests() []Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.got)
}

type testServer struct {
	path string
	srv  *Server
	// stop stops the server and fails the test if Serve does not return
	// within bound; the test's cleanup calls it too.
	stop func()
}

// startServer listens on path and serves h until the test ends; tune, if
// set, adjusts the server before it serves.
func startServer(t *testing.T, path string, h Handler, tune func(*Server)) *testServer {
	t.Helper()
	srv, err := Listen(path, h, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	if tune != nil {
		tune(srv)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ctx)
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(bound):
				t.Errorf("Serve did not return within %v of being stopped", bound)
			}
		})
	}
	t.Cleanup(stop)
	return &testServer{path: path, srv: srv, stop: stop}
}

// waitFor polls cond until it holds, failing the test after bound.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, bound)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestControlRoundTrip(t *testing.T) {
	h := &fakeHandler{}
	ts := startServer(t, filepath.Join(t.TempDir(), "control"), h, nil)
	tests := []struct {
		name string
		req  Request
		want Reply
	}{
		{"load", Request{Op: OpLoad, Modules: []string{"e1000"}}, Reply{Results: []modules.Result{{Module: "e1000", Result: "loaded"}}}},
		{"modprobe two", Request{Op: OpModprobe, Modules: []string{"ext4", "vfat"}}, Reply{Results: []modules.Result{{Module: "ext4", Result: "loaded"}, {Module: "vfat", Result: "loaded"}}}},
		{"settle", Request{Op: OpSettle}, Reply{}},
		{"log level", Request{Op: OpLogLevel, LogLevel: "debug"}, Reply{}},
	}
	var want []Request
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := Call(context.Background(), ts.path, tt.req)
			if err != nil {
				t.Fatalf("Call: %v", err)
			}
			if diff := cmp.Diff(tt.want, rep); diff != "" {
				t.Errorf("reply (-want +got):\n%s", diff)
			}
		})
		want = append(want, tt.req)
	}
	if diff := cmp.Diff(want, h.requests()); diff != "" {
		t.Errorf("requests the handler got (-want +got):\n%s", diff)
	}
	ts.stop()
	if diff := cmp.Diff(ServerStats{Requests: uint64(len(tests))}, ts.srv.Stats()); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
}

func TestCallWithoutDaemon(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, path string)
	}{
		{"no socket", func(*testing.T, string) {}},
		{"stale socket of a daemon that died", func(t *testing.T, path string) {
			ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
			if err != nil {
				t.Fatal(err)
			}
			ln.SetUnlinkOnClose(false)
			ln.Close()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "control")
			tt.setup(t, path)
			_, err := Call(context.Background(), path, Request{Op: OpSettle})
			if !errors.Is(err, ErrNoDaemon) || !errors.Is(err, unix.ECONNREFUSED) {
				t.Fatalf("Call: err = %v, want ErrNoDaemon, matching ECONNREFUSED", err)
			}
		})
	}
}

func TestListenControlRefusesSecondDaemon(t *testing.T) {
	h := &fakeHandler{}
	ts := startServer(t, filepath.Join(t.TempDir(), "control"), h, nil)
	second, err := Listen(ts.path, &fakeHandler{}, slog.New(slog.DiscardHandler))
	if err == nil {
		second.ln.Close()
		t.Fatal("second Listen on a live socket succeeded, want an error")
	}
	if !errors.Is(err, unix.EADDRINUSE) {
		t.Errorf("second Listen: err = %v, want it to match EADDRINUSE", err)
	}
	// The first daemon still serves on its socket, which the second left.
	if _, err := Call(context.Background(), ts.path, Request{Op: OpStats}); err != nil {
		t.Errorf("Call to the first daemon after the second failed: %v", err)
	}
	ts.stop()
	// The second's probe is a connection that sends nothing.
	if diff := cmp.Diff(ServerStats{Requests: 1, Empty: 1}, ts.srv.Stats()); diff != "" {
		t.Errorf("first daemon's stats (-want +got):\n%s", diff)
	}
}

// TestListenSocketMode: the socket is srw------- and owned by this process's
// user whatever the umask, a missing directory is made 0700, an existing
// one keeps its mode unless another user could replace the socket in it.
func TestListenSocketMode(t *testing.T) {
	// With umask 0, a socket bound without its mode set first would be
	// srwxrwxrwx (the socket inode's default), and a directory made with
	// any mode wider than 0700 would keep it: nothing narrows them but
	// Listen. The umask is the process's; no test here runs in parallel.
	old := unix.Umask(0)
	defer unix.Umask(old)

	mkdir := func(mode fs.FileMode) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			t.Helper()
			if err := os.Mkdir(filepath.Join(dir, "run"), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(filepath.Join(dir, "run"), mode); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string) // dir is empty, and the socket goes to dir/run/control
		wantDir fs.FileMode                    // the mode of dir/run after Listen
		wantErr string                         // a part of Listen's error; "" for none
	}{
		{"missing directory is made 0700", func(*testing.T, string) {}, fs.ModeDir | 0o700, ""},
		{"existing 0755 directory, as udevd's /run/udev, is kept", mkdir(0o755), fs.ModeDir | 0o755, ""},
		{"existing 0700 directory is kept", mkdir(0o700), fs.ModeDir | 0o700, ""},
		{"existing sticky 1777 directory, as /tmp, is kept", mkdir(fs.ModeSticky | 0o777), fs.ModeDir | fs.ModeSticky | 0o777, ""},
		{"stale socket of mode 0777 is replaced", func(t *testing.T, dir string) {
			mkdir(0o700)(t, dir)
			ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(dir, "run", "control"), Net: "unix"})
			if err != nil {
				t.Fatal(err)
			}
			ln.SetUnlinkOnClose(false)
			ln.Close()
		}, fs.ModeDir | 0o700, ""},
		{"directory others may write is refused", mkdir(0o777), fs.ModeDir | 0o777, "group or others could replace the socket"},
		{"directory group may write is refused", mkdir(0o775), fs.ModeDir | 0o775, "group or others could replace the socket"},
		{"directory of another user is refused", func(t *testing.T, dir string) {
			if os.Geteuid() != 0 {
				t.Skip("needs root to give a directory to uid 65534")
			}
			mkdir(0o755)(t, dir)
			if err := os.Chown(filepath.Join(dir, "run"), 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}, fs.ModeDir | 0o755, "owned by uid 65534"},
		{"a file that is no socket is left alone", func(t *testing.T, dir string) {
			mkdir(0o700)(t, dir)
			if err := os.WriteFile(filepath.Join(dir, "run", "control"), []byte("keep"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, fs.ModeDir | 0o700, "exists and is not a socket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.setup(t, dir)
			path := filepath.Join(dir, "run", "control")
			srv, err := Listen(path, &fakeHandler{}, slog.New(slog.DiscardHandler))
			if err == nil {
				defer srv.ln.Close()
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Listen: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Listen: err = %v, want one saying %q", err, tt.wantErr)
			}
			if fi, err := os.Stat(filepath.Dir(path)); err != nil {
				t.Error(err)
			} else if fi.Mode() != tt.wantDir {
				t.Errorf("directory mode = %v, want %v", fi.Mode(), tt.wantDir)
			}
			if tt.wantErr != "" {
				if b, err := os.ReadFile(path); err == nil && string(b) != "keep" {
					t.Errorf("the file at the path now holds %q, want it untouched", b)
				} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("after a failed Listen: %v", err)
				}
				return
			}
			var st unix.Stat_t
			if err := unix.Lstat(path, &st); err != nil {
				t.Fatal(err)
			}
			if want := uint32(unix.S_IFSOCK | 0o600); st.Mode != want {
				t.Errorf("socket mode = %#o, want %#o (srw-------)", st.Mode, want)
			}
			if int(st.Uid) != os.Geteuid() {
				t.Errorf("socket owner = uid %d, want %d", st.Uid, os.Geteuid())
			}
			if err := unix.Stat(filepath.Dir(path), &st); err != nil {
				t.Fatal(err)
			}
			if int(st.Uid) != os.Geteuid() {
				t.Errorf("directory owner = uid %d, want %d", st.Uid, os.Geteuid())
			}
		})
	}
}

func TestRequestValidate(t *testing.T) {
	tests := []struct {
		name    string
		req     Request
		wantErr string // "" for a valid request
	}{
		{"settle", Request{Op: OpSettle}, ""},
		{"stats", Request{Op: OpStats}, ""},
		{"reload", Request{Op: OpReload}, ""},
		{"exit", Request{Op: OpExit}, ""},
		{"load", Request{Op: OpLoad, Modules: []string{"e1000"}}, ""},
		{"modprobe", Request{Op: OpModprobe, Modules: []string{"crypto-aes", "fs-vfat"}}, ""},
		{"log level", Request{Op: OpLogLevel, LogLevel: "debug"}, ""},
		{"no op", Request{}, "request has no op"},
		{"unknown op", Request{Op: "frobnicate"}, `unknown op "frobnicate"`},
		{"op in another case", Request{Op: "Settle"}, `unknown op "Settle"`},
		{"settle with modules", Request{Op: OpSettle, Modules: []string{"e1000"}}, "settle request takes no modules and no log level"},
		{"exit with a level", Request{Op: OpExit, LogLevel: "debug"}, "exit request takes no modules and no log level"},
		{"load without modules", Request{Op: OpLoad}, "load request names no module"},
		{"modprobe with an empty name", Request{Op: OpModprobe, Modules: []string{"ext4", ""}}, "modprobe request names an empty module"},
		{"load with a level", Request{Op: OpLoad, Modules: []string{"e1000"}, LogLevel: "debug"}, "load request takes no log level"},
		{"log level without a level", Request{Op: OpLogLevel}, "log-level request names no level"},
		{"log level with modules", Request{Op: OpLogLevel, LogLevel: "info", Modules: []string{"e1000"}}, "log-level request takes no modules"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.req.validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("validate: %v, want nil", err)
			case tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr):
				t.Errorf("validate: %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// ending is how a raw client ends its side after sending.
type ending int

const (
	keepOpen  ending = iota // wait for the reply with the connection open
	shutWrite               // shut down the writing side, then read the reply
	hangUp                  // close at once: nobody reads a reply
)

// exchange connects to path, sends in, ends as told, and returns what the
// server wrote until it closed the connection. It writes from a goroutine
// it waits for, so that a request larger than the socket buffer cannot
// block it while the server has stopped reading.
func exchange(t *testing.T, path string, in []byte, end ending) []byte {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(bound))
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		// A server that refused the request early closes with data unread,
		// which fails this write with EPIPE or ECONNRESET: that is fine.
		c.Write(in)
		switch end {
		case shutWrite:
			c.(*net.UnixConn).CloseWrite()
		case hangUp:
			c.Close()
		}
	})
	if end == hangUp {
		return nil
	}
	out, err := io.ReadAll(c)
	// The reply comes first; a reset after it is the server closing with
	// part of an oversized request unread.
	if err != nil && !errors.Is(err, unix.ECONNRESET) {
		t.Fatalf("read reply: %v (after %q)", err, out)
	}
	return out
}

// oneReply decodes what a server wrote on a connection: exactly one line,
// one JSON Reply.
func oneReply(t testing.TB, out []byte) Reply {
	t.Helper()
	if bytes.Count(out, []byte("\n")) != 1 || !bytes.HasSuffix(out, []byte("\n")) {
		t.Fatalf("server wrote %q, want one line", out)
	}
	var rep Reply
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("server wrote %q: %v", out, err)
	}
	return rep
}

// TestServerBadInput: whatever a peer sends, it gets one reply saying what
// was wrong, where it is still there to read it, the handler is not called,
// and the connection is counted.
func TestServerBadInput(t *testing.T) {
	huge := `{"op":"load","modules":["` + strings.Repeat("a", maxRequest)
	tests := []struct {
		name    string
		in      []byte
		end     ending
		tune    func(*Server)
		wantErr string // the reply's error; with hangUp no reply is read
		want    ServerStats
	}{
		{"not JSON", []byte("hello\n"), keepOpen, nil,
			"malformed control request: invalid character 'h' looking for beginning of value", ServerStats{Malformed: 1}},
		{"unknown op", []byte(`{"op":"frobnicate"}`), keepOpen, nil,
			`malformed control request: unknown op "frobnicate"`, ServerStats{Malformed: 1}},
		{"no op", []byte("{}\n"), keepOpen, nil,
			"malformed control request: request has no op", ServerStats{Malformed: 1}},
		{"JSON null", []byte("null"), shutWrite, nil,
			"malformed control request: request has no op", ServerStats{Malformed: 1}},
		{"not an object", []byte(`["settle"]`), keepOpen, nil,
			"malformed control request: json: cannot unmarshal array into Go value of type control.Request", ServerStats{Malformed: 1}},
		{"op not a string", []byte(`{"op":1}`), keepOpen, nil,
			"malformed control request: json: cannot unmarshal number into Go struct field Request.op of type control.Op", ServerStats{Malformed: 1}},
		{"unknown field", []byte(`{"op":"settle","timeout":5}`), keepOpen, nil,
			`malformed control request: json: unknown field "timeout"`, ServerStats{Malformed: 1}},
		{"fields the op does not take", []byte(`{"op":"settle","modules":["e1000"]}`), keepOpen, nil,
			"malformed control request: settle request takes no modules and no log level", ServerStats{Malformed: 1}},
		{"two requests", []byte(`{"op":"stats"}{"op":"exit"}`), keepOpen, nil,
			"malformed control request: data after the request", ServerStats{Malformed: 1}},
		{"larger than 1 MiB", []byte(huge + `"]}`), keepOpen, nil,
			"malformed control request: larger than 1048576 bytes", ServerStats{Malformed: 1}},
		// Without the bound on reading, the server would wait for the end.
		{"larger than 1 MiB and never ending", []byte(huge), keepOpen, nil,
			"malformed control request: larger than 1048576 bytes", ServerStats{Malformed: 1}},
		{"write side shut before a full request", []byte(`{"op":"set`), shutWrite, nil,
			"malformed control request: connection closed before a full request", ServerStats{Malformed: 1}},
		{"white space only, write side shut", []byte(" \n"), shutWrite, nil,
			"malformed control request: connection closed before a full request", ServerStats{Malformed: 1}},
		{"hung up before a full request", []byte(`{"op":"set`), hangUp, nil,
			"", ServerStats{Malformed: 1}},
		{"no full request in time", []byte(`{"op":"set`), keepOpen, func(s *Server) { s.readTimeout = 100 * time.Millisecond },
			"read control request: no full request in time: ", ServerStats{Malformed: 1}},
		{"nothing sent, write side shut", nil, shutWrite, nil,
			"connection closed before a request", ServerStats{Empty: 1}},
		{"nothing sent, hung up", nil, hangUp, nil,
			"", ServerStats{Empty: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &fakeHandler{}
			ts := startServer(t, filepath.Join(t.TempDir(), "control"), h, tt.tune)
			out := exchange(t, ts.path, tt.in, tt.end)
			if tt.end != hangUp {
				rep := oneReply(t, out)
				if !strings.HasPrefix(rep.Error, tt.wantErr) || rep.Stats != nil || rep.Results != nil {
					t.Errorf("reply = %+v, want only the error %q", rep, tt.wantErr)
				}
			}
			// A connection that hung up may still wait in the listen backlog,
			// where stopping would close it unseen.
			waitFor(t, "connection counted", func() bool {
				st := ts.srv.Stats()
				return st.Requests+st.Refused+st.Malformed+st.Empty > 0
			})
			ts.stop()
			if diff := cmp.Diff(tt.want, ts.srv.Stats()); diff != "" {
				t.Errorf("stats (-want +got):\n%s", diff)
			}
			if got := h.requests(); len(got) != 0 {
				t.Errorf("handler got %+v, want nothing", got)
			}
		})
	}
}

// TestControlClientGoneCancelsRequest: a client that hangs up while its
// request is served (settle --timeout, Ctrl-C) ends the handler's ctx, and
// the server then finishes the connection.
func TestControlClientGoneCancelsRequest(t *testing.T) {
	tests := []struct {
		name string
		// call runs Call with a ctx that ends after started is closed.
		call    func(path string, started <-chan struct{}) error
		wantErr error
	}{
		{"deadline passes", func(path string, _ <-chan struct{}) error {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			_, err := Call(ctx, path, Request{Op: OpSettle})
			return err
		}, context.DeadlineExceeded},
		{"cancelled", func(path string, started <-chan struct{}) error {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() {
				<-started
				cancel()
			}()
			_, err := Call(ctx, path, Request{Op: OpSettle})
			return err
		}, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			started := make(chan struct{})
			ended := make(chan error, 1)
			h := &fakeHandler{serve: func(ctx context.Context, req Request) Reply {
				close(started)
				<-ctx.Done()
				ended <- context.Cause(ctx)
				return Reply{Error: "settle: cancelled"}
			}}
			ts := startServer(t, filepath.Join(t.TempDir(), "control"), h, nil)
			if err := tt.call(ts.path, started); !errors.Is(err, tt.wantErr) {
				t.Fatalf("Call: err = %v, want %v", err, tt.wantErr)
			}
			select {
			case <-started:
			default:
				t.Fatal("Call returned before the handler saw its request")
			}
			select {
			case cause := <-ended:
				if cause != errClientGone {
					t.Errorf("handler's ctx ended with %v, want errClientGone", cause)
				}
			case <-time.After(bound):
				t.Fatalf("handler's ctx did not end within %v of the client hanging up", bound)
			}
			// The connection is finished without the server stopping.
			waitFor(t, "connection finished", func() bool { return ts.srv.Stats().Open == 0 })
			ts.stop()
			if diff := cmp.Diff(ServerStats{Requests: 1, ClientGone: 1}, ts.srv.Stats()); diff != "" {
				t.Errorf("stats (-want +got):\n%s", diff)
			}
		})
	}
}

// TestServeStopsPromptly: stopping the server is not held up by a client,
// and a request being served still gets its reply.
func TestServeStopsPromptly(t *testing.T) {
	// About 1 MiB of JSON: more than a Unix socket buffers, so a client
	// that does not read leaves the server's write blocked.
	big := make([]modules.Result, 30000)
	for i := range big {
		big[i] = modules.Result{Module: "m", Result: "loaded"}
	}
	tests := []struct {
		name  string
		tune  func(*Server)
		serve func(ctx context.Context, req Request) Reply
		// send is what the client sends, waiting as long as the server
		// has the connection open; wantReply is what it reads then.
		send      string
		wantReply *Reply // nil: do not read
		want      ServerStats
	}{
		{"a connection that sends nothing", nil, nil, "", nil, ServerStats{}},
		{"a request cut short", nil, nil, `{"op":`, nil, ServerStats{}},
		{"a handler waiting on its ctx", nil, func(ctx context.Context, req Request) Reply {
			<-ctx.Done()
			return Reply{Error: "settle: stopped"}
		}, `{"op":"settle"}`, &Reply{Error: "settle: stopped"}, ServerStats{Requests: 1}},
		{"a client that does not read a large reply", func(s *Server) { s.writeTimeout = 200 * time.Millisecond }, func(ctx context.Context, req Request) Reply {
			return Reply{Results: big}
		}, `{"op":"stats"}`, nil, ServerStats{Requests: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &fakeHandler{serve: tt.serve}
			ts := startServer(t, filepath.Join(t.TempDir(), "control"), h, tt.tune)
			c, err := net.Dial("unix", ts.path)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(bound))
			if _, err := io.WriteString(c, tt.send); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "server has the connection", func() bool { return ts.srv.Stats().Open == 1 })
			if tt.serve != nil {
				waitFor(t, "handler has the request", func() bool { return len(h.requests()) == 1 })
			}
			// Bounded by the read and write deadlines (200 ms here), not
			// by the client: without them Serve would wait for ever. The
			// bound is loose for -race on a loaded machine.
			start := time.Now()
			ts.stop()
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Serve returned %v after being stopped, want it bounded by the deadlines", d)
			}
			if tt.wantReply != nil {
				out, err := io.ReadAll(c)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(*tt.wantReply, oneReply(t, out)); diff != "" {
					t.Errorf("reply after the server stopped (-want +got):\n%s", diff)
				}
			}
			if diff := cmp.Diff(tt.want, ts.srv.Stats()); diff != "" {
				t.Errorf("stats (-want +got):\n%s", diff)
			}
		})
	}
}

// TestControlRefusesNonRootPeer runs a real process as uid 65534 against
// the socket: the server must refuse it from SO_PEERCRED, never hand its
// request to the handler, and still serve root.
// nobodyDir is a directory for a socket a uid 65534 peer connects to: it
// needs search permission on every directory of the path, so the socket
// goes under a directory of its own in os.TempDir, not under t.TempDir's
// 0700 parents. The test skips without root.
func nobodyDir(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a peer process as uid 65534")
	}
	base, err := os.MkdirTemp("", "gudevd-control-peer-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	return base
}

// openToNobody opens the socket and its directories to every uid. The
// listeners' modes keep any non-root process out before the server sees
// it: connect(2) on a Unix socket needs search permission on its
// directories (0700) and write permission on the socket (0600), and fails
// with EACCES otherwise. Opening them up, for the test only, lets the
// peer's connect through to accept, so what must refuse it is the
// server's credentials check.
func openToNobody(t *testing.T, base, sock string) {
	t.Helper()
	for _, p := range []struct {
		path string
		mode fs.FileMode
	}{{base, 0o711}, {filepath.Dir(sock), 0o711}, {sock, 0o666}} {
		if err := os.Chmod(p.path, p.mode); err != nil {
			t.Fatal(err)
		}
	}
}

// runAsNobody runs this test binary as uid 65534 with key=value set, the
// mode TestMain turns into a peer, and returns its stdout. It is
// /proc/self/exe rather than os.Executable: the test binary sits under
// go's 0700 build directory, which uid 65534 cannot search, while the
// kernel resolves /proc/self/exe straight to the file. Go sets the uid
// and gid in the child before execve(2).
func runAsNobody(t *testing.T, key, value string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/proc/self/exe")
	cmd.Env = append(os.Environ(), key+"="+value)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); errors.Is(err, syscall.EPERM) {
		t.Skipf("cannot start a process as uid 65534 here (no CAP_SETUID, or a user namespace without that uid): %v", err)
	} else if err != nil {
		t.Fatalf("start peer as uid 65534: %v", err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("peer as uid 65534: %v\nstderr: %s", err, stderr.Bytes())
	}
	return stdout.Bytes()
}

func TestControlRefusesNonRootPeer(t *testing.T) {
	base := nobodyDir(t)
	h := &fakeHandler{}
	ts := startServer(t, filepath.Join(base, "run", "control"), h, nil)
	openToNobody(t, base, ts.path)
	stdout := runAsNobody(t, peerEnv, ts.path)
	var got peerOutcome
	if err := json.Unmarshal(stdout, &got); err != nil {
		t.Fatalf("peer printed %q: %v", stdout, err)
	}
	want := peerOutcome{
		UID:     65534,
		Reply:   Reply{Error: ErrNotRoot.Error()},
		Err:     "stats request to " + ts.path + ": " + ErrNotRoot.Error(),
		NotRoot: true,
		EPERM:   true,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("what the uid 65534 peer saw (-want +got):\n%s", diff)
	}
	if got := h.requests(); len(got) != 0 {
		t.Errorf("handler got %+v from the uid 65534 peer, want nothing", got)
	}

	// Root, this process, is served on the same socket.
	if _, err := Call(context.Background(), ts.path, Request{Op: OpStats}); err != nil {
		t.Errorf("Call as root: %v", err)
	}
	if diff := cmp.Diff([]Request{{Op: OpStats}}, h.requests()); diff != "" {
		t.Errorf("requests the handler got (-want +got):\n%s", diff)
	}
	ts.stop()
	if diff := cmp.Diff(ServerStats{Requests: 1, Refused: 1}, ts.srv.Stats()); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
}
