package workers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestGroupExactlyOnce sends 4096 concurrent requests over 64 keys, half of
// them while every run is held in flight and half after, and checks that
// each key's fn ran exactly once and every request got that run's result.
func TestGroupExactlyOnce(t *testing.T) {
	const requests, keys = 4096, 64
	g := NewGroup()
	defer g.Close(context.Background())

	var calls [keys]atomic.Int32
	release := make(chan struct{})
	fn := func(k int) func(context.Context) ([]byte, error) {
		return func(context.Context) ([]byte, error) {
			calls[k].Add(1)
			<-release
			if k%8 == 0 {
				return nil, fmt.Errorf("load key %d: %w", k, syscall.ENOENT)
			}
			return []byte(fmt.Sprint("result ", k)), nil
		}
	}
	type answer struct {
		val string
		err error
		how Sharing
	}
	answers := make([]answer, requests)
	var wg sync.WaitGroup
	request := func(i int) {
		k := i % keys
		val, err, how := g.Do(context.Background(), fmt.Sprint("key", k), fn(k))
		answers[i] = answer{string(val), err, how}
	}
	for i := range requests / 2 {
		wg.Go(func() { request(i) })
	}
	waitFor(t, "the first half to be waiting", func() bool {
		s := g.Stats()
		return s.Requests == requests/2
	})
	close(release)
	for i := requests / 2; i < requests; i++ {
		wg.Go(func() { request(i) })
	}
	wg.Wait()

	for k := range keys {
		if n := calls[k].Load(); n != 1 {
			t.Errorf("key%d: fn ran %d times, want 1", k, n)
		}
	}
	hows := make(map[Sharing]int)
	for i, a := range answers {
		k := i % keys
		hows[a.how]++
		if k%8 == 0 {
			if !errors.Is(a.err, syscall.ENOENT) {
				t.Errorf("request %d for key%d: error %v, want ENOENT", i, k, a.err)
			}
			continue
		}
		if a.err != nil || a.val != fmt.Sprint("result ", k) {
			t.Errorf("request %d for key%d = %q, %v, want its result", i, k, a.val, a.err)
		}
	}
	s := g.Stats()
	want := Counters{
		Requests: requests,
		Started:  keys,
		Joined:   uint64(hows[JoinedInFlight]),
		Served:   uint64(hows[ServedFromDone]),
		Failures: keys / 8,
	}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
	if hows[Started] != keys || hows[JoinedInFlight] < requests/2-keys || hows[ServedFromDone] == 0 {
		t.Errorf("sharing = %v, want %d started, at least %d joined in flight, some served from done", hows, keys, requests/2-keys)
	}
	if got := g.KeyStats()["key1"]; got.Requests != requests/keys || got.Started != 1 {
		t.Errorf("KeyStats[key1] = %+v, want %d requests, 1 started", got, requests/keys)
	}
}

// TestGroupSharing walks one key through its life: started, joined while
// in flight, served once done.
func TestGroupSharing(t *testing.T) {
	g := NewGroup()
	defer g.Close(context.Background())
	release := make(chan struct{})
	var calls atomic.Int32
	fn := func(context.Context) ([]byte, error) {
		calls.Add(1)
		<-release
		return []byte("loaded"), nil
	}
	type answer struct {
		Val string
		Err error
		How Sharing
	}
	first := make(chan answer, 1)
	go func() {
		val, err, how := g.Do(context.Background(), "m", fn)
		first <- answer{string(val), err, how}
	}()
	waitFor(t, "the first run to start", func() bool { return calls.Load() == 1 })
	joined := make(chan answer, 1)
	go func() {
		val, err, how := g.Do(context.Background(), "m", fn)
		joined <- answer{string(val), err, how}
	}()
	waitFor(t, "the second request", func() bool { return g.Stats().Joined == 1 })
	close(release)
	val, err, how := g.Do(context.Background(), "m", fn)
	// The third request may come before the run publishes its result.
	if how == JoinedInFlight {
		how = ServedFromDone
	}
	got := []answer{<-first, <-joined, {string(val), err, how}}
	want := []answer{{"loaded", nil, Started}, {"loaded", nil, JoinedInFlight}, {"loaded", nil, ServedFromDone}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("fn ran %d times, want 1", n)
	}
}

// TestGroupCancelledCaller checks that the caller that started a run can
// give up without cancelling the run for the others.
func TestGroupCancelledCaller(t *testing.T) {
	g := NewGroup()
	defer g.Close(context.Background())
	release := make(chan struct{})
	runCtxErr := make(chan error, 1)
	fn := func(ctx context.Context) ([]byte, error) {
		<-release
		runCtxErr <- ctx.Err()
		return []byte("done"), nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	starter := make(chan error, 1)
	go func() {
		_, err, _ := g.Do(ctx, "m", fn)
		starter <- err
	}()
	waitFor(t, "the run to start", func() bool { return g.Stats().Started == 1 })
	cancel()
	if err := <-starter; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled starter got %v, want context.Canceled", err)
	}
	other := make(chan []byte, 1)
	go func() {
		val, _, _ := g.Do(context.Background(), "m", fn)
		other <- val
	}()
	waitFor(t, "the second request", func() bool { return g.Stats().Requests == 2 })
	close(release)
	if err := <-runCtxErr; err != nil {
		t.Errorf("the run's context ended with its starter's: %v", err)
	}
	if val := <-other; string(val) != "done" {
		t.Errorf("the other caller got %q, want the run's result", val)
	}
}

func TestGroupForget(t *testing.T) {
	ok := func(context.Context) ([]byte, error) { return []byte("ok"), nil }
	fail := func(context.Context) ([]byte, error) { return nil, syscall.ENOENT }
	type step struct {
		op   string // do, retry, forget, forgetfailed
		key  string
		fn   func(context.Context) ([]byte, error)
		want any // Sharing for do and retry, bool for forget, int for forgetfailed
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{
			name: "success is kept until forgotten",
			steps: []step{
				{op: "do", key: "a", fn: ok, want: Started},
				{op: "do", key: "a", fn: ok, want: ServedFromDone},
				{op: "forget", key: "a", want: true},
				{op: "do", key: "a", fn: ok, want: Started},
				{op: "forget", key: "missing", want: false},
			},
		},
		{
			name: "failure is kept until forgotten",
			steps: []step{
				{op: "do", key: "a", fn: fail, want: Started},
				{op: "do", key: "a", fn: ok, want: ServedFromDone},
				{op: "forget", key: "a", want: true},
				{op: "do", key: "a", fn: ok, want: Started},
			},
		},
		{
			name: "ForgetFailed drops failures only",
			steps: []step{
				{op: "do", key: "good", fn: ok, want: Started},
				{op: "do", key: "bad1", fn: fail, want: Started},
				{op: "do", key: "bad2", fn: fail, want: Started},
				{op: "forgetfailed", want: 2},
				{op: "do", key: "good", fn: ok, want: ServedFromDone},
				{op: "do", key: "bad1", fn: ok, want: Started},
				{op: "forgetfailed", want: 0},
			},
		},
		{
			name: "Retry reruns a failure and shares a success",
			steps: []step{
				{op: "do", key: "a", fn: fail, want: Started},
				{op: "retry", key: "a", fn: ok, want: Started},
				{op: "retry", key: "a", fn: ok, want: ServedFromDone},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewGroup()
			defer g.Close(context.Background())
			for i, s := range tt.steps {
				var got any
				switch s.op {
				case "do":
					_, _, got = g.Do(context.Background(), s.key, s.fn)
				case "retry":
					_, _, got = g.Retry(context.Background(), s.key, s.fn)
				case "forget":
					got = g.Forget(s.key)
				case "forgetfailed":
					got = g.ForgetFailed()
				}
				if diff := cmp.Diff(s.want, got); diff != "" {
					t.Errorf("step %d (%s %s) (-want +got):\n%s", i, s.op, s.key, diff)
				}
			}
		})
	}
}

// TestGroupForgetInFlight checks that no Forget lets a second run of a key
// start while the first is in flight.
func TestGroupForgetInFlight(t *testing.T) {
	g := NewGroup()
	defer g.Close(context.Background())
	release := make(chan struct{})
	var calls atomic.Int32
	fn := func(context.Context) ([]byte, error) {
		calls.Add(1)
		<-release
		return nil, syscall.EIO
	}
	done := make(chan struct{})
	go func() {
		g.Do(context.Background(), "m", fn)
		close(done)
	}()
	waitFor(t, "the run to start", func() bool { return calls.Load() == 1 })
	if g.Forget("m") {
		t.Error("Forget dropped a run in flight")
	}
	if n := g.ForgetFailed(); n != 0 {
		t.Errorf("ForgetFailed dropped %d runs in flight", n)
	}
	retried := make(chan Sharing, 1)
	go func() {
		_, _, how := g.Retry(context.Background(), "m", fn)
		retried <- how
	}()
	waitFor(t, "the retry to join", func() bool { return g.Stats().Joined == 1 })
	close(release)
	<-done
	if how := <-retried; how != JoinedInFlight {
		t.Errorf("Retry during the run = %v, want %v", how, JoinedInFlight)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("fn ran %d times, want 1", n)
	}
}

func TestGroupPanicBecomesFailure(t *testing.T) {
	g := NewGroup()
	defer g.Close(context.Background())
	_, err, _ := g.Do(context.Background(), "m", func(context.Context) ([]byte, error) { panic("boom") })
	if err == nil {
		t.Fatal("a panicking fn succeeded")
	}
	if s := g.Stats(); s.Failures != 1 {
		t.Errorf("Stats = %+v, want 1 failure", s)
	}
}

func TestGroupClose(t *testing.T) {
	g := NewGroup()
	if _, err, _ := g.Do(context.Background(), "done", func(context.Context) ([]byte, error) { return []byte("v"), nil }); err != nil {
		t.Fatal(err)
	}
	sawCancel := make(chan error, 1)
	started := make(chan struct{})
	go g.Do(context.Background(), "running", func(ctx context.Context) ([]byte, error) {
		close(started)
		<-ctx.Done()
		sawCancel <- ctx.Err()
		return nil, ctx.Err()
	})
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-sawCancel; !errors.Is(err, context.Canceled) {
		t.Errorf("run saw %v on Close, want context.Canceled", err)
	}
	if _, err, _ := g.Do(context.Background(), "new", func(context.Context) ([]byte, error) { return nil, nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Do of a new key after Close = %v, want ErrClosed", err)
	}
	if val, err, how := g.Do(context.Background(), "done", nil); err != nil || string(val) != "v" || how != ServedFromDone {
		t.Errorf("Do of a done key after Close = %q, %v, %v, want its result", val, err, how)
	}
}

func TestGroupHas(t *testing.T) {
	g := NewGroup()
	defer g.Close(context.Background())
	ctx := context.Background()
	if g.Has("k") {
		t.Fatal("Has on an unknown key = true")
	}
	release := make(chan struct{})
	started := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		g.Do(ctx, "k", func(context.Context) ([]byte, error) {
			close(started)
			<-release
			return nil, errors.New("boom")
		})
	}()
	<-started
	if !g.Has("k") {
		t.Error("Has on a key in flight = false, want true: Do joins it")
	}
	close(release)
	<-done
	if !g.Has("k") {
		t.Error("Has on a failed key = false, want true: Do serves the failure")
	}
	before := g.Stats()
	g.Has("k")
	if after := g.Stats(); after != before {
		t.Errorf("Has changed the counters: %+v -> %+v", before, after)
	}
	g.Forget("k")
	if g.Has("k") {
		t.Error("Has after Forget = true")
	}
}
