package workers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// serveOnPipe runs Serve on one end of an in-memory pipe and returns the
// other end and Serve's result.
func serveOnPipe(t *testing.T, ctx context.Context, h Handler) (net.Conn, <-chan error) {
	t.Helper()
	daemon, worker := net.Pipe()
	t.Cleanup(func() { daemon.Close() })
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, worker, worker, h)
		worker.Close()
	}()
	return daemon, done
}

func TestServeReplies(t *testing.T) {
	h := func(ctx context.Context, job []byte) ([]byte, error) {
		switch string(job) {
		case "exists":
			return nil, fmt.Errorf("load kvm: %w", syscall.EEXIST)
		case "plain":
			return nil, errors.New("bad job")
		case "huge":
			return make([]byte, MaxPayload+1), nil
		}
		return bytes.ToUpper(job), nil
	}
	tests := []struct {
		name string
		job  frame
		want frame
	}{
		{
			name: "result",
			job:  frame{kind: kindJob, id: 5, payload: []byte("snd")},
			want: frame{kind: kindResult, id: 5, payload: []byte("SND")},
		},
		{
			name: "error with errno",
			job:  frame{kind: kindJob, id: 6, payload: []byte("exists")},
			want: frame{kind: kindError, id: 6, errno: syscall.EEXIST, payload: []byte("load kvm: file exists")},
		},
		{
			name: "error without errno",
			job:  frame{kind: kindJob, id: 7, payload: []byte("plain")},
			want: frame{kind: kindError, id: 7, payload: []byte("bad job")},
		},
		{
			name: "result too large becomes an error",
			job:  frame{kind: kindJob, id: 8, payload: []byte("huge")},
			want: frame{kind: kindError, id: 8, errno: syscall.EMSGSIZE, payload: []byte(fmt.Sprintf("reply to job 8 with %d bytes: frame too large", MaxPayload+1))},
		},
	}
	daemon, done := serveOnPipe(t, context.Background(), h)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := writeFrame(daemon, tt.job); err != nil {
				t.Fatal(err)
			}
			got, err := readFrame(daemon)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(frame{})); diff != "" {
				t.Errorf("reply (-want +got):\n%s", diff)
			}
		})
	}
	daemon.Close()
	if err := <-done; err != nil {
		t.Errorf("Serve after the daemon closed its end = %v, want nil", err)
	}
}

func TestServeRejectsNonJob(t *testing.T) {
	daemon, done := serveOnPipe(t, context.Background(), func(context.Context, []byte) ([]byte, error) {
		t.Error("handler called for a non-job frame")
		return nil, nil
	})
	go writeFrame(daemon, frame{kind: kindResult, id: 1})
	if err := <-done; !errors.Is(err, errBadFrame) {
		t.Errorf("Serve given a result frame = %v, want errBadFrame", err)
	}
}

func TestServeGarbage(t *testing.T) {
	daemon, done := serveOnPipe(t, context.Background(), nil)
	go daemon.Write([]byte{0x7f, 0xff, 0xff, 0xff})
	if err := <-done; !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("Serve given a huge length = %v, want ErrFrameTooLarge", err)
	}
}

func TestServeTruncatedJob(t *testing.T) {
	daemon, done := serveOnPipe(t, context.Background(), nil)
	go func() {
		daemon.Write([]byte{0, 0, 0, 20, 1})
		daemon.Close()
	}()
	if err := <-done; !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Serve given a truncated frame = %v, want io.ErrUnexpectedEOF", err)
	}
}

// TestServeCancel checks that ctx interrupts a Serve blocked reading, for a
// reader with deadlines, as WorkerConn's file is.
func TestServeCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	_, done := serveOnPipe(t, ctx, nil)
	time.Sleep(20 * time.Millisecond) // let Serve block in its read
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Serve after cancel = %v, want context.Canceled", err)
	}
}
