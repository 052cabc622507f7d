package workers

import (
	"context"
	"fmt"
	"sync"
)

// Sharing says how a Group.Do call got its result.
type Sharing int

const (
	// Started: this call found no run for its key and started one.
	Started Sharing = iota + 1
	// JoinedInFlight: a run for the key was going on; this call waited for it.
	JoinedInFlight
	// ServedFromDone: the key's run had finished; this call got its result.
	ServedFromDone
)

func (s Sharing) String() string {
	switch s {
	case Started:
		return "started"
	case JoinedInFlight:
		return "joined in-flight"
	case ServedFromDone:
		return "served from done"
	}
	return fmt.Sprintf("Sharing(%d)", int(s))
}

// Counters count Group.Do calls, in total or for one key.
type Counters struct {
	Requests uint64 // Do and Retry calls
	Started  uint64 // runs of fn
	Joined   uint64 // calls that waited for a run in flight
	Served   uint64 // calls answered from a finished run
	Failures uint64 // runs that returned an error
}

// A call is one run of fn for a key. val and err are written once, before
// done is closed, and only read after.
type call struct {
	done chan struct{}
	val  []byte
	err  error
}

func (c *call) finished() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// A Group runs fn at most once per key at a time and remembers every result,
// success or failure, until told to forget it. See the package documentation
// for the failure policy.
type Group struct {
	ctx    context.Context // handed to every fn: owned by the Group, not by a caller
	cancel context.CancelFunc
	runs   sync.WaitGroup // every fn in flight

	mu     sync.Mutex // guards the fields below
	closed bool
	calls  map[string]*call
	keys   map[string]*Counters
	total  Counters
}

// NewGroup returns an empty Group. Close it to cancel the context its runs
// see and wait for them.
func NewGroup() *Group {
	ctx, cancel := context.WithCancel(context.Background())
	return &Group{
		ctx:    ctx,
		cancel: cancel,
		calls:  make(map[string]*call),
		keys:   make(map[string]*Counters),
	}
}

// Do returns key's result. The first call for a key starts fn in a goroutine
// the Group owns, with a context the Group owns; every later call, while fn
// runs or after it returned, shares that one result. A call whose ctx ends
// stops waiting and returns ctx.Err(), but the run goes on for the others.
//
// The returned slice is shared by every caller of the key: do not modify it.
// On a closed Group, a key with no run fails with ErrClosed and how is 0.
func (g *Group) Do(ctx context.Context, key string, fn func(context.Context) ([]byte, error)) (val []byte, err error, how Sharing) {
	return g.do(ctx, key, fn, false)
}

// Retry is Do for a caller that wants a failed key tried again (gudevd load
// run by hand): if key's finished run failed, it is forgotten first. A
// successful or in-flight run is shared as by Do.
func (g *Group) Retry(ctx context.Context, key string, fn func(context.Context) ([]byte, error)) (val []byte, err error, how Sharing) {
	return g.do(ctx, key, fn, true)
}

func (g *Group) do(ctx context.Context, key string, fn func(context.Context) ([]byte, error), retry bool) ([]byte, error, Sharing) {
	g.mu.Lock()
	if retry {
		if c, ok := g.calls[key]; ok && c.finished() && c.err != nil {
			delete(g.calls, key)
		}
	}
	c, how, err := g.joinLocked(key, fn)
	g.mu.Unlock()
	if err != nil {
		return nil, err, how
	}
	select {
	case <-c.done:
		return c.val, c.err, how
	case <-ctx.Done():
		return nil, ctx.Err(), how
	}
}

// joinLocked counts a request for key and finds or starts its run.
func (g *Group) joinLocked(key string, fn func(context.Context) ([]byte, error)) (*call, Sharing, error) {
	kc := g.keys[key]
	if kc == nil {
		kc = new(Counters)
		g.keys[key] = kc
	}
	kc.Requests++
	g.total.Requests++
	if c, ok := g.calls[key]; ok {
		if c.finished() {
			kc.Served++
			g.total.Served++
			return c, ServedFromDone, nil
		}
		kc.Joined++
		g.total.Joined++
		return c, JoinedInFlight, nil
	}
	if g.closed {
		return nil, 0, fmt.Errorf("run %q: %w", key, ErrClosed)
	}
	kc.Started++
	g.total.Started++
	c := &call{done: make(chan struct{})}
	g.calls[key] = c
	g.runs.Add(1)
	go g.run(key, c, fn)
	return c, Started, nil
}

// run runs fn for key and publishes its result to every waiter.
func (g *Group) run(key string, c *call, fn func(context.Context) ([]byte, error)) {
	defer g.runs.Done()
	defer func() {
		// fn runs in the daemon: a panic there must not take every device
		// with it. It becomes that key's failure.
		if r := recover(); r != nil {
			c.val, c.err = nil, fmt.Errorf("run %q: panic: %v", key, r)
		}
		if c.err != nil {
			g.mu.Lock()
			g.keys[key].Failures++
			g.total.Failures++
			g.mu.Unlock()
		}
		close(c.done)
	}()
	c.val, c.err = fn(g.ctx)
}

// Has reports whether key has a run, in flight or finished, that Do would
// share rather than start fn. It counts nothing: a caller uses it to choose
// a cheaper way to wait, then asks Do as usual.
func (g *Group) Has(key string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	_, ok := g.calls[key]
	return ok
}

// Forget drops key's finished result, success or failure, so the next
// request runs fn again (the module was removed). A run in flight is not
// forgotten: a second concurrent run of one key is exactly what the Group
// exists to prevent. Forget reports whether it dropped a result.
func (g *Group) Forget(key string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	c, ok := g.calls[key]
	if !ok || !c.finished() {
		return false
	}
	delete(g.calls, key)
	return true
}

// ForgetFailed drops every finished failure (the module index changed, so a
// module that was missing may now exist) and returns how many it dropped.
func (g *Group) ForgetFailed() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for key, c := range g.calls {
		if c.finished() && c.err != nil {
			delete(g.calls, key)
			n++
		}
	}
	return n
}

// Stats returns the counters over every key.
func (g *Group) Stats() Counters {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.total
}

// KeyStats returns a copy of every key's counters. Counters outlive Forget.
func (g *Group) KeyStats() map[string]Counters {
	g.mu.Lock()
	defer g.mu.Unlock()
	m := make(map[string]Counters, len(g.keys))
	for k, c := range g.keys {
		m[k] = *c
	}
	return m
}

// Close makes Do refuse to start new runs (finished results are still
// served), cancels the context runs see, and waits for them to return, or
// for ctx to end.
func (g *Group) Close(ctx context.Context) error {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.cancel()
	return waitCtx(ctx, &g.runs)
}

// waitCtx waits for wg, or for ctx to end. The goroutine it starts ends
// when wg does; a caller that gives up leaves it behind only until then.
func waitCtx(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
