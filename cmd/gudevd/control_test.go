package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

type fakeHandler struct {
	mu   sync.Mutex // guards got
	got  []request
	slow chan struct{}
}

func (h *fakeHandler) serveControl(ctx context.Context, req request) reply {
	h.mu.Lock()
	h.got = append(h.got, req)
	h.mu.Unlock()
	if req.Op == "block" {
		select {
		case <-h.slow:
		case <-ctx.Done():
			return reply{Error: "cancelled"}
		}
	}
	return reply{Results: []loadResult{{Module: req.Name, Result: "loaded"}}}
}

func startControl(t *testing.T, uid uint32) (string, *fakeHandler) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "control")
	h := &fakeHandler{slow: make(chan struct{})}
	srv, err := listenControl(path, h, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv.peerUID = func(*net.UnixConn) (uint32, error) { return uid, nil }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); srv.serve(ctx) }()
	t.Cleanup(func() { close(h.slow); cancel(); <-done })
	return path, h
}

func TestControlRoundTrip(t *testing.T) {
	path, h := startControl(t, 0)
	rep, err := call(context.Background(), path, request{Op: "load", Name: "e1000"})
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	if len(rep.Results) != 1 || rep.Results[0].Module != "e1000" {
		t.Errorf("reply = %+v, want one result for e1000", rep)
	}
	if len(h.got) != 1 || h.got[0].Op != "load" {
		t.Errorf("handler got %+v, want one load request", h.got)
	}
}

func TestControlRefusesNonRoot(t *testing.T) {
	path, h := startControl(t, 1000)
	_, err := call(context.Background(), path, request{Op: "exit"})
	if err == nil || err.Error() != errNotRoot.Error() {
		t.Fatalf("call as uid 1000: err = %v, want %v", err, errNotRoot)
	}
	if len(h.got) != 0 {
		t.Errorf("handler got %+v from a non-root peer, want nothing", h.got)
	}
}

func TestControlClientGoneCancelsRequest(t *testing.T) {
	path, _ := startControl(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := call(ctx, path, request{Op: "block"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("call with a deadline on a blocking request: err = %v, want deadline exceeded", err)
	}
}

func TestCallWithoutDaemon(t *testing.T) {
	_, err := call(context.Background(), filepath.Join(t.TempDir(), "nothing"), request{Op: "settle"})
	if !errors.Is(err, errNoDaemon) {
		t.Fatalf("call to a missing socket: err = %v, want errNoDaemon", err)
	}
}

func TestListenControlRefusesSecondDaemon(t *testing.T) {
	path, _ := startControl(t, 0)
	if _, err := listenControl(path, &fakeHandler{}, slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("second listenControl on a live socket succeeded, want an error")
	}
}
