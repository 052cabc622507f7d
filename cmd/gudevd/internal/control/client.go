package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// ErrNoDaemon means nothing listens on the control socket. It matches
// ECONNREFUSED.
var ErrNoDaemon error = noDaemon{}

type noDaemon struct{}

func (noDaemon) Error() string        { return "no gudevd daemon is running" }
func (noDaemon) Is(target error) bool { return target == unix.ECONNREFUSED }

// Call sends one request to the daemon listening on path and waits for its
// reply or for ctx. A reply carrying an error returns it as the error too,
// with the reply; a refusal matches ErrNotRoot. Ending ctx closes the
// connection, which the server takes as the client hanging up: it cancels
// the request.
func Call(ctx context.Context, path string, req Request) (Reply, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ECONNREFUSED) {
			return Reply{}, fmt.Errorf("connect to %s: %w", path, ErrNoDaemon)
		}
		return Reply{}, fmt.Errorf("connect to %s: %w", path, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return Reply{}, fmt.Errorf("send %s request: %w", req.Op, err)
	}
	var rep Reply
	if err := json.NewDecoder(c).Decode(&rep); err != nil {
		if ctx.Err() != nil {
			return Reply{}, fmt.Errorf("wait for %s reply: %w", req.Op, ctx.Err())
		}
		return Reply{}, fmt.Errorf("read %s reply: %w", req.Op, err)
	}
	switch rep.Error {
	case "":
	case ErrNotRoot.Error():
		// The server's refusal crosses the wire as its text; give it back
		// its sentinel, so a caller can tell it with errors.Is (EPERM).
		return rep, fmt.Errorf("%s request to %s: %w", req.Op, path, ErrNotRoot)
	default:
		return rep, errors.New(rep.Error)
	}
	return rep, nil
}
