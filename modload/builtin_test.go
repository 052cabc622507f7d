package modload

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseBuiltin(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		want     Builtin
		wantErrs []string
	}{
		{
			name: "paths, names normalised",
			in:   "kernel/net/unix/unix.ko\nkernel/drivers/usb/usb-common.ko\n\n",
			want: Builtin{"unix": true, "usb_common": true},
		},
		{
			name:     "bad line kept out",
			in:       "kernel/a.ko\nnot a module\n",
			want:     Builtin{"a": true},
			wantErrs: []string{`parse modules.builtin:2: module path "not a module" does not end in .ko, .ko.xz, .ko.zst or .ko.gz`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseBuiltin(strings.NewReader(tt.in), "modules.builtin")
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantErrs, errorLines(err)); diff != "" {
				t.Errorf("errors mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadBuiltin(t *testing.T) {
	b, err := LoadBuiltin(os.DirFS("testdata"))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"unix": true, "e1000": false} {
		if got := b.Has(name); got != want {
			t.Errorf("Has(%q) = %v, want %v", name, got, want)
		}
	}
	b, err = LoadBuiltin(os.DirFS(t.TempDir()))
	if err != nil || len(b) != 0 {
		t.Errorf("LoadBuiltin without the file = %v, %v; want empty", b, err)
	}
}

// FuzzParseBuiltin: every accepted name is a normalised module name, every
// error a *SyntaxError on a line of the input.
func FuzzParseBuiltin(f *testing.F) {
	f.Add("kernel/net/unix/unix.ko\nkernel/drivers/usb/usb-common.ko\n")
	f.Add("x\n\n#c\n.ko\n")
	f.Fuzz(func(t *testing.T, in string) {
		b, err := ParseBuiltin(strings.NewReader(in), "f")
		if b == nil {
			t.Fatalf("nil set: %v", err)
		}
		for name := range b {
			if name == "" || strings.ContainsAny(name, "-./") {
				t.Errorf("name %q", name)
			}
		}
		lines := strings.Count(in, "\n") + 1
		for _, e := range unjoin(err) {
			var se *SyntaxError
			if !errors.As(e, &se) || se.Line < 1 || se.Line > lines {
				t.Errorf("bad error %#v", e)
			}
		}
	})
}

// FuzzCheckELF: whatever checkELF accepts has an ELF magic, a whole header
// for its class, and a section table inside the file; compressionOf never
// calls an ELF file compressed.
func FuzzCheckELF(f *testing.F) {
	f.Add(makeKo("m"), int64(80))
	f.Add([]byte("\x7fELF\x01\x01"), int64(6))
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd}, int64(4))
	f.Fuzz(func(t *testing.T, hdr []byte, size int64) {
		err := checkELF(hdr, size)
		if compressionOf(hdr) != "" && err == nil {
			t.Fatalf("compressed magic accepted as ELF")
		}
		if err != nil {
			if !errors.Is(err, ErrNotModule) {
				t.Fatalf("error %v is not ErrNotModule", err)
			}
			return
		}
		want := map[byte]int{1: elf32HeaderSize, 2: elf64HeaderSize}[hdr[4]]
		if want == 0 || len(hdr) < want || string(hdr[:4]) != "\x7fELF" {
			t.Fatalf("accepted header %x", hdr)
		}
		if size < 0 {
			t.Fatalf("accepted size %d", size)
		}
	})
}
