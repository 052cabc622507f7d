package rules

import (
	"os"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Speed targets are benchmarks, not timed tests: run them with
//
//	go test -run '^$' -bench . -benchtime 3x ./rules/

// BenchmarkLoadDebian is Load of every rules file of the Debian
// packages TestCorpus reads, unpacked into one root as if all were
// installed (a name in several packages is read once, as udevd does).
func BenchmarkLoadDebian(b *testing.B) {
	cache := corpusCache(b)
	root := b.TempDir()
	for _, pkg := range corpusPackages {
		deb, ok := cachedDeb(b, cache, pkg)
		if !ok {
			b.Skipf("%s is not in %s: fill the cache with go test -run TestCorpus ./rules/ (apt-get download)", pkg, cache)
		}
		extractDeb(b, deb, root)
	}
	fsys := os.DirFS(root)
	opt := &Options{Users: debianUsers{}}
	var rs *Rules
	for b.Loop() {
		var diags []Diagnostic
		rs, diags = Load(fsys, opt)
		for _, d := range diags {
			if d.Severity == Error {
				b.Fatalf("%s", d)
			}
		}
	}
	b.ReportMetric(float64(len(rs.Files)), "files")
	b.ReportMetric(float64(len(rs.Lines)), "rules")
}

// BenchmarkEvalGuest is Eval of the guest's rules (Debian's installed
// rules.d) for the add event of each captured guest device, loaded once
// as the daemon loads them, through the fake Host of
// TestGuestConformance. An op is all the devices; ns/event is the mean
// of one event and median-ns/event the median of every event's own time.
func BenchmarkEvalGuest(b *testing.B) {
	sysfs, rs, db, caps := guestSetup(b)
	type guestRun struct {
		host *FakeHost
		dev  *Device
	}
	runs := make([]guestRun, len(caps))
	for i, c := range caps {
		h, dev, err := guestEvent(b, sysfs, db, c)
		if err != nil {
			b.Fatalf("%s: %v", c.devpath, err)
		}
		runs[i] = guestRun{h, dev}
	}
	var times []time.Duration
	var total time.Duration
	for b.Loop() {
		for _, r := range runs {
			r.host.Calls = r.host.Calls[:0] // the record of the last event
			start := time.Now()
			_, err := Eval(b.Context(), rs, r.dev, r.host)
			d := time.Since(start)
			if err != nil {
				b.Fatalf("%s: %v", r.dev.Syspath, err)
			}
			times = append(times, d)
			total += d
		}
	}
	b.ReportMetric(float64(len(runs)), "events/op")
	b.ReportMetric(float64(total.Nanoseconds())/float64(len(times)), "ns/event")
	b.ReportMetric(float64(median(times).Nanoseconds()), "median-ns/event")
}

// median is the middle of ds (the mean of the two middle ones for an
// even count).
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

func TestMedian(t *testing.T) {
	cases := []struct {
		name string
		in   []time.Duration
		want time.Duration
	}{
		{"none", nil, 0},
		{"odd", []time.Duration{5, 1, 3}, 3},
		{"even", []time.Duration{4, 1, 3, 6}, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if d := cmp.Diff(c.want, median(c.in)); d != "" {
				t.Errorf("median(%v) (-want +got):\n%s", c.in, d)
			}
		})
	}
}
