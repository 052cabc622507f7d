package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// defaultControl is where the daemon listens and every client subcommand
// dials. /run is a tmpfs that exists from the initramfs on, like udevd's
// /run/udev/control.
const defaultControl = "/run/gudevd/control"

// request is one control message. A client sends exactly one request per
// connection and reads exactly one reply: settle and load block, and a
// connection per request keeps one slow caller from holding up another.
type request struct {
	Op       string        `json:"op"`
	Modules  []string      `json:"modules,omitempty"`
	Name     string        `json:"name,omitempty"`
	Timeout  time.Duration `json:"timeout,omitempty"`
	LogLevel string        `json:"log_level,omitempty"`
}

// reply answers a request. Error is empty on success.
type reply struct {
	Error   string       `json:"error,omitempty"`
	Stats   *stats       `json:"stats,omitempty"`
	Results []loadResult `json:"results,omitempty"`
}

// loadResult is what a client learns about one module it asked for.
type loadResult struct {
	Module string `json:"module"`
	Result string `json:"result"`
	Error  string `json:"error,omitempty"`
}

// errNotRoot is returned to a peer that is not root: the control socket can
// load modules and stop the daemon.
var errNotRoot = errors.New("refuse control connection from a non-root peer")

// handler serves one decoded request; the daemon implements it.
type handler interface {
	serveControl(ctx context.Context, req request) reply
}

// controlServer accepts control connections and hands each to a handler in
// a goroutine it owns and waits for.
type controlServer struct {
	ln      *net.UnixListener
	h       handler
	log     *slog.Logger
	peerUID func(*net.UnixConn) (uint32, error)

	wg sync.WaitGroup
}

// listenControl creates the control socket with mode 0600 in a directory of
// mode 0700. A stale socket from a daemon that died is removed first: the
// path is ours, and a live daemon holding it would be a second daemon.
func listenControl(path string, h handler, log *slog.Logger) (*controlServer, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create control directory: %w", err)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("listen on %s: another daemon is running", path)
	}
	os.Remove(path)
	old := unix.Umask(0o177)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	unix.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listen on control socket: %w", err)
	}
	return &controlServer{ln: ln, h: h, log: log, peerUID: peerUID}, nil
}

// serve accepts until ctx is done, then closes the listener and waits for
// every connection it started.
func (s *controlServer) serve(ctx context.Context) {
	stop := context.AfterFunc(ctx, func() { s.ln.Close() })
	defer stop()
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("accept control connection", "err", err)
			}
			break
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(ctx, c)
		}()
	}
	s.wg.Wait()
	os.Remove(s.ln.Addr().String())
}

func (s *controlServer) handle(ctx context.Context, c *net.UnixConn) {
	defer c.Close()
	// The request is read before the credentials are judged, so a refused
	// client reads the refusal instead of a broken pipe.
	var req request
	if err := json.NewDecoder(bufio.NewReader(io.LimitReader(c, 1<<20))).Decode(&req); err != nil {
		json.NewEncoder(c).Encode(reply{Error: fmt.Sprintf("decode request: %v", err)})
		return
	}
	uid, err := s.peerUID(c)
	if err != nil || uid != 0 {
		s.log.Warn("refuse control connection", "uid", uid, "op", req.Op, "err", err)
		json.NewEncoder(c).Encode(reply{Error: errNotRoot.Error()})
		return
	}
	// A client that hangs up (settle --timeout, Ctrl-C) cancels its request.
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		var b [1]byte
		c.Read(b[:])
		cancel()
	}()
	rep := s.h.serveControl(rctx, req)
	json.NewEncoder(c).Encode(rep)
	c.SetReadDeadline(time.Now())
	<-watched
}

// peerUID reads SO_PEERCRED, which the kernel fills at connect(2): the peer
// cannot forge it.
func peerUID(c *net.UnixConn) (uint32, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if serr != nil {
		return 0, fmt.Errorf("read peer credentials: %w", serr)
	}
	return cred.Uid, nil
}

// errNoDaemon means nothing listens on the control socket.
var errNoDaemon = errors.New("no gudevd daemon is running")

// call sends one request to the daemon and waits for its reply or ctx.
func call(ctx context.Context, path string, req request) (reply, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ECONNREFUSED) {
			return reply{}, fmt.Errorf("connect to %s: %w", path, errNoDaemon)
		}
		return reply{}, fmt.Errorf("connect to %s: %w", path, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return reply{}, fmt.Errorf("send request: %w", err)
	}
	var rep reply
	if err := json.NewDecoder(c).Decode(&rep); err != nil {
		if ctx.Err() != nil {
			return reply{}, ctx.Err()
		}
		return reply{}, fmt.Errorf("read reply: %w", err)
	}
	if rep.Error != "" {
		return rep, errors.New(rep.Error)
	}
	return rep, nil
}
