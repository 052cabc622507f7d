package modload

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestLoaderRealSysfsState reads initstate through the real kernel type
// from a fake sysfs tree.
func TestLoaderRealSysfsState(t *testing.T) {
	root := t.TempDir()
	for rel, data := range map[string]string{
		"module/live_mod/initstate":       "live\n",
		"module/coming_mod/initstate":     "coming\n",
		"module/going_mod/initstate":      "going\n",
		"module/odd_mod/initstate":        "sleeping\n",
		"module/builtin_mod/parameters/x": "1\n",
		"module/compression":              "zstd\n",
	} {
		p := filepath.Join(root, rel)
		if err := errors.Join(os.MkdirAll(filepath.Dir(p), 0o755), os.WriteFile(p, []byte(data), 0o644)); err != nil {
			t.Fatal(err)
		}
	}
	k := sysKernel{root: root}
	tests := []struct {
		name    string
		want    ModuleState
		wantErr bool
	}{
		{"live_mod", StateLive, false},
		{"coming_mod", StateComing, false},
		{"going_mod", StateGoing, false},
		{"builtin_mod", StateNoInitstate, false},
		{"absent_mod", StateGone, false},
		{"odd_mod", StateGone, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := k.ModuleState(tt.name)
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("ModuleState = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
	if c, err := k.Compression(); c != "zstd" || err != nil {
		t.Errorf("compression = %q, %v; want zstd", c, err)
	}
	if c, err := (sysKernel{root: t.TempDir()}).Compression(); c != "" || err != nil {
		t.Errorf("compression without the file = %q, %v; want none", c, err)
	}
}

// TestCheckELFReal checks the ELF check on a real Debian module: whole, it
// passes; cut before its section headers end, it fails.
func TestCheckELFReal(t *testing.T) {
	plain, err := os.ReadFile("testdata/ko/irqbypass.ko")
	if err != nil {
		t.Fatal(err)
	}
	if err := checkELF(plain, int64(len(plain))); err != nil {
		t.Errorf("checkELF(irqbypass.ko): %v", err)
	}
	// The section headers end at 13200+32*64 = 15248 (readelf -h); the
	// module signature follows them.
	for _, size := range []int{15248, 15247, 1000} {
		err := checkELF(plain[:size], int64(size))
		if got, want := err == nil, size == 15248; got != want {
			t.Errorf("checkELF(irqbypass.ko cut to %d bytes) = %v, want ok %v", size, err, want)
		}
	}
}

// FuzzCheckELF: whatever checkELF accepts has an ELF magic, a whole header
// for its class, and a section table inside the file; compressionOf never
// calls an ELF file compressed.
func FuzzCheckELF(f *testing.F) {
	plain, err := os.ReadFile("testdata/ko/irqbypass.ko")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(plain[:elf64HeaderSize], int64(len(plain)))
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
