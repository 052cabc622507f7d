package modules

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gudevd/gudevd/modload"
	"golang.org/x/sys/unix"
)

// answerLoader answers every load with a finit_module that returned err.
type answerLoader struct{ err map[string]error }

func (l answerLoader) Load(ctx context.Context, s modload.Step) (modload.Result, error) {
	err := l.err[s.Name]
	if err != nil {
		err = &modload.ModuleError{Module: s.Name, Path: s.Path, Op: modload.SyscallFinit, Err: err}
	}
	return modload.Result{Module: s.Name, Syscall: modload.SyscallFinit}, err
}

// TestWorkerWritesRefusals: the worker writes the kernel's refusal before
// it replies, so a daemon killed during the syscall loses nothing; what a
// retry may fix, and a success, it does not write.
func TestWorkerWritesRefusals(t *testing.T) {
	dir := t.TempDir()
	h := Handler(nil, answerLoader{err: map[string]error{"refused": unix.ENODEV, "short": unix.ENOMEM, "again": unix.EAGAIN}}, dir)
	for _, name := range []string{"refused", "short", "again", "fine"} {
		job, err := modload.MarshalStep(modload.Step{Name: name, Path: "/lib/modules/x/" + name + ".ko"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h(t.Context(), job); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if diff := cmp.Diff([]string{"refused"}, got); diff != "" {
		t.Errorf("ledger entries (-want +got):\n%s", diff)
	}
	inherited := ledger{dir: dir, log: slog.New(slog.DiscardHandler)}.load()
	if !slices.Equal(mapKeys(inherited), []string{"refused"}) {
		t.Errorf("load() = %v, want the refused module", mapKeys(inherited))
	}
	if _, err := os.Stat(filepath.Join(dir, ".refused.tmp")); !os.IsNotExist(err) {
		t.Errorf("temporary file left behind: %v", err)
	}
}

func mapKeys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
