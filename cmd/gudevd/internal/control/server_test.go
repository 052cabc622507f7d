package control

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gudevd/gudevd/cmd/gudevd/internal/modules"
)

type fakeHandler struct {
	mu   sync.Mutex // guards got
	got  []Request
	slow chan struct{}
}

func (h *fakeHandler) ServeControl(ctx context.Context, req Request) Reply {
	h.mu.Lock()
	h.got = append(h.got, req)
	h.mu.Unlock()
	if req.Op == "block" {
		select {
		case <-h.slow:
		case <-ctx.Done():
			return Reply{Error: "cancelled"}
		}
	}
	var res []modules.Result
	for _, m := range req.Modules {
		res = append(res, modules.Result{Module: m, Result: "loaded"})
	}
	return Reply{Results: res}
}

func startControl(t *testing.T, uid uint32) (string, *fakeHandler) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "control")
	h := &fakeHandler{slow: make(chan struct{})}
	srv, err := Listen(path, h, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ctx) }()
	t.Cleanup(func() { close(h.slow); cancel(); <-done })
	return path, h
}

func TestControlRoundTrip(t *testing.T) {
	path, h := startControl(t, 0)
	rep, err := Call(context.Background(), path, Request{Op: OpLoad, Modules: []string{"e1000"}})
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	if len(rep.Results) != 1 || rep.Results[0].Module != "e1000" {
		t.Errorf("reply = %+v, want one result for e1000", rep)
	}
	if len(h.got) != 1 || h.got[0].Op != OpLoad {
		t.Errorf("handler got %+v, want one load request", h.got)
	}
}

func TestControlClientGoneCancelsRequest(t *testing.T) {
	path, _ := startControl(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := Call(ctx, path, Request{Op: "block"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("call with a deadline on a blocking request: err = %v, want deadline exceeded", err)
	}
}

func TestCallWithoutDaemon(t *testing.T) {
	_, err := Call(context.Background(), filepath.Join(t.TempDir(), "nothing"), Request{Op: OpSettle})
	if !errors.Is(err, ErrNoDaemon) {
		t.Fatalf("call to a missing socket: err = %v, want ErrNoDaemon", err)
	}
}

func TestListenControlRefusesSecondDaemon(t *testing.T) {
	path, _ := startControl(t, 0)
	if _, err := Listen(path, &fakeHandler{}, slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("second listenControl on a live socket succeeded, want an error")
	}
}
