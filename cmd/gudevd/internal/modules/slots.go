package modules

import (
	"container/heap"
	"context"
	"slices"
	"sync"
)

// KernelReserve is how many loads the kernel's own requests may run beyond
// MaxLoads: the kernel runs at most MAX_KMOD_CONCURRENT (50) modprobe
// helpers at once (kernel/module/kmod.c), so a pool of MaxLoads +
// KernelReserve workers always has room for every request the kernel can
// have in flight.
const KernelReserve = 50

// slots bounds the loads that run at once, each holding its module image in
// kernel memory, and lets the kernel's own requests past the bound.
//
// A module's init may call request_module(): the kernel then runs the
// helper (gudevd modprobe), which asks the daemon for the nested module and
// waits, while the outer load holds its slot. If every slot is held by such
// loads, a nested request that waits for a slot waits for ever (until the
// event timeout kills the outer workers). So a load the kernel asked for
// takes no slot, and a load that is waiting for a slot when a kernel
// request joins it is let through at once.
//
// When loads wait for a slot, the next one goes to the heaviest: the load
// with the most module bytes still to load behind it in its plan (weigh).
// On 6.1 at 16 vCPUs (TCG) the loads run for seconds each and slow each
// other; in arrival order, irqbypass, the head of the longest chain
// (irqbypass, kvm, kvm_amd), waited from 1.8 s to 6.1 s behind a few dozen
// short ones, and that chain then set the time to settle.
type slots struct {
	n int // 0: no bound

	mu      sync.Mutex // guards the fields below
	used    int
	queue   waiters              // loads waiting for a slot, heaviest first
	urgent  map[string]int       // kernel requests waiting for the module
	waiting map[string][]*waiter // the queue's entries by module
	seq     uint64               // arrival order, to break ties
}

// waiter is one load waiting for a slot. ready is closed when it may run:
// with a slot (slot true) or, urged by a kernel request, without one.
type waiter struct {
	name   string
	weight int64
	seq    uint64
	index  int // in queue; -1 once out of it
	ready  chan struct{}
	slot   bool
}

func newSlots(n int) *slots {
	return &slots{n: max(n, 0), urgent: map[string]int{}, waiting: map[string][]*waiter{}}
}

// acquire waits for a slot for module name's load, of weight weight, and
// returns its release. A load the kernel is waiting for gets through
// without one.
func (s *slots) acquire(ctx context.Context, name string, weight int64) (release func(), err error) {
	if s.n == 0 {
		return func() {}, nil
	}
	s.mu.Lock()
	switch {
	case s.urgent[name] > 0:
		s.mu.Unlock()
		return func() {}, nil
	case s.used < s.n:
		s.used++
		s.mu.Unlock()
		return s.release, nil
	}
	s.seq++
	w := &waiter{name: name, weight: weight, seq: s.seq, ready: make(chan struct{})}
	heap.Push(&s.queue, w)
	s.waiting[name] = append(s.waiting[name], w)
	s.mu.Unlock()
	select {
	case <-w.ready:
	case <-ctx.Done():
		s.mu.Lock()
		if w.index >= 0 {
			s.dropLocked(w)
			s.mu.Unlock()
			return nil, ctx.Err()
		}
		s.mu.Unlock()
		// Let through meanwhile: give back what it got.
		if w.slot {
			s.release()
		}
		return nil, ctx.Err()
	}
	if w.slot {
		return s.release, nil
	}
	return func() {}, nil
}

// release frees a slot: the heaviest waiting load takes it over.
func (s *slots) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.queue.Len() == 0 {
		s.used--
		return
	}
	w := heap.Pop(&s.queue).(*waiter)
	s.forgetLocked(w)
	w.slot = true
	close(w.ready)
}

// dropLocked takes w out of the queue.
func (s *slots) dropLocked(w *waiter) {
	heap.Remove(&s.queue, w.index)
	s.forgetLocked(w)
}

func (s *slots) forgetLocked(w *waiter) {
	w.index = -1
	l := slices.DeleteFunc(s.waiting[w.name], func(x *waiter) bool { return x == w })
	if len(l) == 0 {
		delete(s.waiting, w.name)
	} else {
		s.waiting[w.name] = l
	}
}

// waiters is a max-heap of waiting loads by weight, then arrival.
type waiters []*waiter

func (q waiters) Len() int { return len(q) }
func (q waiters) Less(i, j int) bool {
	if q[i].weight != q[j].weight {
		return q[i].weight > q[j].weight
	}
	return q[i].seq < q[j].seq
}
func (q waiters) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *waiters) Push(x any) {
	w := x.(*waiter)
	w.index = len(*q)
	*q = append(*q, w)
}
func (q *waiters) Pop() any {
	old := *q
	w := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return w
}

// urge marks module name as needed by a kernel request until the returned
// func is called: its load, waiting or about to start, takes no slot.
func (s *slots) urge(name string) (done func()) {
	s.mu.Lock()
	s.urgent[name]++
	for _, w := range s.waiting[name] {
		heap.Remove(&s.queue, w.index)
		w.index = -1
		close(w.ready)
	}
	delete(s.waiting, name)
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		if s.urgent[name]--; s.urgent[name] == 0 {
			delete(s.urgent, name)
		}
		s.mu.Unlock()
	}
}

// kernelRequestKey marks a context as a request the kernel made.
type kernelRequestKey struct{}

// KernelRequest marks ctx as serving the kernel's request_module() (the
// modprobe helper): its loads never wait for a slot held by a load that may
// be waiting for them.
func KernelRequest(ctx context.Context) context.Context {
	return context.WithValue(ctx, kernelRequestKey{}, true)
}

func isKernelRequest(ctx context.Context) bool {
	v, _ := ctx.Value(kernelRequestKey{}).(bool)
	return v
}
