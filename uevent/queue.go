package uevent

import (
	"cmp"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"iter"
	"path"
	"slices"
	"strings"
	"sync"
)

// Queue orders uevents the way udevd's event queue does: by SEQNUM, and an
// event may run only when no earlier event for the same device, one of its
// parents or one of its children is still queued or running
// (event_is_blocked in systemd's src/udev/udevd.c). Events for unrelated
// devices run in parallel. An earlier event that is merely queued blocks
// too: otherwise a later event could overtake it.
//
// Two events concern related devices when their DEVPATHs are equal or one is
// a path prefix of the other (DEVPATH_OLD of a move counts on both sides),
// when they have the same device id (block or char major:minor, network
// ifindex, else subsystem and name) or the same DEVNAME.
//
// udevd's event_is_blocked walks the event list from its head for every
// queued event, comparing it with each earlier one (blocker_seqnum only
// skips the part checked before), which costs a coldplug of n events O(n²)
// comparisons. The Queue instead indexes the present events by each of
// those keys, so that finding an earlier related event costs a few map
// lookups per component of the DEVPATH, and keeps the events nothing blocks
// in a heap: a blocked event waits on one event that blocks it and is
// checked again only when that one is Done.
//
// A Queue is safe for concurrent use. Its zero value is not usable; call
// NewQueue.
type Queue struct {
	mu       sync.Mutex         // guards the fields below
	bySeq    map[uint64]*queued // queued and running events by SEQNUM
	running  map[*Event]*queued // events handed out by Next and not yet Done
	ready    readyHeap          // queued events that nothing blocks
	devpaths pathIndex          // queued and running events by DEVPATH
	oldpaths pathIndex          // queued and running moves by DEVPATH_OLD
	ids      keyIndex           // queued and running events by device id
	devnodes keyIndex           // queued and running events by DEVNAME
	maxSeq   uint64             // the highest SEQNUM pushed so far
	changed  chan struct{}      // closed on the next change; nil until someone waits
}

// queued is one event in the Queue. Every queued, not running, event is
// either in Queue.ready, when no earlier present event conflicts with it, or
// in the waiters of exactly one earlier present event that does.
type queued struct {
	ev      *Event
	seq     uint64
	devpath string
	oldpath string // DEVPATH_OLD of a move
	id      string
	devnode string
	gone    bool      // Done: no longer blocks anything; the indexes drop it lazily
	readyAt int       // position in Queue.ready, or -1
	waiters []*queued // events whose last check found this one blocking them
}

// NewQueue returns an empty queue.
func NewQueue() *Queue {
	return &Queue{
		bySeq:    make(map[uint64]*queued),
		running:  make(map[*Event]*queued),
		devpaths: make(pathIndex),
		oldpaths: make(pathIndex),
		ids:      make(keyIndex),
		devnodes: make(keyIndex),
	}
}

func newQueued(ev *Event) *queued {
	return &queued{
		ev:      ev,
		seq:     ev.Seqnum,
		devpath: ev.DevPath,
		oldpath: ev.Get("DEVPATH_OLD"),
		id:      deviceID(ev),
		devnode: ev.Get("DEVNAME"),
		readyAt: -1,
	}
}

// Push queues ev. Its SEQNUM must be non-zero and not already queued.
func (q *Queue) Push(ev *Event) error {
	if ev == nil || ev.Seqnum == 0 {
		return errors.New("queue uevent: no SEQNUM")
	}
	e := newQueued(ev)
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.bySeq[e.seq]; ok {
		return fmt.Errorf("queue uevent: SEQNUM %d already queued", e.seq)
	}
	q.bySeq[e.seq] = e
	q.indexLocked(e)
	if e.seq < q.maxSeq {
		q.overtakeLocked(e)
	}
	q.maxSeq = max(q.maxSeq, e.seq)
	q.scheduleLocked(e)
	q.broadcastLocked()
	return nil
}

// overtakeLocked makes the ready events after e that conflict with it wait
// for it. e arrived out of SEQNUM order, so they were checked without it;
// events already blocked stay blocked, and running ones have started. This
// walks every ready event, which is fine for the rare late arrival.
func (q *Queue) overtakeLocked(e *queued) {
	var blocked []*queued
	for _, r := range q.ready {
		if r.seq > e.seq && conflicts(r, e) {
			blocked = append(blocked, r)
		}
	}
	for _, r := range blocked {
		heap.Remove(&q.ready, r.readyAt)
		e.waiters = append(e.waiters, r)
	}
}

// scheduleLocked puts the queued event e where it belongs: waiting on an
// earlier present event it conflicts with, or ready.
func (q *Queue) scheduleLocked(e *queued) {
	if b := q.blockerLocked(e); b != nil {
		b.waiters = append(b.waiters, e)
		return
	}
	heap.Push(&q.ready, e)
}

// Next returns the runnable event with the lowest SEQNUM, waiting until there
// is one or ctx is done; with a ctx that is already done it returns a
// runnable event if there is one, without waiting. The caller must call Done
// with it when it has been handled.
func (q *Queue) Next(ctx context.Context) (*Event, error) {
	for {
		q.mu.Lock()
		ev := q.nextLocked()
		var changed <-chan struct{}
		if ev == nil {
			changed = q.changedLocked()
		}
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
	if q.ready.Len() == 0 {
		return nil
	}
	e := heap.Pop(&q.ready).(*queued)
	q.running[e.ev] = e
	return e.ev
}

// Done removes ev, which Next returned, from the queue, and checks the
// events that waited for it again.
func (q *Queue) Done(ev *Event) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	e, ok := q.running[ev]
	if !ok {
		return errors.New("finish uevent: not running")
	}
	delete(q.running, ev)
	delete(q.bySeq, e.seq)
	q.unindexLocked(e)
	waiters := e.waiters
	e.waiters = nil
	for _, w := range waiters {
		q.scheduleLocked(w)
	}
	q.broadcastLocked()
	return nil
}

// Len returns the number of events queued or running.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.bySeq)
}

// Wait blocks until the queue is empty (every event pushed so far is Done)
// or ctx is done: what `udevadm settle` waits for.
func (q *Queue) Wait(ctx context.Context) error {
	for {
		q.mu.Lock()
		n := len(q.bySeq)
		var changed <-chan struct{}
		if n > 0 {
			changed = q.changedLocked()
		}
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

// changedLocked returns a channel closed on the queue's next change.
func (q *Queue) changedLocked() <-chan struct{} {
	if q.changed == nil {
		q.changed = make(chan struct{})
	}
	return q.changed
}

// broadcastLocked wakes the waiters; with none, a storm of pushes and Dones
// makes no channels.
func (q *Queue) broadcastLocked() {
	if q.changed != nil {
		close(q.changed)
		q.changed = nil
	}
}

func (q *Queue) indexLocked(e *queued) {
	q.devpaths.add(e.devpath, e)
	q.oldpaths.add(e.oldpath, e)
	q.ids.add(e.id, e)
	q.devnodes.add(e.devnode, e)
}

func (q *Queue) unindexLocked(e *queued) {
	e.gone = true
	q.devpaths.remove(e.devpath)
	q.oldpaths.remove(e.oldpath)
	q.ids.remove(e.id)
	q.devnodes.remove(e.devnode)
}

// blockerLocked returns an earlier present event that e conflicts with, or
// nil: conflicts(e, earlier), asked of the indexes instead of each earlier
// event. As in event_is_blocked, DEVPATH_OLD is compared with the other
// event's DEVPATH, never with its DEVPATH_OLD.
func (q *Queue) blockerLocked(e *queued) *queued {
	if b := q.devpaths.related(e.devpath, e.seq); b != nil {
		return b
	}
	if b := q.oldpaths.related(e.devpath, e.seq); b != nil {
		return b
	}
	if b := q.devpaths.related(e.oldpath, e.seq); b != nil {
		return b
	}
	if b := q.ids.before(e.id, e.seq); b != nil {
		return b
	}
	return q.devnodes.before(e.devnode, e.seq)
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

// A pathIndex finds the events whose path conflicts with a given one
// (devpathConflict): the path itself, its ancestors, and what lies under it.
type pathIndex map[string]*pathNode

type pathNode struct {
	at    seqList // events whose path is this one
	below seqList // events whose path lies under this one
}

func (x pathIndex) add(p string, e *queued) {
	if p == "" {
		return
	}
	x.node(p).at.add(e)
	for a := range ancestors(p) {
		x.node(a).below.add(e)
	}
}

func (x pathIndex) node(p string) *pathNode {
	n := x[p]
	if n == nil {
		n = &pathNode{}
		x[p] = n
	}
	return n
}

// remove drops an event with path p that has just gone.
func (x pathIndex) remove(p string) {
	if p == "" {
		return
	}
	n := x[p]
	n.at.drop()
	x.prune(p, n)
	for a := range ancestors(p) {
		n := x[a]
		n.below.drop()
		x.prune(a, n)
	}
}

// prune forgets the node n of path p once no present event needs it.
func (x pathIndex) prune(p string, n *pathNode) {
	if n.at.live == 0 && n.below.live == 0 {
		delete(x, p)
	}
}

// related returns a present event before seq whose path is p, an ancestor
// of p, or under p, or nil.
func (x pathIndex) related(p string, seq uint64) *queued {
	if p == "" {
		return nil
	}
	if n := x[p]; n != nil {
		if b := n.at.before(seq); b != nil {
			return b
		}
		if b := n.below.first(seq); b != nil {
			return b
		}
	}
	for a := range ancestors(p) {
		if n := x[a]; n != nil {
			if b := n.at.before(seq); b != nil {
				return b
			}
		}
	}
	return nil
}

// ancestors yields the paths devpathConflict counts as p's ancestors: every
// non-empty prefix of p followed by a '/'. Kernel DEVPATHs are clean, so
// these are /devices, /devices/pci0000:00, ...; for odd paths ("a//b",
// "/a/") it yields what devpathConflict would match, no more.
func ancestors(p string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for i := 1; i < len(p); i++ {
			if p[i] == '/' && !yield(p[:i]) {
				return
			}
		}
	}
}

// A keyIndex finds the events with a given device id or DEVNAME.
type keyIndex map[string]*seqList

func (x keyIndex) add(key string, e *queued) {
	if key == "" {
		return
	}
	l := x[key]
	if l == nil {
		l = &seqList{}
		x[key] = l
	}
	l.add(e)
}

// remove drops an event with key that has just gone.
func (x keyIndex) remove(key string) {
	if key == "" {
		return
	}
	if l := x[key]; l.drop() {
		delete(x, key)
	}
}

func (x keyIndex) before(key string, seq uint64) *queued {
	if key == "" {
		return nil
	}
	return x[key].before(seq)
}

// A seqList holds the present events under one key in ascending SEQNUM
// order, and perhaps some gone ones: an event that is Done is dropped from
// the front at once, so the first event is always present, but from
// elsewhere only once the gone outnumber the present.
type seqList struct {
	evs  []*queued
	live int // the present events in evs
}

func (l *seqList) add(e *queued) {
	l.live++
	i := len(l.evs)
	if i > 0 && l.evs[i-1].seq > e.seq {
		i, _ = slices.BinarySearchFunc(l.evs, e.seq, cmpSeq)
	}
	l.evs = slices.Insert(l.evs, i, e)
}

// drop notes that one of l's events has gone, and reports whether none is
// present any more.
func (l *seqList) drop() bool {
	l.live--
	for len(l.evs) > 0 && l.evs[0].gone {
		l.evs[0] = nil
		l.evs = l.evs[1:]
	}
	if len(l.evs) > 2*l.live {
		l.evs = slices.DeleteFunc(l.evs, func(e *queued) bool { return e.gone })
	}
	return l.live == 0
}

// first returns the earliest present event if it is before seq: the one a
// parent waits for among its children, which finish in any order.
func (l *seqList) first(seq uint64) *queued {
	if len(l.evs) > 0 && l.evs[0].seq < seq {
		return l.evs[0]
	}
	return nil
}

// before returns the latest present event before seq, or nil. The events on
// one path, with one device id or one DEVNAME each block the next, so they
// run one by one in SEQNUM order: waiting on the latest earlier one, a
// later event is checked again once, not once for each earlier one.
func (l *seqList) before(seq uint64) *queued {
	if l == nil {
		return nil
	}
	i, _ := slices.BinarySearchFunc(l.evs, seq, cmpSeq)
	for i--; i >= 0; i-- {
		if !l.evs[i].gone {
			return l.evs[i]
		}
	}
	return nil
}

func cmpSeq(e *queued, seq uint64) int {
	return cmp.Compare(e.seq, seq)
}

// readyHeap is a container/heap of queued events by SEQNUM: Next hands out
// the lowest.
type readyHeap []*queued

func (h readyHeap) Len() int           { return len(h) }
func (h readyHeap) Less(i, j int) bool { return h[i].seq < h[j].seq }

func (h readyHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].readyAt = i
	h[j].readyAt = j
}

func (h *readyHeap) Push(x any) {
	e := x.(*queued)
	e.readyAt = len(*h)
	*h = append(*h, e)
}

func (h *readyHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	e.readyAt = -1
	*h = old[:len(old)-1]
	return e
}
