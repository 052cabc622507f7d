package daemon

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Knobs are the daemon settings the kernel command line may set, as udevd
// takes udev.log_level=, udev.children_max= and udev.event_timeout=. A zero
// field means the command line did not set it.
type Knobs struct {
	LogLevel     *slog.Level
	ChildrenMax  int
	EventTimeout time.Duration
}

// ParseKnobs reads gudevd.* (and rd.gudevd.*, which an initramfs uses) words
// from a kernel command line. A malformed value is reported and ignored: a
// typo at the boot prompt must not stop the machine from booting.
func ParseKnobs(cmdline string) (Knobs, []error) {
	var k Knobs
	var errs []error
	for _, word := range strings.Fields(cmdline) {
		key, val, ok := strings.Cut(word, "=")
		if !ok {
			continue
		}
		key = strings.TrimPrefix(key, "rd.")
		key = strings.ReplaceAll(key, "-", "_")
		if err := k.set(key, strings.Trim(val, `"`)); err != nil {
			errs = append(errs, fmt.Errorf("parse kernel command line %q: %w", word, err))
		}
	}
	return k, errs
}

func (k *Knobs) set(key, val string) error {
	switch key {
	case "gudevd.log_level":
		l, err := ParseLevel(val)
		if err != nil {
			return err
		}
		k.LogLevel = &l
	case "gudevd.children_max":
		n, err := strconv.Atoi(val)
		if err != nil || n < 1 {
			return fmt.Errorf("want a positive number, got %q", val)
		}
		k.ChildrenMax = n
	case "gudevd.event_timeout":
		d, err := parseSeconds(val)
		if err != nil {
			return err
		}
		k.EventTimeout = d
	}
	return nil
}

// parseSeconds takes udev's plain seconds ("180") or a Go duration ("3m").
func parseSeconds(s string) (time.Duration, error) {
	if n, err := strconv.Atoi(s); err == nil && n > 0 {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("want seconds or a duration, got %q", s)
	}
	return d, nil
}

// ParseLevel reads a log level as udev spells it (syslog's names and
// numbers: debug, info, notice, warning, err, 0-7) or as slog does.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(syslogToSlog(s))); err != nil {
		return 0, fmt.Errorf("parse log level: %w", err)
	}
	return l, nil
}

// syslogToSlog maps udev's syslog level names and numbers onto slog's.
func syslogToSlog(s string) string {
	switch strings.ToLower(s) {
	case "debug", "7":
		return "DEBUG"
	case "info", "6", "notice", "5":
		return "INFO"
	case "warning", "warn", "4":
		return "WARN"
	case "err", "error", "3", "crit", "2", "alert", "1", "emerg", "0":
		return "ERROR"
	}
	return s
}
