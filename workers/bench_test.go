package workers

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkGroupDo measures Do from many goroutines over K keys, once every
// key has run: the steady state of a boot, when duplicate uevents for
// modules already loaded keep arriving.
func BenchmarkGroupDo(b *testing.B) {
	for _, keys := range []int{1, 64, 4096} {
		b.Run(fmt.Sprintf("keys=%d", keys), func(b *testing.B) {
			g := NewGroup()
			defer g.Close(context.Background())
			names := make([]string, keys)
			for i := range names {
				names[i] = fmt.Sprint("module", i)
			}
			fn := func(context.Context) ([]byte, error) { return []byte("ok"), nil }
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if _, err, _ := g.Do(context.Background(), names[i%keys], fn); err != nil {
						b.Error(err)
						return
					}
					i++
				}
			})
		})
	}
}

// BenchmarkPoolRun measures one job's round trip to a warm worker process:
// frame out, handler, frame back.
func BenchmarkPoolRun(b *testing.B) {
	start, _ := testStart(b)
	p, err := NewPool(Config{Start: start, Max: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close(context.Background())
	job := []byte("echo snd_hda_intel")
	if _, err := p.Run(context.Background(), job); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := p.Run(context.Background(), job); err != nil {
			b.Fatal(err)
		}
	}
}
