package workers

// The meminfo inputs are captured /proc/meminfo files; testdata/README says
// where each comes from and how to add one.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func readMeminfo(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "meminfo", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseMemTotal(t *testing.T) {
	tests := []struct {
		file string
		kib  uint64
	}{
		{file: "container-24g.txt", kib: 24684096},
		{file: "server-256g.txt", kib: 263856296},
		{file: "vm-512m.txt", kib: 498684},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := parseMemTotal(readMeminfo(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.kib*1024 {
				t.Errorf("parseMemTotal = %d, want %d kB = %d bytes", got, tt.kib, tt.kib*1024)
			}
		})
	}
}

func TestParseMemTotalErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{name: "empty", in: ""},
		{name: "no MemTotal", in: "MemFree:        309368 kB\n"},
		{name: "no unit", in: "MemTotal:       498684\n"},
		{name: "wrong unit", in: "MemTotal:       498684 MB\n"},
		{name: "not a number", in: "MemTotal:       lots kB\n"},
		{name: "negative", in: "MemTotal:       -1 kB\n"},
		{name: "overflows uint64", in: "MemTotal:       99999999999999999999 kB\n"},
		{name: "overflows bytes", in: "MemTotal:       18014398509481984 kB\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := parseMemTotal([]byte(tt.in)); err == nil {
				t.Errorf("parseMemTotal(%q) = %d, want an error", tt.in, got)
			}
		})
	}
}

func TestDefaultLimit(t *testing.T) {
	tests := []struct {
		name    string
		cpus    int
		meminfo string // file in testdata/meminfo; "" means unreadable
		want    int
	}{
		// 24684096 kB is 188 units of 128 MiB; CPUs limit.
		{name: "container", cpus: 2, meminfo: "container-24g.txt", want: 2*2 + 16},
		// 263856296 kB is 2013 units of 128 MiB.
		{name: "56 CPUs, 256 GiB", cpus: 56, meminfo: "server-256g.txt", want: 56*2 + 16},
		{name: "255 CPUs, 256 GiB", cpus: 255, meminfo: "server-256g.txt", want: 255*2 + 16},
		{name: "memory limits", cpus: 1500, meminfo: "server-256g.txt", want: 2013},
		// 498684 kB is 3 units, raised to the floor of 10.
		{name: "512 MiB VM", cpus: 1, meminfo: "vm-512m.txt", want: 10},
		{name: "512 MiB VM, 8 CPUs", cpus: 8, meminfo: "vm-512m.txt", want: 10},
		{name: "meminfo unreadable", cpus: 4, want: 4*2 + 16},
		{name: "never over 2048", cpus: 5000, want: 2048},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := func() ([]byte, error) { return nil, errors.New("no /proc") }
			if tt.meminfo != "" {
				b := readMeminfo(t, tt.meminfo)
				src = func() ([]byte, error) { return b, nil }
			}
			if got := defaultLimit(tt.cpus, src); got != tt.want {
				t.Errorf("defaultLimit(%d, %s) = %d, want %d", tt.cpus, tt.meminfo, got, tt.want)
			}
		})
	}
}

func TestDefaultLimitHere(t *testing.T) {
	got := DefaultLimit()
	if got < 1 || got > limitMax {
		t.Errorf("DefaultLimit() = %d, want 1..%d", got, limitMax)
	}
}

// FuzzParseMemTotal checks that whatever parseMemTotal accepts has a
// MemTotal line, is a whole number of KiB, and survives a round trip
// through the kernel's own format.
func FuzzParseMemTotal(f *testing.F) {
	for _, name := range []string{"container-24g.txt", "server-256g.txt", "vm-512m.txt"} {
		f.Add(readMeminfo(f, name))
	}
	f.Add([]byte("MemTotal: 1 kB"))
	f.Add([]byte("MemTotal:\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := parseMemTotal(in)
		if err != nil {
			return
		}
		if !bytes.Contains(in, []byte("MemTotal:")) {
			t.Fatalf("parseMemTotal(%q) = %d without a MemTotal line", in, got)
		}
		if got%1024 != 0 {
			t.Fatalf("parseMemTotal(%q) = %d, not whole KiB", in, got)
		}
		again, err := parseMemTotal(fmt.Appendf(nil, "MemTotal:       %d kB\n", got/1024))
		if err != nil || again != got {
			t.Fatalf("round trip of %d = %d, %v", got, again, err)
		}
	})
}
