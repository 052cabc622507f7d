package modalias

import (
	"runtime"
	"slices"
	"testing"
	"time"
)

// Targets, on the Debian 6.1 index: Load under 30 ms and 8 MiB, Resolve
// median under 10 µs over the conformance lookups.
//
//	go test ./modalias -run '^$' -bench . -benchtime 20x

// BenchmarkLoad builds the index from in-memory files. B/op counts every
// byte allocated while building; retained-MiB is the heap the finished
// Index keeps alive.
func BenchmarkLoad(b *testing.B) {
	for _, version := range kernels {
		b.Run(version, func(b *testing.B) {
			src := kernelSources(b, version)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			ix, err := Load(src)
			if err != nil {
				b.Fatal(err)
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			runtime.KeepAlive(ix)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := Load(src); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "retained-MiB")
		})
	}
}

// BenchmarkResolve resolves every conformance lookup in turn and reports
// the median and 99th percentile of single lookups.
func BenchmarkResolve(b *testing.B) {
	for _, version := range kernels {
		b.Run(version, func(b *testing.B) {
			ix, err := Load(kernelSources(b, version))
			if err != nil {
				b.Fatal(err)
			}
			ix.Resolve("symbol:x") // read modules.symbols now, not in the first timed lookup
			var lookups []string
			for _, e := range readExpectations(b, version) {
				lookups = append(lookups, e.lookup)
			}
			d := make([]time.Duration, len(lookups))
			for i, l := range lookups {
				t0 := time.Now()
				ix.Resolve(l)
				d[i] = time.Since(t0)
			}
			slices.Sort(d)
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				ix.Resolve(lookups[i%len(lookups)])
				i++
			}
			b.ReportMetric(float64(d[len(d)/2].Nanoseconds()), "median-ns")
			b.ReportMetric(float64(d[len(d)*99/100].Nanoseconds()), "p99-ns")
			b.ReportMetric(float64(d[len(d)-1].Nanoseconds()), "max-ns")
		})
	}
}
