package uevent

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"
)

// Queue orders uevents the way udevd's event queue does: by SEQNUM, and an
// event may run only when no earlier event for the same device, one of its
// parents or one of its children is still queued or running
// (event_is_blocked in systemd's udevd.c). Events for unrelated devices run
// in parallel. An earlier event that is merely queued blocks too: otherwise
// a later event could overtake it.
//
// Two events concern related devices when their DEVPATHs are equal or one is
// a path prefix of the other (DEVPATH_OLD of a move counts on both sides),
// when they have the same device id (block or char major:minor, network
// ifindex, else subsystem and name) or the same DEVNAME.
//
// A Queue is safe for concurrent use. Its zero value is not usable; call
// NewQueue.
type Queue struct {
	mu      sync.Mutex         // guards the fields below
	events  []*queued          // queued and running, ascending SEQNUM
	bySeq   map[uint64]*queued // the same events by SEQNUM
	running map[*Event]*queued // events handed out by Next and not yet Done
	changed chan struct{}      // closed and replaced on every change
}

type queued struct {
	ev      *Event
	seq     uint64
	devpath string
	oldpath string // DEVPATH_OLD of a move
	id      string
	devnode string
	running bool
	// blocker caches the last dependency check, like udevd's
	// blocker_seqnum: the SEQNUM of an earlier event found to block this
	// one (all events before it were checked and do not), or seq itself
	// when nothing blocks it, or 0 when unchecked.
	blocker uint64
}

// NewQueue returns an empty queue.
func NewQueue() *Queue {
	return &Queue{
		bySeq:   make(map[uint64]*queued),
		running: make(map[*Event]*queued),
		changed: make(chan struct{}),
	}
}

// Push queues ev. Its SEQNUM must be non-zero and not already queued.
func (q *Queue) Push(ev *Event) error {
	if ev == nil || ev.Seqnum == 0 {
		return errors.New("queue uevent: no SEQNUM")
	}
	e := &queued{
		ev:      ev,
		seq:     ev.Seqnum,
		devpath: ev.DevPath,
		oldpath: ev.Get("DEVPATH_OLD"),
		id:      deviceID(ev),
		devnode: ev.Get("DEVNAME"),
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.bySeq[e.seq]; ok {
		return fmt.Errorf("queue uevent: SEQNUM %d already queued", e.seq)
	}
	i, _ := slices.BinarySearchFunc(q.events, e.seq, func(x *queued, s uint64) int {
		return cmpUint(x.seq, s)
	})
	if i < len(q.events) {
		// Out of order: the cached checks of later events did not see it.
		for _, later := range q.events[i:] {
			later.blocker = 0
		}
	}
	q.events = slices.Insert(q.events, i, e)
	q.bySeq[e.seq] = e
	q.broadcastLocked()
	return nil
}

// Next returns the runnable event with the lowest SEQNUM, waiting until there
// is one or ctx is done; with a ctx that is already done it returns a
// runnable event if there is one, without waiting. The caller must call Done
// with it when it has been handled.
func (q *Queue) Next(ctx context.Context) (*Event, error) {
	for {
		q.mu.Lock()
		ev := q.nextLocked()
		changed := q.changed
		q.mu.Unlock()
		if ev != nil {
			return ev, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for runnable uevent: %w", context.Cause(ctx))
		case <-changed:
		}
	}
}

func (q *Queue) nextLocked() *Event {
	for i, e := range q.events {
		if e.running || q.isBlockedLocked(i) {
			continue
		}
		e.running = true
		q.running[e.ev] = e
		return e.ev
	}
	return nil
}

// Done removes ev, which Next returned, from the queue, unblocking the events
// that waited for it.
func (q *Queue) Done(ev *Event) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	e, ok := q.running[ev]
	if !ok {
		return errors.New("finish uevent: not running")
	}
	delete(q.running, ev)
	delete(q.bySeq, e.seq)
	i, _ := slices.BinarySearchFunc(q.events, e.seq, func(x *queued, s uint64) int {
		return cmpUint(x.seq, s)
	})
	q.events = slices.Delete(q.events, i, i+1)
	q.broadcastLocked()
	return nil
}

// Len returns the number of events queued or running.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.events)
}

// Wait blocks until the queue is empty (every event pushed so far is Done)
// or ctx is done: what `udevadm settle` waits for.
func (q *Queue) Wait(ctx context.Context) error {
	for {
		q.mu.Lock()
		n := len(q.events)
		changed := q.changed
		q.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %d uevents: %w", n, context.Cause(ctx))
		case <-changed:
		}
	}
}

func (q *Queue) broadcastLocked() {
	close(q.changed)
	q.changed = make(chan struct{})
}

// isBlockedLocked reports whether an earlier event conflicts with
// q.events[i], resuming from the cached check where it can: events are only
// removed (or, rarely, inserted out of order, which clears the cache), so an
// earlier blocker still present still blocks, and events already found not
// to conflict need no second look.
func (q *Queue) isBlockedLocked(i int) bool {
	e := q.events[i]
	if e.blocker == e.seq {
		return false
	}
	if _, ok := q.bySeq[e.blocker]; ok && e.blocker != 0 {
		return true
	}
	start, _ := slices.BinarySearchFunc(q.events[:i], e.blocker+1, func(x *queued, s uint64) int {
		return cmpUint(x.seq, s)
	})
	for _, earlier := range q.events[start:i] {
		if conflicts(e, earlier) {
			e.blocker = earlier.seq
			return true
		}
	}
	e.blocker = e.seq
	return false
}

// conflicts reports whether the later event e must wait for the earlier one.
func conflicts(e, earlier *queued) bool {
	return devpathConflict(e.devpath, earlier.devpath) ||
		devpathConflict(e.devpath, earlier.oldpath) ||
		devpathConflict(e.oldpath, earlier.devpath) ||
		(e.id != "" && e.id == earlier.id) ||
		(e.devnode != "" && e.devnode == earlier.devnode)
}

// devpathConflict reports whether a and b are the same device or one is an
// ancestor of the other.
func devpathConflict(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	if len(a) > len(b) {
		a, b = b, a
	}
	return strings.HasPrefix(b, a) && (len(a) == len(b) || b[len(a)] == '/')
}

// deviceID names the device the way sd-device's device_get_device_id does,
// so two events for one device agree even when their paths differ (a
// renamed network interface, a moved device): "b8:0"/"c4:1" for device
// nodes, "n3" for network interfaces, "+subsystem:sysname" otherwise.
func deviceID(ev *Event) string {
	major, minor := ev.Get("MAJOR"), ev.Get("MINOR")
	if major != "" && major != "0" {
		kind := "c"
		if ev.Subsystem == "block" {
			kind = "b"
		}
		return kind + major + ":" + minor
	}
	if ifindex := ev.Get("IFINDEX"); ifindex != "" && ifindex != "0" {
		return "n" + ifindex
	}
	if ev.Subsystem == "" || ev.DevPath == "" {
		return ""
	}
	// sysfs cannot hold '/' in a name; the kernel writes '!' instead.
	sysname := strings.ReplaceAll(path.Base(ev.DevPath), "!", "/")
	if ev.Subsystem == "drivers" {
		// /bus/pci/drivers/e1000: a driver's name is unique per bus only.
		bus := path.Base(path.Dir(path.Dir(ev.DevPath)))
		return "+drivers:" + bus + ":" + sysname
	}
	return "+" + ev.Subsystem + ":" + sysname
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
