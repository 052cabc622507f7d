package modalias

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"testing/fstest"
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
// the median and 99th percentile of single lookups, by the text Index
// (patterns.go) and by an opened one (libkmod's walk over the .bin trie).
func BenchmarkResolve(b *testing.B) {
	for _, version := range kernels {
		for _, path := range []string{"text", "bin"} {
			b.Run(version+"/"+path, func(b *testing.B) { benchResolve(b, version, path) })
		}
	}
}

func benchResolve(b *testing.B, version, path string) {
	src := kernelSources(b, version)
	open := Load
	if path == "bin" {
		src, open = withBinIndexes(b, src), Open
	}
	ix, err := open(src)
	if err != nil {
		b.Fatal(err)
	}
	defer ix.Close()
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
}

// BenchmarkOneLookup is the kernel's modprobe helper without a daemon: one
// process, one lookup, from nothing to the answer. text is Load, which
// parses every text file; bin is Open, which maps the .bin indexes and
// reads only the nodes the lookup walks, then Close. The tree is Debian's
// 6.1 on disk: the testdata text files and the .bin indexes the test
// writer makes of them (byte for byte depmod's, TestBinWriterMatchesDepmod),
// or GUDEVD_DEPMOD_DIR's.
func BenchmarkOneLookup(b *testing.B) {
	dir := os.Getenv("GUDEVD_DEPMOD_DIR")
	if dir == "" {
		dir = b.TempDir()
		src := withBinIndexes(b, kernelSources(b, kernels[0]))
		for name, f := range src.Modules.(fstest.MapFS) {
			if err := os.WriteFile(filepath.Join(dir, name), f.Data, 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	src := Sources{Modules: os.DirFS(dir), Root: os.DirFS(b.TempDir())}
	lookups := []string{"crypto-md4", "fs-minix", "net-pf-29",
		"pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00"}
	for _, path := range []string{"text", "bin"} {
		open := Load
		if path == "bin" {
			open = Open
		}
		for _, l := range lookups {
			b.Run(path+"/"+l, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					ix, err := open(src)
					if err != nil {
						b.Fatal(err)
					}
					if len(ix.Candidates(l)) == 0 {
						b.Fatalf("%s: no module", l)
					}
					ix.Close()
				}
			})
		}
	}
}
