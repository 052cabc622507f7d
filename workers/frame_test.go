package workers

// The golden frames in testdata/frames pin the wire format: a change to the
// encoding that would make an old worker and a new daemon disagree fails
// here. Regenerate them, after a deliberate format change only, with
//
//	go test ./workers -run TestFrameGolden -update

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/frames from the table in TestFrameGolden")

func TestFrameGolden(t *testing.T) {
	tests := []struct {
		file string
		want frame
	}{
		{file: "job.bin", want: frame{kind: kindJob, id: 1, payload: []byte("snd_hda_intel")}},
		{file: "job-empty.bin", want: frame{kind: kindJob, id: 2, payload: []byte{}}},
		{file: "result.bin", want: frame{kind: kindResult, id: 1 << 40, payload: []byte("loaded\x00\xff")}},
		{file: "error-errno.bin", want: frame{kind: kindError, id: 42, errno: syscall.EEXIST, payload: []byte("load kvm_intel: file exists")}},
		{file: "error-no-errno.bin", want: frame{kind: kindError, id: 43, payload: []byte("bad job")}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", "frames", tt.file)
			if *update {
				b, err := appendFrame(nil, tt.want)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			r := bytes.NewReader(b)
			got, err := readFrame(r)
			if err != nil {
				t.Fatalf("readFrame: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(frame{})); diff != "" {
				t.Errorf("decoded frame (-want +got):\n%s", diff)
			}
			if r.Len() != 0 {
				t.Errorf("readFrame left %d bytes of a one-frame file", r.Len())
			}
			enc, err := appendFrame(nil, tt.want)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(enc, b) {
				t.Errorf("encoding differs from the golden file:\n got %x\nwant %x", enc, b)
			}
		})
	}
}

func TestReadFrameErrors(t *testing.T) {
	header := func(n uint32, rest ...byte) []byte {
		return append(binary.BigEndian.AppendUint32(nil, n), rest...)
	}
	id := make([]byte, 8)
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{name: "empty stream", in: nil, want: io.EOF},
		{name: "short length", in: []byte{0, 0, 1}, want: io.ErrUnexpectedEOF},
		{name: "length over max", in: header(MaxFrame + 1), want: ErrFrameTooLarge},
		{name: "length 4 GiB", in: header(0xffffffff, 'x'), want: syscall.EMSGSIZE},
		{name: "length under header", in: header(3, 1, 0, 0), want: errBadFrame},
		{name: "body cut short", in: header(20, append([]byte{1}, id...)...), want: io.ErrUnexpectedEOF},
		{name: "body missing", in: header(9), want: io.ErrUnexpectedEOF},
		{name: "unknown kind", in: header(9, append([]byte{9}, id...)...), want: errBadFrame},
		{name: "kind zero", in: header(9, append([]byte{0}, id...)...), want: errBadFrame},
		{name: "error frame without errno", in: header(11, append(append([]byte{3}, id...), 0, 0)...), want: errBadFrame},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := readFrame(bytes.NewReader(tt.in))
			if !errors.Is(err, tt.want) {
				t.Errorf("readFrame = %+v, %v; want error %v", f, err, tt.want)
			}
		})
	}
}

func TestAppendFrameTooLarge(t *testing.T) {
	tests := []struct {
		name string
		f    frame
		ok   bool
	}{
		{name: "largest job", f: frame{kind: kindJob, payload: make([]byte, MaxPayload)}, ok: true},
		{name: "job one byte over", f: frame{kind: kindJob, payload: make([]byte, MaxPayload+1)}},
		{name: "error frame counts its errno", f: frame{kind: kindError, payload: make([]byte, MaxPayload)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := appendFrame(nil, tt.f)
			if tt.ok && err != nil {
				t.Errorf("appendFrame: %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrFrameTooLarge) {
				t.Errorf("appendFrame = %v, want ErrFrameTooLarge", err)
			}
		})
	}
}

// FuzzReadFrame feeds arbitrary streams to the decoder: it must not panic,
// must never read a body whose length exceeds MaxFrame, must fail with one
// of its known errors, and what it accepts must re-encode to exactly the
// bytes it consumed.
func FuzzReadFrame(f *testing.F) {
	for _, name := range []string{"job.bin", "job-empty.bin", "result.bin", "error-errno.bin", "error-no-errno.bin"} {
		b, err := os.ReadFile(filepath.Join("testdata", "frames", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 9, 3, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		got, err := readFrame(r)
		consumed := len(data) - r.Len()
		if err != nil {
			known := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
				errors.Is(err, ErrFrameTooLarge) || errors.Is(err, errBadFrame)
			if !known {
				t.Fatalf("readFrame(%x): unexpected error %v", data, err)
			}
			if errors.Is(err, ErrFrameTooLarge) && consumed != lengthSize {
				t.Fatalf("readFrame(%x) read %d bytes of a frame too large to read", data, consumed)
			}
			return
		}
		if len(got.payload) > MaxPayload {
			t.Fatalf("readFrame(%x) returned a %d-byte payload, over MaxPayload", data, len(got.payload))
		}
		enc, err := appendFrame(nil, got)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", got, err)
		}
		if !bytes.Equal(enc, data[:consumed]) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", enc, data[:consumed])
		}
	})
}

// FuzzFrameRoundTrip checks decode(encode(x)) == x for every frame the
// encoder accepts.
func FuzzFrameRoundTrip(f *testing.F) {
	f.Add(uint8(1), uint64(1), uint32(0), []byte("snd_hda_intel"))
	f.Add(uint8(3), uint64(1<<63), uint32(17), []byte("file exists"))
	f.Add(uint8(2), uint64(0), uint32(0), []byte{})
	f.Fuzz(func(t *testing.T, kind uint8, id uint64, errno uint32, payload []byte) {
		in := frame{kind: kindJob + frameKind(kind%3), id: id, payload: payload}
		if in.kind == kindError {
			in.errno = syscall.Errno(errno)
		}
		enc, err := appendFrame(nil, in)
		if err != nil {
			t.Fatalf("appendFrame(%+v): %v", in, err)
		}
		r := bytes.NewReader(enc)
		out, err := readFrame(r)
		if err != nil {
			t.Fatalf("readFrame(appendFrame(%+v)): %v", in, err)
		}
		if r.Len() != 0 {
			t.Errorf("readFrame left %d bytes", r.Len())
		}
		if diff := cmp.Diff(in, out, cmp.AllowUnexported(frame{}), cmp.Comparer(bytes.Equal)); diff != "" {
			t.Errorf("round trip (-in +out):\n%s", diff)
		}
	})
}
