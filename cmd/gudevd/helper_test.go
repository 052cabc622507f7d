package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gudevd/gudevd/cmd/gudevd/internal/control"
	"github.com/gudevd/gudevd/cmd/gudevd/internal/daemon"
	"github.com/gudevd/gudevd/cmd/gudevd/internal/modules"
)

// recordingHandler answers every request as loaded and keeps it.
type recordingHandler struct {
	mu  sync.Mutex // guards got
	got []control.Request
}

func (h *recordingHandler) ServeControl(_ context.Context, req control.Request) control.Reply {
	h.mu.Lock()
	h.got = append(h.got, req)
	h.mu.Unlock()
	var res []modules.Result
	for _, m := range req.Modules {
		res = append(res, modules.Result{Module: m, Result: "loaded"})
	}
	return control.Reply{Results: res}
}

// helperDaemon serves a recordingHandler on dir/control until the test
// ends and returns it with the helper link a daemon makes next to its
// socket (dir/modprobe, this test binary).
func helperDaemon(t *testing.T, dir string) (*recordingHandler, string) {
	t.Helper()
	h := &recordingHandler{}
	srv, err := control.Listen(filepath.Join(dir, "control"), h, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "modprobe")
	if err := os.Symlink(exe, link); err != nil {
		t.Fatal(err)
	}
	return h, link
}

// TestKernelHelperAsksItsDaemon: the kernel runs the helper link a daemon
// made next to its control socket (--control anywhere, not only the
// default) by its full path, as `PATH -q -- NAME`; the helper must ask that
// daemon rather than fall back to a direct load without dedup.
func TestKernelHelperAsksItsDaemon(t *testing.T) {
	h, link := helperDaemon(t, filepath.Join(t.TempDir(), "elsewhere"))
	var stdout, stderr bytes.Buffer
	e := &env{stdin: &bytes.Buffer{}, stdout: &stdout, stderr: &stderr, log: slog.New(slog.DiscardHandler), getenv: func(string) string { return "" }}
	if code := run(context.Background(), []string{link, "-q", "--", "crypto-sha3-256"}, e); code != 0 {
		t.Fatalf("helper exit %d, stderr %q", code, stderr.String())
	}
	want := []control.Request{{Op: control.OpModprobe, Modules: []string{"crypto-sha3-256"}}}
	if diff := cmp.Diff(want, h.got); diff != "" {
		t.Errorf("requests the daemon next to the helper got (-want +got):\n%s", diff)
	}
}

// TestPlainModprobeIsNotTheKernel: gudevd run by another name, or as a
// modprobe that is not a daemon's link (a copy installed as /sbin/modprobe,
// udevd's rules running `gudevd kmod load`), is not the kernel's helper:
// its loads must wait for a load slot like uevents' do, where the kernel's
// request does not (modules.KernelRequest).
func TestPlainModprobeIsNotTheKernel(t *testing.T) {
	dir := t.TempDir()
	_, link := helperDaemon(t, dir)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	copied := filepath.Join(t.TempDir(), "modprobe")
	if err := os.Link(exe, copied); err != nil {
		if b, rerr := os.ReadFile(exe); rerr != nil || os.WriteFile(copied, b, 0o755) != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		argv0 string
		want  bool
	}{
		{link, true},
		{copied, false},
		{"modprobe", false},
		{"/usr/sbin/gudevd", false},
	} {
		if got := daemon.IsKernelHelper(tt.argv0); got != tt.want {
			t.Errorf("IsKernelHelper(%q) = %v, want %v", tt.argv0, got, tt.want)
		}
	}
}
