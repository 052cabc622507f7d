package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gudevd/gudevd/uevent"
)

// cmdMonitor prints uevents as they arrive, like `udevadm monitor`: the
// kernel's (KERNEL) and, unless --kernel, those a udev daemon rebroadcast
// after processing (UDEV).
func cmdMonitor(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "monitor")
	kernelOnly := fs.Bool("kernel", false, "print only the kernel's uevents")
	udevOnly := fs.Bool("udev", false, "print only the events udev daemons rebroadcast")
	props := fs.Bool("property", false, "print every property")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	groups := []uevent.Group{uevent.GroupKernel, uevent.GroupUdev}
	switch {
	case *kernelOnly:
		groups = groups[:1]
	case *udevOnly:
		groups = groups[1:]
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := &lockedWriter{w: e.stdout}
	errs := make(chan error, len(groups))
	var wg sync.WaitGroup
	for _, g := range groups {
		c, err := uevent.Listen(g, e.log)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			errs <- monitorOne(ctx, c, g, out, *props)
		}()
	}
	err := <-errs
	cancel()
	wg.Wait()
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func monitorOne(ctx context.Context, c *uevent.Conn, g uevent.Group, w io.Writer, props bool) error {
	source := "KERNEL"
	if g == uevent.GroupUdev {
		source = "UDEV  "
	}
	for {
		ev, err := c.Receive(ctx)
		if errors.Is(err, uevent.ErrOverflow) {
			fmt.Fprintf(w, "%s receive buffer overflowed: events were lost\n", source)
			continue
		}
		if err != nil {
			return err
		}
		io.WriteString(w, formatEvent(source, time.Now(), ev, props))
	}
}

// formatEvent prints an event as udevadm monitor does.
func formatEvent(source string, t time.Time, ev *uevent.Event, props bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s[%d.%06d] %-8s %s (%s)\n", source, t.Unix(), t.Nanosecond()/1000, ev.Action, ev.DevPath, ev.Subsystem)
	if props {
		for _, p := range ev.Props {
			b.WriteString(p.Key + "=" + p.Value + "\n")
		}
		b.WriteString("\n")
	}
	return b.String()
}

type lockedWriter struct {
	mu sync.Mutex // guards w
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// cmdTrigger asks the kernel to re-send uevents, as `udevadm trigger` does.
func cmdTrigger(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "trigger")
	action := fs.String("action", "add", "`ACTION` to request: add, change, remove, ...")
	sysfs := fs.String("sysfs", "/sys", "sysfs mount `DIR`")
	devicesOnly := fs.Bool("devices-only", false, "leave out the subsystem objects (udevadm trigger --type=devices)")
	var match stringList
	fs.Var(&match, "subsystem-match", "trigger only objects of subsystem `S` (repeatable, glob)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	a := uevent.Action(*action)
	if !a.Valid() {
		return fmt.Errorf("parse --action: unknown action %q", *action)
	}
	res, err := uevent.Trigger(ctx, uevent.TriggerOptions{Root: *sysfs, Action: a, SubsystemMatch: match, SkipSubsystems: *devicesOnly})
	if err != nil {
		return err
	}
	for _, f := range res.Failed {
		fmt.Fprintf(e.stderr, "gudevd trigger: %s: %v\n", f.DevPath, f.Err)
	}
	fmt.Fprintf(e.stdout, "triggered %s events with SYNTH_UUID=%s\n", strconv.Itoa(len(res.DevPaths)), res.UUID)
	return nil
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }
