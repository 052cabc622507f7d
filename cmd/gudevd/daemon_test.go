package main

import (
	"bytes"
	"errors"
	"log/slog"
	"testing"

	"github.com/gudevd/gudevd/uevent"
)

// TestParseDaemonFlagsReceiveBuffer: --receive-buffer reaches the daemon's
// Config, the default is udevd's 128 MiB, and a size that is no size is a
// usage error rather than a silent default.
func TestParseDaemonFlagsReceiveBuffer(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    int
		wantErr error
	}{
		{name: "default", want: uevent.DefaultReceiveBuffer},
		{name: "tiny", args: []string{"--receive-buffer", "4096"}, want: 4096},
		{name: "with equals", args: []string{"--receive-buffer=65536"}, want: 65536},
		{name: "zero", args: []string{"--receive-buffer=0"}, wantErr: errUsage},
		{name: "negative", args: []string{"--receive-buffer=-1"}, wantErr: errUsage},
		{name: "not a number", args: []string{"--receive-buffer=lots"}, wantErr: errUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			e := &env{stdin: &bytes.Buffer{}, stdout: &bytes.Buffer{}, stderr: &stderr, log: slog.New(slog.DiscardHandler), getenv: func(string) string { return "" }}
			f, err := parseDaemonFlags(e, tt.args)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("parseDaemonFlags(%q): err %v, want %v", tt.args, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseDaemonFlags(%q): %v\n%s", tt.args, err, stderr.String())
			}
			if f.cfg.ReceiveBuffer != tt.want {
				t.Errorf("parseDaemonFlags(%q): ReceiveBuffer %d, want %d", tt.args, f.cfg.ReceiveBuffer, tt.want)
			}
		})
	}
}

// TestParseDaemonFlagsLedger: the failed-load ledger sits beside the control
// socket, apart in an initrd (the root system's daemon must retry what the
// initrd's could not load), or where --ledger says, or nowhere.
func TestParseDaemonFlagsLedger(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		initrd bool
		want   string
	}{
		{name: "default", want: "/run/gudevd/failed"},
		{name: "initrd", initrd: true, want: "/run/gudevd/failed-initrd"},
		{name: "beside another control socket", args: []string{"--control", "/tmp/x/ctl"}, want: "/tmp/x/failed"},
		{name: "explicit", args: []string{"--ledger", "/run/other"}, initrd: true, want: "/run/other"},
		{name: "none", args: []string{"--ledger=none"}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			e := &env{stdin: &bytes.Buffer{}, stdout: &bytes.Buffer{}, stderr: &stderr, log: slog.New(slog.DiscardHandler),
				getenv: func(string) string { return "" }, initrd: func() bool { return tt.initrd }}
			f, err := parseDaemonFlags(e, tt.args)
			if err != nil {
				t.Fatalf("parseDaemonFlags(%q): %v\n%s", tt.args, err, stderr.String())
			}
			if f.cfg.Ledger != tt.want {
				t.Errorf("parseDaemonFlags(%q): Ledger %q, want %q", tt.args, f.cfg.Ledger, tt.want)
			}
		})
	}
}
