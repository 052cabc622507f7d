package daemon

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"syscall"
)

// queueFile is udevd's /run/udev/queue: it exists while there is work, and
// `udevadm settle` (after its ping) waits for it to be removed. udevd keeps
// it while events are queued or running; here an event does not wait for
// its module loads (requestModalias), so it also stays while module work
// runs outside the queue, and settle still means "modules loaded", as it
// does with udevd, whose kmod builtin loads within the event.
type queueFile struct {
	path string
	log  *slog.Logger

	mu     sync.Mutex // serializes creating and removing; guards exists
	exists bool
}

// set makes the file exist or not. Callers read the state they pass under
// no lock of queueFile's, so they call sync instead, which reads it under
// mu: the last caller always leaves the file as the state is now.
func (q *queueFile) set(busy bool) {
	if busy == q.exists {
		return
	}
	if busy {
		f, err := os.OpenFile(q.path, os.O_WRONLY|os.O_CREATE|syscall.O_CLOEXEC, 0o644)
		if err != nil {
			q.log.Warn("create udev queue file", "path", q.path, "err", err)
			return
		}
		f.Close()
	} else if err := os.Remove(q.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		q.log.Warn("remove udev queue file", "path", q.path, "err", err)
		return
	}
	q.exists = busy
}

// syncQueueFile brings /run/udev/queue in line with the daemon's work:
// queued or running events, or module work outside the queue.
func (d *Daemon) syncQueueFile() {
	if d.udev == nil || d.udev.queue == nil {
		return
	}
	q := d.udev.queue
	q.mu.Lock()
	defer q.mu.Unlock()
	d.mu.Lock()
	busy := d.busy > 0
	d.mu.Unlock()
	q.set(busy || d.queue.Len() > 0)
}

// removeQueueFile removes it at exit: the events left queued are the next
// daemon's (udevd's event_queue_cleanup on exit, then the file goes).
func (d *Daemon) removeQueueFile() {
	if d.udev == nil || d.udev.queue == nil {
		return
	}
	q := d.udev.queue
	q.mu.Lock()
	defer q.mu.Unlock()
	q.exists = true
	q.set(false)
}

// slots bounds the event handlers that run at once, as children_max
// does in udevd; `udevadm control --children-max` changes the bound
// while events run (a lower one lets the handlers above it finish), and
// stop-exec-queue holds every new event until start-exec-queue.
type slots struct {
	mu      sync.Mutex
	max     int
	running int
	stopped bool
	changed chan struct{} // closed and replaced when any field changes
}

func newSlots(max int) *slots {
	return &slots{max: max, changed: make(chan struct{})}
}

func (s *slots) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// acquire waits for a free slot with the exec queue running.
func (s *slots) acquire(ctx context.Context) error {
	for {
		s.mu.Lock()
		if !s.stopped && s.running < s.max {
			s.running++
			s.mu.Unlock()
			return nil
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// waitStarted waits while the exec queue is stopped.
func (s *slots) waitStarted(ctx context.Context) error {
	for {
		s.mu.Lock()
		stopped, ch := s.stopped, s.changed
		s.mu.Unlock()
		if !stopped {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (s *slots) release() {
	s.mu.Lock()
	s.running--
	s.notifyLocked()
	s.mu.Unlock()
}

// setMax is SET_CHILDREN_MAX; udevd takes 0 as "keep the current one".
func (s *slots) setMax(n int) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	s.max = n
	s.notifyLocked()
	s.mu.Unlock()
}

// setStopped is STOP_EXEC_QUEUE (true) and START_EXEC_QUEUE (false):
// events stay queued, and running ones finish.
func (s *slots) setStopped(stop bool) {
	s.mu.Lock()
	s.stopped = stop
	s.notifyLocked()
	s.mu.Unlock()
}
