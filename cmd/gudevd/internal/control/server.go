package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ErrNotRoot is returned to a peer that is not root: the control socket can
// load modules and stop the daemon. It matches EPERM.
var ErrNotRoot error = notRoot{}

type notRoot struct{}

func (notRoot) Error() string        { return "refuse control connection from a non-root peer" }
func (notRoot) Is(target error) bool { return target == unix.EPERM }

// Handler serves one decoded and validated request; the daemon implements
// it. ctx ends when the client hangs up or the server stops.
type Handler interface {
	ServeControl(ctx context.Context, req Request) Reply
}

// maxRequest bounds what the server reads of one request. The largest real
// request, a load of a few hundred module names, is a few KiB.
const maxRequest = 1 << 20

// A client writes its whole request right after connect(2), so the read
// timeout only ends connections that would never send one. The write
// timeout bounds the reply to a client that does not read it, so that
// stopping the server never waits on a client.
const (
	defaultReadTimeout  = 10 * time.Second
	defaultWriteTimeout = 10 * time.Second
)

var (
	// errEmpty is a connection closed before it sent a byte.
	errEmpty = errors.New("connection closed before a request")
	// errClientGone is the cause of a request's ctx ending because its
	// client hung up.
	errClientGone = errors.New("control client hung up")
)

// Server accepts control connections and hands each to a Handler in a
// goroutine it owns and waits for.
type Server struct {
	ln  net.Listener
	h   Handler
	log *slog.Logger

	// readTimeout bounds reading a request, writeTimeout writing a reply;
	// Listen sets the defaults, and tests shorten them.
	readTimeout, writeTimeout time.Duration

	// The counters of ServerStats.
	open                                            atomic.Int64
	requests, clientGone, refused, malformed, empty atomic.Uint64

	wg sync.WaitGroup
}

// Listen creates the control socket at path with mode 0600 and returns the
// Server for it.
//
// connect(2) on a Unix socket needs write permission on the socket's file,
// so its mode 0600 is what keeps a non-root process away from the server;
// the SO_PEERCRED check in the server is the second line. The mode is set
// with fchmod(2) on the socket before bind(2): Linux creates the file with
// the socket inode's mode less the umask, so there is no moment in which
// the file is more open than 0600, whatever the process umask (a daemon
// started with umask 0 would otherwise make it srwxrwxrwx). The umask is
// process-wide state, and setting it around bind(2) would race with every
// other goroutine that creates a file, so Listen leaves it alone.
//
// A missing directory is created with mode 0700. An existing one keeps its
// mode: the path may be in a shared directory (--control /tmp/...), which
// a chmod would break, and the socket's own mode is the protection that
// counts; udevd's /run/udev is 0755 itself. The directory is refused when
// a user other than root or this process's could replace the socket in it
// with one of their own, which every root client would then talk to: when
// another user owns it, or when group or others may write it and it lacks
// the sticky bit.
//
// A stale socket from a daemon that died is removed first: the path is
// ours. A daemon that answers there is a second daemon, and Listen fails
// with an error matching EADDRINUSE; a file there that is not a socket is
// left alone and refused.
func Listen(path string, h Handler, log *slog.Logger) (*Server, error) {
	ln, err := listenSocket("unix", path, false)
	if err != nil {
		return nil, err
	}
	return &Server{
		ln:           ln,
		h:            h,
		log:          log,
		readTimeout:  defaultReadTimeout,
		writeTimeout: defaultWriteTimeout,
	}, nil
}

// listenSocket is Listen's and ListenUdev's socket: the directory
// checked, a stale socket removed, mode 0600 set before bind(2) and
// checked after it. passCred sets SO_PASSCRED on the listener, which every
// accepted socket inherits.
func listenSocket(network, path string, passCred bool) (net.Listener, error) {
	if err := controlDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	if err := clearPath(network, path); err != nil {
		return nil, err
	}
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var err error
		if cerr := rc.Control(func(fd uintptr) {
			if err = unix.Fchmod(int(fd), 0o600); err != nil {
				err = fmt.Errorf("set control socket mode: %w", err)
			} else if passCred {
				err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1)
			}
		}); cerr != nil {
			return cerr
		}
		return err
	}}
	ln, err := lc.Listen(context.Background(), network, path)
	if err != nil {
		return nil, fmt.Errorf("listen on control socket: %w", err)
	}
	// Check what bind(2) made rather than trust it: a socket any user can
	// connect to must not be served.
	fi, err := os.Lstat(path)
	if err == nil && (fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm()&0o077 != 0) {
		err = fmt.Errorf("mode is %v, want Srw-------", fi.Mode())
	}
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("create control socket %s: %w", path, err)
	}
	return ln, nil
}

// controlDir makes sure dir exists and that only root or this process's
// user can put a file in it.
func controlDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create control directory: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return fmt.Errorf("check control directory: %w", err)
	}
	if st.Uid != 0 && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("control directory %s is owned by uid %d, who could replace the socket", dir, st.Uid)
	}
	if st.Mode&0o022 != 0 && st.Mode&unix.S_ISVTX == 0 {
		return fmt.Errorf("control directory %s has mode %#o: group or others could replace the socket", dir, st.Mode&0o7777)
	}
	return nil
}

// clearPath makes path free for bind(2) of a socket of network ("unix",
// "unixpacket"), removing a stale socket, or says why it cannot.
func clearPath(network, path string) error {
	d := net.Dialer{Timeout: time.Second}
	c, err := d.Dial(network, path)
	switch {
	case err == nil:
		c.Close()
		return fmt.Errorf("listen on %s: another daemon is running: %w", path, unix.EADDRINUSE)
	case errors.Is(err, unix.ENOENT):
		return nil
	case !errors.Is(err, unix.ECONNREFUSED):
		// EAGAIN, for one, is a live daemon whose backlog is full.
		return fmt.Errorf("probe control socket: %w", err)
	}
	// Nothing listens: a stale socket, or a file that is no socket, which
	// connect(2) refuses the same way.
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check control socket path: %w", err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("listen on %s: exists and is not a socket (%v)", path, fi.Mode())
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove stale control socket: %w", err)
	}
	return nil
}

// Serve accepts until ctx is done, then closes the listener, which removes
// the socket, and waits for every connection it started. A request being
// served sees its ctx end and its reply is still written; a request still
// being read is cut short.
func (s *Server) Serve(ctx context.Context) {
	stop := context.AfterFunc(ctx, func() { s.ln.Close() })
	defer stop()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("accept control connection", "err", err)
			}
			break
		}
		s.open.Add(1)
		s.wg.Go(func() {
			defer s.open.Add(-1)
			s.handle(ctx, c)
		})
	}
	s.ln.Close()
	s.wg.Wait()
}

// Stats returns the server's counters.
func (s *Server) Stats() ServerStats {
	return ServerStats{
		Open:       s.open.Load(),
		Requests:   s.requests.Load(),
		ClientGone: s.clientGone.Load(),
		Refused:    s.refused.Load(),
		Malformed:  s.malformed.Load(),
		Empty:      s.empty.Load(),
	}
}

func (s *Server) handle(ctx context.Context, c net.Conn) {
	defer c.Close()
	uid, credErr := peerUID(c)
	// The request is read before the credentials are judged, so a refused
	// client reads the refusal: Linux resets (ECONNRESET) the peer of a
	// Unix stream socket closed with data unread. Stopping the server ends
	// a read under way: the deadline is set first, so the AfterFunc's
	// deadline cannot be overwritten by it.
	c.SetReadDeadline(time.Now().Add(s.readTimeout))
	stopRead := context.AfterFunc(ctx, func() { c.SetReadDeadline(time.Now()) })
	req, err := readRequest(c)
	stopRead()
	if err == nil {
		if verr := req.validate(); verr != nil {
			err = fmt.Errorf("malformed control request: %w", verr)
		}
	}
	switch {
	case credErr != nil || uid != 0:
		s.refused.Add(1)
		s.log.Warn("refuse control connection", "uid", uid, "op", req.Op, "err", credErr)
		s.reply(c, Reply{Error: ErrNotRoot.Error()})
	case errors.Is(err, errEmpty):
		// A probe, or a client that died between connect and write. A
		// peer that only shut down its writing side still reads this.
		s.empty.Add(1)
		s.reply(c, Reply{Error: err.Error()})
	case err != nil && ctx.Err() != nil:
		s.reply(c, Reply{Error: "control server is stopping"})
	case err != nil:
		s.malformed.Add(1)
		s.log.Warn("malformed control request", "err", err)
		s.reply(c, Reply{Error: err.Error()})
	default:
		s.requests.Add(1)
		s.serve(ctx, c, req)
	}
}

// serve hands req to the Handler with a ctx that also ends when the client
// hangs up (settle --timeout, Ctrl-C), and writes its reply.
func (s *Server) serve(ctx context.Context, c net.Conn, req Request) {
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// A client sends nothing after its request, so this read returns only
	// when the client hangs up (end of file, or ECONNRESET if it left data
	// unread), when it breaks the protocol by sending more, which is taken
	// the same way, or at the deadline set once the reply is written.
	c.SetReadDeadline(time.Time{})
	var watch sync.WaitGroup
	watch.Go(func() {
		var b [1]byte
		if _, err := c.Read(b[:]); !errors.Is(err, os.ErrDeadlineExceeded) {
			cancel(errClientGone)
		}
	})
	rep := s.h.ServeControl(rctx, req)
	if errors.Is(context.Cause(rctx), errClientGone) {
		s.clientGone.Add(1)
	}
	s.reply(c, rep)
	c.SetReadDeadline(time.Now())
	watch.Wait()
}

// reply writes rep as one line of JSON. A peer that is gone fails the write
// with EPIPE (Go ignores SIGPIPE on sockets), which is only logged.
func (s *Server) reply(c net.Conn, rep Reply) {
	b, err := json.Marshal(rep)
	if err != nil {
		b, _ = json.Marshal(Reply{Error: fmt.Sprintf("encode control reply: %v", err)})
	}
	c.SetWriteDeadline(time.Now().Add(s.writeTimeout))
	if _, err := c.Write(append(b, '\n')); err != nil {
		s.log.Debug("write control reply", "err", err)
	}
}

// readRequest decodes the one request of a connection: a JSON object of
// Request's fields only, within maxRequest bytes, followed by nothing but
// white space. A request without modules decodes with nil Modules, so that
// a request has one form. Every error says what was wrong, for the reply.
func readRequest(r io.Reader) (Request, error) {
	rr := &requestReader{r: r}
	dec := json.NewDecoder(rr)
	dec.DisallowUnknownFields()
	var req Request
	err := dec.Decode(&req)
	switch {
	case rr.n > maxRequest:
		return Request{}, fmt.Errorf("malformed control request: larger than %d bytes", maxRequest)
	case errors.Is(rr.err, os.ErrDeadlineExceeded):
		return Request{}, fmt.Errorf("read control request: no full request in time: %w", rr.err)
	case rr.err != nil:
		return Request{}, fmt.Errorf("read control request: %w", rr.err)
	case err == io.EOF && rr.n == 0:
		return Request{}, errEmpty
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return Request{}, errors.New("malformed control request: connection closed before a full request")
	case err != nil:
		return Request{}, fmt.Errorf("malformed control request: %w", err)
	}
	// The decoder may have read past the value. What it read must be white
	// space; what arrives later is the hang-up watcher's (see serve).
	rest, _ := io.ReadAll(dec.Buffered())
	if strings.Trim(string(rest), " \t\r\n") != "" {
		return Request{}, errors.New("malformed control request: data after the request")
	}
	if len(req.Modules) == 0 {
		req.Modules = nil
	}
	return req, nil
}

// requestReader reads at most maxRequest+1 bytes, so that readRequest can
// tell a request that is too large, and keeps the connection's error apart
// from the decoder's.
type requestReader struct {
	r   io.Reader
	n   int64
	err error
}

func (r *requestReader) Read(p []byte) (int, error) {
	if left := maxRequest + 1 - r.n; left <= 0 {
		return 0, io.EOF
	} else if int64(len(p)) > left {
		p = p[:left]
	}
	n, err := r.r.Read(p)
	r.n += int64(n)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

// peerUID reads SO_PEERCRED, which the kernel fills at connect(2) with the
// connecting process's credentials: the peer cannot forge it.
func peerUID(c net.Conn) (uint32, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return 0, fmt.Errorf("read peer credentials: %T has no file descriptor", c)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("read peer credentials: %w", err)
	}
	var cred *unix.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, fmt.Errorf("read peer credentials: %w", err)
	}
	if serr != nil {
		return 0, fmt.Errorf("read peer credentials: %w", serr)
	}
	return cred.Uid, nil
}
