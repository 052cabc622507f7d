package modules

import (
	"context"
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
type slots struct {
	sem chan struct{} // nil: no bound

	mu      sync.Mutex               // guards the fields below
	urgent  map[string]int           // kernel requests waiting for the module
	waiting map[string]chan struct{} // loads waiting for a slot; closed to let one through
}

func newSlots(n int) *slots {
	s := &slots{urgent: map[string]int{}, waiting: map[string]chan struct{}{}}
	if n > 0 {
		s.sem = make(chan struct{}, n)
	}
	return s
}

// acquire waits for a slot for module name's load and returns its release.
// A load the kernel is waiting for gets through without one.
func (s *slots) acquire(ctx context.Context, name string) (release func(), err error) {
	if s.sem == nil {
		return func() {}, nil
	}
	s.mu.Lock()
	if s.urgent[name] > 0 {
		s.mu.Unlock()
		return func() {}, nil
	}
	let := make(chan struct{})
	s.waiting[name] = let
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.waiting[name] == let {
			delete(s.waiting, name)
		}
		s.mu.Unlock()
	}()
	select {
	case s.sem <- struct{}{}:
		return func() { <-s.sem }, nil
	case <-let:
		return func() {}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// urge marks module name as needed by a kernel request until the returned
// func is called: its load, waiting or about to start, takes no slot.
func (s *slots) urge(name string) (done func()) {
	s.mu.Lock()
	s.urgent[name]++
	if let, ok := s.waiting[name]; ok {
		close(let)
		delete(s.waiting, name)
	}
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
