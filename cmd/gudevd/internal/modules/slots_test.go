package modules

import (
	"context"
	"errors"
	"io/fs"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gudevd/gudevd/modload"
)

// TestSlotsHeaviestFirst: when loads wait for a slot, each freed slot goes
// to the heaviest waiting load, ties in arrival order.
func TestSlotsHeaviestFirst(t *testing.T) {
	tests := []struct {
		name    string
		weights []int64 // of the loads queued behind the one running, in arrival order
		want    []int   // the order they get the slot, by index
	}{
		{"heaviest first", []int64{1, 10, 5}, []int{1, 2, 0}},
		{"ties by arrival", []int64{3, 3, 3}, []int{0, 1, 2}},
		{"a chain's head before leaves", []int64{100, 2_000_000, 1, 1_300_000}, []int{1, 3, 0, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSlots(1)
			hold, err := s.acquire(context.Background(), "running", 0)
			if err != nil {
				t.Fatal(err)
			}
			order := make(chan int, len(tt.weights))
			var wg sync.WaitGroup
			for i, w := range tt.weights {
				wg.Go(func() {
					release, err := s.acquire(context.Background(), "m", w)
					if err != nil {
						t.Error(err)
						return
					}
					order <- i
					release()
				})
				waitQueued(t, s, i+1)
			}
			hold()
			var got []int
			for range tt.weights {
				got = append(got, <-order)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("order of the waiting loads (-want +got):\n%s", diff)
			}
			wg.Wait()
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.used != 0 || s.queue.Len() != 0 {
				t.Errorf("after every release: %d slots used, %d waiting", s.used, s.queue.Len())
			}
		})
	}
}

// TestSlotsUrgeAndCancel: a kernel request lets a waiting load of its
// module through without a slot, and a load whose caller gives up leaves
// the queue without taking the next free slot.
func TestSlotsUrgeAndCancel(t *testing.T) {
	s := newSlots(1)
	hold, _ := s.acquire(context.Background(), "running", 0)
	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() {
		_, err := s.acquire(ctx, "gone", 99)
		gaveUp <- err
	}()
	waitQueued(t, s, 1)
	urged := make(chan struct{})
	go func() {
		release, err := s.acquire(context.Background(), "nested", 1)
		if err != nil {
			t.Error(err)
		}
		release()
		close(urged)
	}()
	waitQueued(t, s, 2)
	done := s.urge("nested")
	select {
	case <-urged:
	case <-time.After(5 * time.Second):
		t.Fatal("a load the kernel asked for still waits for a slot")
	}
	done()
	cancel()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled wait returned %v", err)
	}
	hold()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.used != 0 || s.queue.Len() != 0 {
		t.Errorf("%d slots used, %d waiting: the cancelled load took the slot", s.used, s.queue.Len())
	}
}

// TestWeighChains: a step weighs its own file plus the heaviest chain of
// steps that need it, so the head of a long chain outweighs a big leaf.
func TestWeighChains(t *testing.T) {
	c := &Catalog{sizes: map[string]int64{"irqbypass.ko": 10, "kvm.ko": 1000, "kvm-amd.ko": 200, "e1000.ko": 300}}
	c.files = emptyFS{}
	plan := &modload.Plan{Steps: []modload.Step{
		{Name: "irqbypass", Path: "irqbypass.ko"},
		{Name: "kvm", Path: "kvm.ko", Deps: []string{"irqbypass"}},
		{Name: "kvm_amd", Path: "kvm-amd.ko", Deps: []string{"kvm", "irqbypass"}},
		{Name: "e1000", Path: "e1000.ko"},
		{Name: "soft", Pre: []string{"e1000"}},
	}}
	want := map[string]int64{"kvm_amd": 201, "kvm": 1202, "irqbypass": 1213, "soft": 1, "e1000": 302}
	if diff := cmp.Diff(want, c.weigh(plan)); diff != "" {
		t.Errorf("weights (-want +got):\n%s", diff)
	}
}

// waitQueued waits until n loads wait for a slot.
func waitQueued(t *testing.T, s *slots, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		s.mu.Lock()
		q := s.queue.Len()
		s.mu.Unlock()
		if q >= n {
			return
		}
	}
	t.Fatalf("%d loads did not queue", n)
}

// emptyFS holds no file: TestWeighChains's sizes come from the cache.
type emptyFS struct{}

func (emptyFS) Open(name string) (fs.File, error) { return nil, fs.ErrNotExist }
