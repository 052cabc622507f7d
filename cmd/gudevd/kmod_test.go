package main

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"
)

// TestKmodUsage: `gudevd kmod` takes only `load`, as the builtin does, and
// with no name and no MODALIAS in the environment (an event without one)
// loads nothing and succeeds. The loads themselves go through modprobe's
// path, which the QEMU full boot checks on a real kernel.
func TestKmodUsage(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		env  map[string]string
		code int
	}{
		{"no verb", []string{"gudevd", "kmod"}, nil, 2},
		{"unknown verb", []string{"gudevd", "kmod", "unload", "e1000"}, nil, 2},
		{"load without MODALIAS", []string{"gudevd", "kmod", "load"}, nil, 0},
		{"load with an empty MODALIAS", []string{"gudevd", "kmod", "load"}, map[string]string{"MODALIAS": ""}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			e := &env{stdin: &bytes.Buffer{}, stdout: &stdout, stderr: &stderr, log: slog.New(slog.DiscardHandler),
				getenv: func(k string) string { return tt.env[k] }}
			if code := run(context.Background(), tt.args, e); code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.code, stderr.String())
			}
		})
	}
}

// TestControlPingWaitsForTheDaemon: an initramfs script starts the daemon
// in the background and runs `gudevd control --ping` at once, before the
// socket exists; ping must wait for it, and give up at its timeout.
func TestControlPingWaitsForTheDaemon(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "late")
	ctl := filepath.Join(dir, "control")
	e := func() (*env, *bytes.Buffer) {
		var stderr bytes.Buffer
		return &env{stdin: &bytes.Buffer{}, stdout: &bytes.Buffer{}, stderr: &stderr, log: slog.New(slog.DiscardHandler), getenv: func(string) string { return "" }}, &stderr
	}
	e1, stderr := e()
	if code := run(context.Background(), []string{"gudevd", "control", "--ping", "--timeout", "200ms", "--control", ctl}, e1); code == 0 {
		t.Fatalf("ping with no daemon succeeded (stderr %q)", stderr.String())
	}
	time.AfterFunc(300*time.Millisecond, func() { helperDaemon(t, dir) })
	e2, stderr := e()
	if code := run(context.Background(), []string{"gudevd", "control", "--ping", "--timeout", "20s", "--control", ctl}, e2); code != 0 {
		t.Fatalf("ping exit %d once the daemon came up, stderr %q", code, stderr.String())
	}
}
