package modloadtest

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// elf64HeaderSize is the size of an ELF64 file header.
const elf64HeaderSize = 64

// MakeKo returns the smallest file the Loader's ELF check and Kernel
// accept as module name: a valid ELF64 header without sections, then
// "name=NAME", standing in for the .modinfo entry the kernel reads the
// name from.
func MakeKo(name string) []byte {
	h := make([]byte, elf64HeaderSize)
	copy(h, "\x7fELF")
	h[4], h[5], h[6] = 2, 1, 1 // ELFCLASS64, little endian, EV_CURRENT
	h[0x10] = 1                // ET_REL
	h[0x12] = 62               // EM_X86_64
	h[0x34] = elf64HeaderSize  // e_ehsize
	return append(h, "\x00name="+name+"\x00"...)
}

// NameOf returns the module name an image carries, as the kernel finds it
// in .modinfo: the "name=" entry of an ELF file, or "" (the kernel would
// refuse the image with ENOEXEC). Real modules carry it too.
func NameOf(image []byte) string {
	if !bytes.HasPrefix(image, []byte("\x7fELF")) {
		return ""
	}
	_, after, ok := bytes.Cut(image, []byte("\x00name="))
	if !ok {
		return ""
	}
	name, _, _ := bytes.Cut(after, []byte{0})
	return string(name)
}

// Compress compresses b as the kernel build does for compressed modules:
// c is "xz", "zstd", "gzip", or "" for b itself.
func Compress(c string, b []byte) ([]byte, error) {
	var buf bytes.Buffer
	var w io.WriteCloser
	var err error
	switch c {
	case "":
		return b, nil
	case "xz":
		w, err = xz.NewWriter(&buf)
	case "zstd":
		w, err = zstd.NewWriter(&buf)
	case "gzip":
		w = gzip.NewWriter(&buf)
	default:
		return nil, fmt.Errorf("compress module: unknown compression %q", c)
	}
	if err != nil {
		return nil, fmt.Errorf("compress module: %w", err)
	}
	if _, err := w.Write(b); err != nil {
		return nil, fmt.Errorf("compress module: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("compress module: %w", err)
	}
	return buf.Bytes(), nil
}

func decompress(c string, b []byte) ([]byte, error) {
	var r io.Reader
	var err error
	switch c {
	case "xz":
		r, err = xz.NewReader(bytes.NewReader(b))
	case "zstd":
		var d *zstd.Decoder
		d, err = zstd.NewReader(bytes.NewReader(b))
		if err == nil {
			defer d.Close()
			r = d
		}
	case "gzip":
		r, err = gzip.NewReader(bytes.NewReader(b))
	default:
		return nil, fmt.Errorf("decompress: unknown compression %q", c)
	}
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}
