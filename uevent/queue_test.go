package uevent

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// qev describes a queued event: SEQNUM, DEVPATH, subsystem and extra
// properties as KEY, VALUE pairs.
type qev struct {
	seq       uint64
	devpath   string
	subsystem string
	kv        []string
}

func (q qev) event() *Event {
	e := &Event{}
	sub := q.subsystem
	if sub == "" {
		sub = "platform"
	}
	e.Set("ACTION", "add")
	e.Set("DEVPATH", q.devpath)
	e.Set("SUBSYSTEM", sub)
	for i := 0; i+1 < len(q.kv); i += 2 {
		e.Set(q.kv[i], q.kv[i+1])
	}
	e.Set("SEQNUM", fmt.Sprint(q.seq))
	return e
}

// canceled returns a context that is already done.
func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// tryNext takes the next runnable event without waiting, or returns nil when
// none is: Next with a ctx that is already done (canceled) returns a
// runnable event if there is one and fails with the context's error
// otherwise.
func tryNext(ctx context.Context, tb testing.TB, q *Queue) *Event {
	tb.Helper()
	e, err := q.Next(ctx)
	if err != nil {
		if e != nil || !errors.Is(err, context.Canceled) {
			tb.Fatalf("Next = %v, %v; want an event, or none and context.Canceled", e, err)
		}
		return nil
	}
	return e
}

// drain finishes the events the caller counts as running, then runs every
// event still queued, one at a time, until the queue is empty. It fails if
// Done refuses one of running or if events stay queued that nothing blocks:
// the queue and its caller must agree on what runs.
func drain(ctx context.Context, tb testing.TB, q *Queue, running map[uint64]*Event) {
	tb.Helper()
	for _, s := range sortedSeqs(running) {
		if err := q.Done(running[s]); err != nil {
			tb.Fatalf("Done(%d) of a running event: %v", s, err)
		}
		delete(running, s)
	}
	for q.Len() > 0 {
		e := tryNext(ctx, tb, q)
		if e == nil {
			tb.Fatalf("%d events queued, none running, and none runnable", q.Len())
		}
		if err := q.Done(e); err != nil {
			tb.Fatalf("Done(%d): %v", e.Seqnum, err)
		}
	}
	if diff := cmp.Diff(queueSizes{}, sizes(q)); diff != "" {
		tb.Fatalf("an empty queue still holds events (-want +got):\n%s", diff)
	}
}

// queueSizes counts what a Queue holds, to check that an empty one forgets
// every event.
type queueSizes struct {
	BySeq, Running, Ready, Devpaths, Oldpaths, IDs, Devnodes int
}

func sizes(q *Queue) queueSizes {
	q.mu.Lock()
	defer q.mu.Unlock()
	return queueSizes{len(q.bySeq), len(q.running), len(q.ready), len(q.devpaths), len(q.oldpaths), len(q.ids), len(q.devnodes)}
}

// qstep pushes events, then takes every runnable one, expecting exactly
// runnable (in that order), then marks done as finished.
type qstep struct {
	push     []qev
	runnable []uint64
	done     []uint64
}

func TestQueueOrder(t *testing.T) {
	const pci = "/devices/pci0000:00/0000:00:03.0"
	tests := []struct {
		name  string
		steps []qstep
	}{
		{
			name: "unrelated devices run in parallel",
			steps: []qstep{{
				push:     []qev{{1, "/devices/system/cpu/cpu0", "cpu", nil}, {2, "/devices/system/cpu/cpu1", "cpu", nil}, {3, "/devices/system/cpu/cpu2", "cpu", nil}},
				runnable: []uint64{1, 2, 3},
			}},
		},
		{
			name: "events for one device run one at a time in SEQNUM order",
			steps: []qstep{
				{push: []qev{{1, pci, "pci", nil}, {2, pci, "pci", []string{"ACTION", "bind"}}, {3, pci, "pci", nil}}, runnable: []uint64{1}},
				{done: []uint64{1}, runnable: []uint64{2}},
				{done: []uint64{2}, runnable: []uint64{3}},
			},
		},
		{
			name: "child waits for its parent",
			steps: []qstep{
				{push: []qev{{1, pci, "pci", nil}, {2, pci + "/net/eth0", "net", nil}, {3, "/devices/virtual/misc/fuse", "misc", nil}}, runnable: []uint64{1, 3}},
				{done: []uint64{1}, runnable: []uint64{2}},
			},
		},
		{
			name: "parent waits for an earlier child",
			steps: []qstep{
				{push: []qev{{1, pci + "/virtio0", "virtio", nil}, {2, pci, "pci", nil}}, runnable: []uint64{1}},
				{done: []uint64{1}, runnable: []uint64{2}},
			},
		},
		{
			name: "a name prefix is not a parent",
			steps: []qstep{{
				push:     []qev{{1, "/devices/platform/serial8250", "platform", nil}, {2, "/devices/platform/serial8250x", "platform", nil}},
				runnable: []uint64{1, 2},
			}},
		},
		{
			name: "an earlier queued event blocks, not only a running one",
			steps: []qstep{
				{push: []qev{
					{1, "/devices/a", "platform", nil},
					{2, "/devices/a/block/sda", "block", []string{"MAJOR", "8", "MINOR", "0"}},
					{3, "/devices/b/block/sdb", "block", []string{"MAJOR", "8", "MINOR", "0"}},
				}, runnable: []uint64{1}},
				{done: []uint64{1}, runnable: []uint64{2}},
				{done: []uint64{2}, runnable: []uint64{3}},
			},
		},
		{
			name: "block and char devices with the same numbers are different",
			steps: []qstep{{
				push: []qev{
					{1, "/devices/a/block/sda", "block", []string{"MAJOR", "8", "MINOR", "0"}},
					{2, "/devices/b/foo", "foo", []string{"MAJOR", "8", "MINOR", "0"}},
				},
				runnable: []uint64{1, 2},
			}},
		},
		{
			name: "major 0 identifies nothing",
			steps: []qstep{{
				push: []qev{
					{1, "/devices/a/x", "x", []string{"MAJOR", "0", "MINOR", "0"}},
					{2, "/devices/b/y", "y", []string{"MAJOR", "0", "MINOR", "0"}},
				},
				runnable: []uint64{1, 2},
			}},
		},
		{
			name: "renamed network interface keeps its ifindex",
			steps: []qstep{
				{push: []qev{
					{1, pci + "/net/eth0", "net", []string{"IFINDEX", "2"}},
					{2, pci + "/net/ens3", "net", []string{"IFINDEX", "2"}},
					{3, pci + "/net/ens4", "net", []string{"IFINDEX", "3"}},
				}, runnable: []uint64{1, 3}},
				{done: []uint64{1}, runnable: []uint64{2}},
			},
		},
		{
			name: "move waits for events on its old path",
			steps: []qstep{
				{push: []qev{
					{1, "/devices/virtual/net/old/queues/rx-0", "queues", nil},
					{2, "/devices/virtual/net/new", "net2", []string{"ACTION", "move", "DEVPATH_OLD", "/devices/virtual/net/old"}},
				}, runnable: []uint64{1}},
				{done: []uint64{1}, runnable: []uint64{2}},
			},
		},
		{
			name: "events on the old path wait for an earlier move",
			steps: []qstep{
				{push: []qev{
					{1, "/devices/virtual/net/new", "net2", []string{"ACTION", "move", "DEVPATH_OLD", "/devices/virtual/net/old"}},
					{2, "/devices/virtual/net/old", "net3", nil},
				}, runnable: []uint64{1}},
				{done: []uint64{1}, runnable: []uint64{2}},
			},
		},
		{
			name: "same device node",
			steps: []qstep{
				{push: []qev{
					{1, "/devices/a/tty/ttyS0", "tty", []string{"DEVNAME", "/dev/ttyS0"}},
					{2, "/devices/b/tty/ttyS0b", "tty2", []string{"DEVNAME", "/dev/ttyS0"}},
				}, runnable: []uint64{1}},
				{done: []uint64{1}, runnable: []uint64{2}},
			},
		},
		{
			name: "same subsystem and name",
			steps: []qstep{
				{push: []qev{
					{1, "/devices/a/input/mouse0", "input", nil},
					{2, "/devices/b/input/mouse0", "input", nil},
					{3, "/devices/c/misc/mouse0", "misc", nil},
				}, runnable: []uint64{1, 3}},
				{done: []uint64{1}, runnable: []uint64{2}},
			},
		},
		{
			name: "an event pushed out of order is seen by later events' cached checks",
			steps: []qstep{
				{push: []qev{{5, "/devices/x", "platform", nil}, {7, "/devices/x/y", "platform", nil}}, runnable: []uint64{5}},
				{push: []qev{{3, "/devices/x/y", "platform", nil}}, runnable: []uint64{3}},
				{done: []uint64{5}, runnable: nil},
				{done: []uint64{3}, runnable: []uint64{7}},
			},
		},
		{
			name: "a prefix that is not a whole path component relates nothing",
			steps: []qstep{
				{push: []qev{{1, "/devices/a", "p", nil}, {2, "/devices/ab", "p", nil}, {3, "/devices/ab/c", "p", nil}, {4, "/devices/a/b", "p", nil}}, runnable: []uint64{1, 2}},
				{done: []uint64{2}, runnable: []uint64{3}},
				{done: []uint64{1}, runnable: []uint64{4}},
			},
		},
		{
			name: "two moves from one old path do not wait for each other",
			steps: []qstep{{
				push: []qev{
					{1, "/devices/x/new1", "net", []string{"ACTION", "move", "DEVPATH_OLD", "/devices/old"}},
					{2, "/devices/y/new2", "net", []string{"ACTION", "move", "DEVPATH_OLD", "/devices/old"}},
				},
				runnable: []uint64{1, 2},
			}},
		},
		{
			name: "move waits for an event on an ancestor of its old path",
			steps: []qstep{
				{push: []qev{
					{1, "/devices/virtual/net", "p", nil},
					{2, "/devices/virtual/other/new", "net2", []string{"ACTION", "move", "DEVPATH_OLD", "/devices/virtual/net/old"}},
				}, runnable: []uint64{1}},
				{done: []uint64{1}, runnable: []uint64{2}},
			},
		},
		{
			name: "events under an earlier move's old path wait for it",
			steps: []qstep{
				{push: []qev{
					{1, "/devices/virtual/net/new", "net2", []string{"ACTION", "move", "DEVPATH_OLD", "/devices/virtual/net/old"}},
					{2, "/devices/virtual/net/old/queues/rx-0", "queues", nil},
				}, runnable: []uint64{1}},
				{done: []uint64{1}, runnable: []uint64{2}},
			},
		},
		{
			name: "a parent of an earlier move's old path waits for it",
			steps: []qstep{
				{push: []qev{
					{1, "/devices/n/new", "net2", []string{"ACTION", "move", "DEVPATH_OLD", "/devices/o/dev"}},
					{2, "/devices/o", "p", nil},
					{3, "/devices/n", "p", nil},
				}, runnable: []uint64{1}},
				{done: []uint64{1}, runnable: []uint64{2, 3}},
			},
		},
		{
			name: "events for one device node wait for each earlier one in turn",
			steps: []qstep{
				{push: []qev{
					{1, "/devices/a/tty/ttyS0", "tty", []string{"DEVNAME", "/dev/ttyS0"}},
					{2, "/devices/b/x", "y", []string{"DEVNAME", "/dev/ttyS0"}},
					{3, "/devices/c/z", "w", []string{"DEVNAME", "/dev/ttyS0"}},
					{4, "/devices/d/v", "u", []string{"DEVNAME", "/dev/ttyS1"}},
				}, runnable: []uint64{1, 4}},
				{done: []uint64{1}, runnable: []uint64{2}},
				{done: []uint64{2}, runnable: []uint64{3}},
			},
		},
		{
			name: "events for one device and its child run in turn",
			steps: []qstep{
				{push: []qev{{1, "/devices/d", "p", nil}, {2, "/devices/d", "p", nil}, {3, "/devices/d/c", "p", nil}, {4, "/devices/d", "p", nil}}, runnable: []uint64{1}},
				{done: []uint64{1}, runnable: []uint64{2}},
				{done: []uint64{2}, runnable: []uint64{3}},
				{done: []uint64{3}, runnable: []uint64{4}},
			},
		},
		{
			name: "an event pushed out of order holds back a later one that was runnable",
			steps: []qstep{
				{push: []qev{{7, "/devices/x/y", "p", nil}, {3, "/devices/x", "p", nil}}, runnable: []uint64{3}},
				{done: []uint64{3}, runnable: []uint64{7}},
			},
		},
		{
			name: "an event pushed out of order lets an unrelated later one run",
			steps: []qstep{
				{push: []qev{{7, "/devices/z", "p", nil}, {3, "/devices/x", "p", nil}}, runnable: []uint64{3, 7}},
			},
		},
		{
			name: "an event pushed out of order among blocked and runnable ones",
			steps: []qstep{
				{push: []qev{{5, "/devices/x", "p", nil}, {8, "/devices/x/y", "p", nil}, {9, "/devices/w/v", "p", nil}, {6, "/devices/w", "p", nil}}, runnable: []uint64{5, 6}},
				{done: []uint64{5}, runnable: []uint64{8}},
				{done: []uint64{6}, runnable: []uint64{9}},
			},
		},
		{
			name: "a parent waits for all its children when the first finishes first",
			steps: []qstep{
				{push: []qev{{1, "/devices/p/a", "p", nil}, {2, "/devices/p/b", "p", nil}, {3, "/devices/p", "p", nil}}, runnable: []uint64{1, 2}},
				{done: []uint64{1}, runnable: nil},
				{done: []uint64{2}, runnable: []uint64{3}},
			},
		},
		{
			name: "a parent waits for all its children when the last finishes first",
			steps: []qstep{
				{push: []qev{{1, "/devices/p/a", "p", nil}, {2, "/devices/p/b", "p", nil}, {3, "/devices/p", "p", nil}}, runnable: []uint64{1, 2}},
				{done: []uint64{2}, runnable: nil},
				{done: []uint64{1}, runnable: []uint64{3}},
			},
		},
		{
			name: "a grandparent waits for a grandchild",
			steps: []qstep{
				{push: []qev{{1, "/devices/g/p/c", "p", nil}, {2, "/devices/h", "p", nil}, {3, "/devices/g", "p", nil}}, runnable: []uint64{1, 2}},
				{done: []uint64{1}, runnable: []uint64{3}},
			},
		},
		{
			name: "a later event skips an earlier one that finished out of order",
			steps: []qstep{
				{push: []qev{{5, "/devices/x", "p", nil}}, runnable: []uint64{5}},
				{push: []qev{{3, "/devices/x", "p", nil}}, runnable: []uint64{3}},
				{done: []uint64{5}, push: []qev{{9, "/devices/x", "p", nil}}, runnable: nil},
				{done: []uint64{3}, runnable: []uint64{9}},
			},
		},
		{
			name: "finishing out of order",
			steps: []qstep{
				{push: []qev{{1, "/devices/a", "p", nil}, {2, "/devices/b", "p", nil}, {3, "/devices/a/c", "p", nil}, {4, "/devices/b/d", "p", nil}}, runnable: []uint64{1, 2}},
				{done: []uint64{2}, runnable: []uint64{4}},
				{done: []uint64{1}, runnable: []uint64{3}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := NewQueue()
			ctx := canceled()
			running := map[uint64]*Event{} // handed out by Next and not yet Done
			present := 0                   // pushed and not yet Done
			for i, st := range tt.steps {
				for _, d := range st.done {
					if err := q.Done(running[d]); err != nil {
						t.Fatalf("step %d: Done(%d): %v", i, d, err)
					}
					delete(running, d)
					present--
				}
				for _, p := range st.push {
					if err := q.Push(p.event()); err != nil {
						t.Fatalf("step %d: Push(%d): %v", i, p.seq, err)
					}
					present++
				}
				var got []uint64
				for e := tryNext(ctx, t, q); e != nil; e = tryNext(ctx, t, q) {
					got = append(got, e.Seqnum)
					running[e.Seqnum] = e
				}
				if diff := cmp.Diff(st.runnable, got); diff != "" {
					t.Fatalf("step %d: runnable mismatch (-want +got):\n%s", i, diff)
				}
				if q.Len() != present {
					t.Errorf("step %d: Len() = %d, want %d", i, q.Len(), present)
				}
			}
			drain(ctx, t, q, running)
		})
	}
}

// TestSeqList checks an index's list against the set of its present
// events after adds (in and out of SEQNUM order) and Dones (from the front
// and the middle, enough to compact it): before and first must answer as
// that set does, and gone events must not outnumber the present.
func TestSeqList(t *testing.T) {
	tests := []struct {
		name string
		add  []uint64
		gone []uint64
	}{
		{name: "in order, none gone", add: []uint64{1, 2, 3}},
		{name: "front gone", add: []uint64{1, 2, 3, 4}, gone: []uint64{1, 2}},
		{name: "middle gone", add: []uint64{1, 2, 3, 4}, gone: []uint64{3}},
		{name: "middle gone until compacted", add: []uint64{1, 2, 3, 4, 5, 6, 7, 8}, gone: []uint64{3, 5, 6, 7, 2, 8}},
		{name: "compacted, then the front gone", add: []uint64{1, 2, 3, 4, 5, 6}, gone: []uint64{2, 3, 4, 5, 1}},
		{name: "all gone", add: []uint64{1, 2, 3}, gone: []uint64{2, 1, 3}},
		{name: "out of order", add: []uint64{5, 2, 9, 1, 7}, gone: []uint64{5, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l seqList
			evs := map[uint64]*queued{}
			for _, s := range tt.add {
				evs[s] = &queued{seq: s}
				l.add(evs[s])
			}
			for _, s := range tt.gone {
				evs[s].gone = true
				empty := l.drop()
				if want := liveSeqs(evs) == nil; empty != want {
					t.Fatalf("drop of %d reports empty %v, want %v", s, empty, want)
				}
			}
			live := liveSeqs(evs)
			if len(l.evs) > 2*len(live) || l.live != len(live) {
				t.Errorf("%d events held, %d counted present, for %d present", len(l.evs), l.live, len(live))
			}
			for s := range uint64(11) {
				if got, want := queuedSeq(l.before(s)), lastBelow(live, s); got != want {
					t.Errorf("before(%d) = %v, want %v", s, got, want)
				}
				want := any(nil)
				if len(live) > 0 && live[0] < s {
					want = live[0]
				}
				if got := queuedSeq(l.first(s)); got != want {
					t.Errorf("first(%d) = %v, want %v", s, got, want)
				}
			}
		})
	}
}

// liveSeqs returns the SEQNUMs of the events not gone, ascending.
func liveSeqs(evs map[uint64]*queued) []uint64 {
	var live []uint64
	for s, e := range evs {
		if !e.gone {
			live = append(live, s)
		}
	}
	slices.Sort(live)
	return live
}

// lastBelow returns the highest of the ascending seqs below s, or nil.
func lastBelow(seqs []uint64, s uint64) any {
	var last any
	for _, x := range seqs {
		if x < s {
			last = x
		}
	}
	return last
}

func queuedSeq(e *queued) any {
	if e == nil {
		return nil
	}
	return e.seq
}

func TestQueueErrors(t *testing.T) {
	q := NewQueue()
	e := qev{1, "/devices/a", "p", nil}.event()
	if err := q.Push(e); err != nil {
		t.Fatal(err)
	}
	if err := q.Push(qev{1, "/devices/b", "p", nil}.event()); err == nil {
		t.Error("Push of a duplicate SEQNUM succeeded")
	}
	if err := q.Push(&Event{DevPath: "/devices/c"}); err == nil {
		t.Error("Push without SEQNUM succeeded")
	}
	if err := q.Push(nil); err == nil {
		t.Error("Push(nil) succeeded")
	}
	if err := q.Done(e); err == nil {
		t.Error("Done of a queued, not running, event succeeded")
	}
	if got := tryNext(canceled(), t, q); got != e {
		t.Fatalf("Next = %v, want the pushed event", got)
	}
	if err := q.Done(e); err != nil {
		t.Fatal(err)
	}
	if err := q.Done(e); err == nil {
		t.Error("second Done succeeded")
	}
	if q.Len() != 0 {
		t.Errorf("Len = %d after all done", q.Len())
	}
}

func TestQueueWaiting(t *testing.T) {
	q := NewQueue()
	ctx := context.Background()

	got := make(chan *Event)
	go func() {
		e, err := q.Next(ctx)
		if err != nil {
			t.Error(err)
		}
		got <- e
	}()
	first := qev{1, "/devices/a", "p", nil}.event()
	if err := q.Push(first); err != nil {
		t.Fatal(err)
	}
	if e := <-got; e != first {
		t.Fatalf("Next = %v, want the pushed event", e)
	}

	// The child is blocked until first is done; Next must wake then.
	child := qev{2, "/devices/a/b", "p", nil}.event()
	if err := q.Push(child); err != nil {
		t.Fatal(err)
	}
	go func() {
		e, err := q.Next(ctx)
		if err != nil {
			t.Error(err)
		}
		got <- e
	}()
	settled := make(chan error)
	go func() { settled <- q.Wait(ctx) }()
	if err := q.Done(first); err != nil {
		t.Fatal(err)
	}
	if e := <-got; e != child {
		t.Fatalf("Next = %v, want the child", e)
	}
	if err := q.Done(child); err != nil {
		t.Fatal(err)
	}
	if err := <-settled; err != nil {
		t.Fatalf("Wait: %v", err)
	}

	done := canceled()
	if e, err := q.Next(done); !errors.Is(err, context.Canceled) || e != nil {
		t.Errorf("Next on an empty queue with a canceled context = %v, %v", e, err)
	}
	last := qev{3, "/devices/c", "p", nil}.event()
	if err := q.Push(last); err != nil {
		t.Fatal(err)
	}
	if err := q.Wait(done); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait on a busy queue with a canceled context = %v", err)
	}
	if e, err := q.Next(done); err != nil || e != last {
		t.Errorf("Next with a canceled context and a runnable event = %v, %v; want the event", e, err)
	}
	if e, err := q.Next(done); !errors.Is(err, context.Canceled) || e != nil {
		t.Errorf("Next with a canceled context and the only event running = %v, %v", e, err)
	}
}

// TestQueueConcurrent runs a pseudo-random workload through parallel workers
// and checks udevd's guarantee: two conflicting events never run at the
// same time and the earlier one finishes before the later one starts.
func TestQueueConcurrent(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	paths := []string{"/devices/a", "/devices/a/b", "/devices/a/b/c", "/devices/d", "/devices/d/e", "/devices/f"}
	var events []*Event
	for seq := uint64(1); seq <= 400; seq++ {
		events = append(events, qev{seq, paths[rng.IntN(len(paths))], "p", nil}.event())
	}
	q := NewQueue()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var mu sync.Mutex // guards the fields below
	started := map[uint64]int{}
	finished := map[uint64]int{}
	var clock int
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				e, err := q.Next(ctx)
				if err != nil {
					return
				}
				mu.Lock()
				clock++
				started[e.Seqnum] = clock
				mu.Unlock()
				runtime.Gosched() // let other workers start meanwhile
				mu.Lock()
				clock++
				finished[e.Seqnum] = clock
				mu.Unlock()
				if err := q.Done(e); err != nil {
					t.Error(err)
				}
			}
		})
	}
	for _, e := range events {
		if err := q.Push(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	wg.Wait()

	if len(finished) != len(events) {
		t.Fatalf("%d events finished, want %d", len(finished), len(events))
	}
	for i, a := range events {
		for _, b := range events[i+1:] {
			if devpathConflict(a.DevPath, b.DevPath) && finished[a.Seqnum] > started[b.Seqnum] {
				t.Fatalf("SEQNUM %d (%s) started before SEQNUM %d (%s) finished", b.Seqnum, b.DevPath, a.Seqnum, a.DevPath)
			}
		}
	}
}

// BenchmarkQueueCPUs is a coldplug of a 256-CPU machine: per CPU a cpu
// device, a machinecheck device and a cache directory's event, all runnable
// at once, drained by one consumer in SEQNUM order.
func BenchmarkQueueCPUs(b *testing.B) {
	var events []*Event
	seq := uint64(1)
	for cpu := range 256 {
		for _, p := range []string{"/devices/system/cpu/cpu%d", "/devices/system/machinecheck/machinecheck%d", "/devices/system/cpu/cpu%d/cache"} {
			events = append(events, qev{seq, fmt.Sprintf(p, cpu), "cpu", nil}.event())
			seq++
		}
	}
	ctx := canceled()
	b.ReportAllocs()
	for b.Loop() {
		q := NewQueue()
		for _, e := range events {
			if err := q.Push(e); err != nil {
				b.Fatal(err)
			}
		}
		for q.Len() > 0 {
			e := tryNext(ctx, b, q)
			if e == nil {
				b.Fatal("nothing runnable in a non-empty queue with nothing running")
			}
			if err := q.Done(e); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// FuzzQueue drives a Queue with arbitrary pushes (in and out of SEQNUM
// order), Next calls that do not wait and Done calls, and checks its indexed
// dependency tracking against a brute-force model of udevd's rule: Next
// hands out exactly the lowest-SEQNUM queued event that no earlier present
// event conflicts with. The model counts the running events: Done must
// accept each of them and refuse a queued one, and once the input is played
// out the queue must drain to empty.
//
//	go test -fuzz=FuzzQueue ./uevent/
func FuzzQueue(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 0x80, 0x81, 0x40, 0x82, 0x41, 0x40})
	f.Add([]byte{5, 0x25, 0x80, 0x13, 0x80, 0x40, 0x80, 0x40, 0x80})
	f.Add([]byte{0, 1, 0x27, 0x80, 0x80, 0xe0, 0xc0, 0x80, 0xe1, 0x80, 0xc1})
	paths := []string{"/devices/a", "/devices/a/b", "/devices/a/b/c", "/devices/ab", "/devices/d", "/devices/d/e", "/devices/f", "/devices/a/g"}
	f.Fuzz(func(t *testing.T, ops []byte) {
		newEvent := func(seq uint64, op byte) *Event { return qev{seq, paths[op&7], "p", nil}.event() }
		conflict := func(later, earlier *Event) bool { return devpathConflict(later.DevPath, earlier.DevPath) }
		playQueue(t, ops, newEvent, conflict)
	})
}

// FuzzDeviceQueue is FuzzQueue over devices that conflict in every way
// udevd knows: by DEVPATH, also odd ones (a trailing slash, "//", relative,
// empty, "/"), by DEVPATH_OLD on either side of a move, by device id (block
// and char numbers, ifindex, subsystem and name, a driver per bus) and by
// DEVNAME. Its model asks conflicts of every pair of events.
//
//	go test -fuzz=FuzzDeviceQueue ./uevent/
func FuzzDeviceQueue(f *testing.F) {
	f.Add([]byte{0, 8, 9, 0x15, 0x80, 0x80, 0x80, 0xc0, 0x80, 0xc0, 0x80})
	f.Add([]byte{1, 0x80, 0x22, 0x80, 0xc0, 0x80, 0x2b, 0x80})
	f.Add([]byte{0x0c, 0x0d, 0x14, 0x0e, 0x0f, 0x10, 0x11, 0x80, 0x80, 0x80, 0x80, 0xc1, 0x80, 0xc0, 0x80})
	f.Add([]byte{0x18, 0x05, 0x06, 0x07, 0x19, 0x1c, 0x1b, 0x80, 0x80, 0x80, 0x80, 0xc0, 0x80, 0xc0, 0x80, 0xc0, 0x80})
	devices := fuzzDevices()
	blocks := make([][]bool, len(devices)) // blocks[i][j]: a device-i event waits for an earlier device-j one
	for i, a := range devices {
		blocks[i] = make([]bool, len(devices))
		for j, b := range devices {
			blocks[i][j] = conflicts(newQueued(a.event()), newQueued(b.event()))
		}
	}
	f.Fuzz(func(t *testing.T, ops []byte) {
		device := map[*Event]int{}
		newEvent := func(seq uint64, op byte) *Event {
			d := devices[int(op&0x1f)%len(devices)]
			d.seq = seq
			e := d.event()
			device[e] = int(op&0x1f) % len(devices)
			return e
		}
		conflict := func(later, earlier *Event) bool { return blocks[device[later]][device[earlier]] }
		playQueue(t, ops, newEvent, conflict)
	})
}

// fuzzDevices are FuzzDeviceQueue's 32 devices; their SEQNUMs are unset.
func fuzzDevices() []qev {
	const move = "move"
	return []qev{
		{0, "/devices/a", "p", nil},
		{0, "/devices/a/b", "p", nil},
		{0, "/devices/a/b/c", "p", nil},
		{0, "/devices/ab", "p", nil},
		{0, "/devices/ab/c", "q", nil},
		{0, "/devices/a/", "s5", nil},
		{0, "/devices//a", "s6", nil},
		{0, "a", "s7", nil},
		{0, "/devices/n/new", "net", []string{"ACTION", move, "DEVPATH_OLD", "/devices/a/b"}},
		{0, "/devices/m/new2", "net", []string{"ACTION", move, "DEVPATH_OLD", "/devices/a/b"}},
		{0, "/devices/a/x", "s10", []string{"ACTION", move, "DEVPATH_OLD", "/devices/n/new"}},
		{0, "/devices/n", "s11", []string{"ACTION", move, "DEVPATH_OLD", "/devices/ab"}},
		{0, "/devices/d/block/sda", "block", []string{"MAJOR", "8", "MINOR", "0", "DEVNAME", "/dev/sda"}},
		{0, "/devices/e/block/sdz", "block", []string{"MAJOR", "8", "MINOR", "0"}},
		{0, "/devices/f/tty/ttyS0", "tty", []string{"MAJOR", "4", "MINOR", "64", "DEVNAME", "/dev/ttyS0"}},
		{0, "/devices/g/tty/ttyS0x", "tty2", []string{"DEVNAME", "/dev/ttyS0"}},
		{0, "/devices/a/net/eth0", "net", []string{"IFINDEX", "2"}},
		{0, "/devices/h/net/ens3", "net", []string{"IFINDEX", "2"}},
		{0, "/devices/d", "p", nil},
		{0, "/devices/d/block", "s19", nil},
		{0, "/devices/e/block/sdz/sdz1", "block", []string{"MAJOR", "8", "MINOR", "1"}},
		{0, "/devices/n/new/child", "p", nil},
		{0, "/devices/a/b/c/d/e", "p", nil},
		{0, "", "s23", []string{"DEVNAME", "/dev/sda"}},
		{0, "/", "s24", nil},
		{0, "//", "s25", nil},
		{0, "/devices/x/y", "s26", nil},
		{0, "/devices/z", "s27", []string{"ACTION", move, "DEVPATH_OLD", "/devices/a/"}},
		{0, "/devices/a/b/", "s28", nil},
		{0, "/bus/pci/drivers/e1000", "drivers", nil},
		{0, "/bus/usb/drivers/e1000", "drivers", nil},
		{0, "/devices/h/net/eth0", "net", nil},
	}
}

// playQueue plays ops on a Queue and checks it against modelNext: pushes of
// newEvent(SEQNUM, op) (in and out of SEQNUM order), Next calls that do not
// wait and Done calls. conflict is the model's rule for a later and an
// earlier event.
func playQueue(t *testing.T, ops []byte, newEvent func(uint64, byte) *Event, conflict func(later, earlier *Event) bool) {
	t.Helper()
	if len(ops) > 1024 {
		t.Skip("the brute-force model is quadratic; longer runs add nothing")
	}
	q := NewQueue()
	ctx := canceled()
	present := map[uint64]*Event{} // the model: every event pushed and not done
	running := map[uint64]*Event{} // of those, the ones handed out by Next
	next := uint64(100)
	for _, op := range ops {
		switch op >> 6 {
		case 0, 1: // push; bit 5 pushes below every SEQNUM so far
			seq := next
			next++
			if op&0x20 != 0 {
				seq = 100 - uint64(len(present)) - uint64(op&0x1f) - 1
			}
			if _, dup := present[seq]; dup || seq == 0 {
				continue
			}
			e := newEvent(seq, op)
			if err := q.Push(e); err != nil {
				t.Fatalf("Push(%d): %v", seq, err)
			}
			present[seq] = e
		case 2: // Next without waiting
			got := tryNext(ctx, t, q)
			want := modelNext(present, running, conflict)
			if got != want {
				t.Fatalf("Next = %v, model says %v", seqOf(got), seqOf(want))
			}
			if got != nil {
				running[got.Seqnum] = got
			}
		case 3: // Done of the op-th running event in SEQNUM order; bit 5 tries a queued one
			if op&0x20 != 0 {
				queued := map[uint64]*Event{}
				for s, e := range present {
					if running[s] == nil {
						queued[s] = e
					}
				}
				if len(queued) == 0 {
					continue
				}
				seqs := sortedSeqs(queued)
				s := seqs[int(op&0x1f)%len(seqs)]
				if err := q.Done(queued[s]); err == nil {
					t.Fatalf("Done(%d) of a queued event that Next did not hand out succeeded", s)
				}
				break
			}
			if len(running) == 0 {
				continue
			}
			seqs := sortedSeqs(running)
			s := seqs[int(op&0x1f)%len(seqs)]
			if err := q.Done(running[s]); err != nil {
				t.Fatalf("Done(%d): %v", s, err)
			}
			delete(running, s)
			delete(present, s)
		}
		if q.Len() != len(present) {
			t.Fatalf("Len = %d; model has %d", q.Len(), len(present))
		}
	}
	drain(ctx, t, q, running)
}

// modelNext is the brute-force rule: the lowest queued SEQNUM that
// conflicts with no earlier present event.
func modelNext(present, running map[uint64]*Event, conflict func(later, earlier *Event) bool) *Event {
	seqs := sortedSeqs(present)
	for i, s := range seqs {
		if running[s] != nil {
			continue
		}
		blocked := false
		for _, earlier := range seqs[:i] {
			if conflict(present[s], present[earlier]) {
				blocked = true
				break
			}
		}
		if !blocked {
			return present[s]
		}
	}
	return nil
}

func sortedSeqs(m map[uint64]*Event) []uint64 {
	var s []uint64
	for k := range m {
		s = append(s, k)
	}
	slices.Sort(s)
	return s
}

func seqOf(e *Event) any {
	if e == nil {
		return nil
	}
	return e.Seqnum
}

// BenchmarkQueueStorm is a coldplug storm through the queue: n events for
// distinct devices, as a machine with many CPUs sends, among them related
// ones (per 16 events a bus whose event comes after its 14 devices', and a
// child of one of them), all pushed at once and drained with at most 2048
// running, the oldest finishing first, like udevd's children_max workers.
// Besides the wall time it reports the process's CPU time (with the garbage
// collector's), which other load on the machine disturbs less.
func BenchmarkQueueStorm(b *testing.B) {
	for _, n := range []int{64, 1024, 4096} {
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			events := stormEvents(n)
			ctx := canceled()
			b.ReportAllocs()
			start := cpuTime(b)
			for b.Loop() {
				q := NewQueue()
				for _, e := range events {
					if err := q.Push(e); err != nil {
						b.Fatal(err)
					}
				}
				drainStorm(ctx, b, q, 2048)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
			b.ReportMetric(float64((cpuTime(b)-start).Nanoseconds())/float64(b.N*n), "cpu-ns/event")
		})
	}
}

// cpuTime returns the user and system time this process has used.
func cpuTime(tb testing.TB) time.Duration {
	tb.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// stormEvents returns n events with SEQNUMs 1 to n: per 16, 14 devices on a
// bus, a child of the seventh, then the bus itself.
func stormEvents(n int) []*Event {
	events := make([]*Event, n)
	for i := range n {
		bus := fmt.Sprintf("/devices/sim/bus%d", i/16)
		p := fmt.Sprintf("%s/dev%d", bus, i)
		switch i % 16 {
		case 7:
			p = fmt.Sprintf("%s/dev%d/sub", bus, i-1)
		case 15:
			p = bus
		}
		events[i] = qev{uint64(i + 1), p, "sim", nil}.event()
	}
	return events
}

// drainStorm runs q to empty with at most limit events running, finishing
// the oldest running event whenever the limit is reached or nothing is
// runnable.
func drainStorm(ctx context.Context, tb testing.TB, q *Queue, limit int) {
	tb.Helper()
	var running []*Event
	for q.Len() > 0 {
		if len(running) < limit {
			if e := tryNext(ctx, tb, q); e != nil {
				running = append(running, e)
				continue
			}
		}
		if len(running) == 0 {
			tb.Fatalf("%d events queued, none running, and none runnable", q.Len())
		}
		if err := q.Done(running[0]); err != nil {
			tb.Fatal(err)
		}
		running = running[1:]
	}
}
