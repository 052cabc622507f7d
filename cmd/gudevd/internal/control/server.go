package control

import (
	"bufio"
	"context"
	"encoding/json"
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

// ErrNotRoot is returned to a peer that is not root: the control socket can
// load modules and stop the daemon. It matches EPERM.
var ErrNotRoot error = notRoot{}

type notRoot struct{}

func (notRoot) Error() string        { return "refuse control connection from a non-root peer" }
func (notRoot) Is(target error) bool { return target == unix.EPERM }

// Handler serves one decoded request; the daemon implements it. ctx ends
// when the client hangs up or the server stops.
type Handler interface {
	ServeControl(ctx context.Context, req Request) Reply
}

// Server accepts control connections and hands each to a Handler in a
// goroutine it owns and waits for.
type Server struct {
	ln  *net.UnixListener
	h   Handler
	log *slog.Logger

	wg sync.WaitGroup
}

// Listen creates the control socket with mode 0600 in a directory of
// mode 0700. A stale socket from a daemon that died is removed first: the
// path is ours, and a live daemon holding it would be a second daemon.
func Listen(path string, h Handler, log *slog.Logger) (*Server, error) {
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
	return &Server{ln: ln, h: h, log: log}, nil
}

// Serve accepts until ctx is done, then closes the listener and waits for
// every connection it started.
func (s *Server) Serve(ctx context.Context) {
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

func (s *Server) handle(ctx context.Context, c *net.UnixConn) {
	defer c.Close()
	// The request is read before the credentials are judged, so a refused
	// client reads the refusal instead of a broken pipe.
	var req Request
	if err := json.NewDecoder(bufio.NewReader(io.LimitReader(c, 1<<20))).Decode(&req); err != nil {
		json.NewEncoder(c).Encode(Reply{Error: fmt.Sprintf("decode request: %v", err)})
		return
	}
	uid, err := peerUID(c)
	if err != nil || uid != 0 {
		s.log.Warn("refuse control connection", "uid", uid, "op", req.Op, "err", err)
		json.NewEncoder(c).Encode(Reply{Error: ErrNotRoot.Error()})
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
	rep := s.h.ServeControl(rctx, req)
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
