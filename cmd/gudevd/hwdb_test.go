package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// smallHwdb is the handcrafted database of rules/builtin/testdata/hwdb
// (regen.sh there); the outputs below are systemd-hwdb 252's query of it,
// from small.expected.
var smallHwdb = filepath.Join("..", "..", "rules", "builtin", "testdata", "hwdb", "small.bin")

// runHwdb runs `gudevd hwdb args...` in-process.
func runHwdb(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{
		stdin:  strings.NewReader(""),
		stdout: &out,
		stderr: &errb,
		log:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		getenv: func(string) string { return "" },
	}
	code = run(context.Background(), append([]string{"gudevd", "hwdb"}, args...), e)
	return code, out.String(), errb.String()
}

func TestHwdbCommand(t *testing.T) {
	good, err := os.ReadFile(smallHwdb)
	if err != nil {
		t.Fatal(err)
	}
	root, dir := t.TempDir(), t.TempDir()
	writeTree(t, root, map[string]string{"lib/udev/hwdb.bin": string(good)})
	writeTree(t, dir, map[string]string{"hwdb.bin": string(good[:200])})
	corrupt := filepath.Join(dir, "hwdb.bin")
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantOut    string
		wantStderr string // a substring
	}{
		{"properties in order", []string{"--hwdb", smallHwdb, "--test=pri:abc"}, 0,
			"PRI_HIGH_GLOB=override\nPRI_HIGH_LIT=override\nPRI_LOW_GLOB=override\nETC_EARLY=yes\nPRI_LOW_LIT=base\n", ""},
		{"empty value", []string{"--hwdb=" + smallHwdb, "--test", "multi:two"}, 0, "EMPTY=\nMULTI=shared\n", ""},
		{"no match prints nothing", []string{"--hwdb", smallHwdb, "--test=lit:none"}, 0, "", ""},
		{"search below root", []string{"--root", root, "--test=lit:exact"}, 0, "LIT=exact\n", ""},
		{"no hwdb.bin below root", []string{"--root", t.TempDir(), "--test=lit:exact"}, 1, "", "no hwdb.bin"},
		{"corrupt file", []string{"--hwdb", corrupt, "--test=lit:exact"}, 1, "", "corrupt hwdb.bin"},
		{"no --test", []string{"--hwdb", smallHwdb}, 2, "", "usage: gudevd hwdb"},
		{"an operand", []string{"--test=lit:exact", "extra"}, 2, "", "usage: gudevd hwdb"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, stderr := runHwdb(t, tc.args...)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.wantCode, stderr)
			}
			if diff := cmp.Diff(tc.wantOut, out); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
			if !strings.Contains(stderr, tc.wantStderr) {
				t.Errorf("stderr %q does not contain %q", stderr, tc.wantStderr)
			}
		})
	}
}
