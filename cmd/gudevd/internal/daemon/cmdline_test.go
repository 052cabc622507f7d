package daemon

import (
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseKnobs(t *testing.T) {
	debug, warn := slog.LevelDebug, slog.LevelWarn
	tests := []struct {
		name    string
		cmdline string
		want    Knobs
		errs    int
	}{
		{name: "empty", cmdline: ""},
		{name: "unrelated words", cmdline: "quiet root=/dev/sda1 console=ttyS0 udev.log_level=debug"},
		{
			name:    "all three",
			cmdline: "quiet gudevd.log_level=debug gudevd.children_max=8 gudevd.event_timeout=30",
			want:    Knobs{LogLevel: &debug, ChildrenMax: 8, EventTimeout: 30 * time.Second},
		},
		{
			name:    "initramfs prefix, dashes and a Go duration",
			cmdline: "rd.gudevd.log-level=warning rd.gudevd.event-timeout=2m",
			want:    Knobs{LogLevel: &warn, EventTimeout: 2 * time.Minute},
		},
		{
			name:    "syslog number",
			cmdline: "gudevd.log_level=7",
			want:    Knobs{LogLevel: &debug},
		},
		{
			name:    "bad values are reported and ignored",
			cmdline: "gudevd.children_max=0 gudevd.event_timeout=soon gudevd.log_level=loud gudevd.children_max=4",
			want:    Knobs{ChildrenMax: 4},
			errs:    3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := ParseKnobs(tt.cmdline)
			if len(errs) != tt.errs {
				t.Errorf("ParseKnobs(%q) errors = %v, want %d", tt.cmdline, errs, tt.errs)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseKnobs(%q) mismatch (-want +got):\n%s", tt.cmdline, diff)
			}
		})
	}
}
