package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gudevd/gudevd/modalias"
)

// The module tree is Debian's 6.1 index from modalias/testdata (see
// modalias/testdata/regen.sh) with modalias' test modprobe.d.
const resolveVersion = "6.1.0-47-amd64"

// resolveRoot unpacks the tree into a temporary root directory.
func resolveRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	src := filepath.Join("..", "..", "modalias", "testdata")
	mods := filepath.Join(root, "lib", "modules", resolveVersion)
	if err := os.MkdirAll(mods, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"modules.alias", "modules.dep", "modules.builtin", "modules.builtin.modinfo", "modules.softdep"} {
		zf, err := os.Open(filepath.Join(src, resolveVersion, f+".gz"))
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(zf)
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(zr)
		zf.Close()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(mods, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	conf, err := os.ReadFile(filepath.Join(src, "modprobe.d", "gudevd-test.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "etc", "modprobe.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc", "modprobe.d", "gudevd-test.conf"), conf, 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

// runResolve runs `gudevd resolve args...` in-process.
func runResolve(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{
		stdin:  strings.NewReader(stdin),
		stdout: &out,
		stderr: &errb,
		log:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		getenv: func(string) string { return "" },
	}
	code = run(context.Background(), append([]string{"gudevd", "resolve"}, args...), e)
	return code, out.String(), errb.String()
}

func TestResolveCommand(t *testing.T) {
	root := resolveRoot(t)
	ix, err := modalias.Load(modalias.Sources{
		Modules: os.DirFS(filepath.Join(root, "lib", "modules", resolveVersion)),
		Root:    os.DirFS(root),
	})
	if err != nil {
		t.Fatal(err)
	}
	aliases := []string{
		"usb:v0421p0492d0455dc00dsc00dp00ic08isc06ip50in00",
		"cpu:type:x86,ven0000fam0006mod0055:feature:,0000,0001",
		"gudevd:multi",
		"e1000e",
		"pci:vZZZZ",
	}
	var wantArgs, wantStream strings.Builder
	for _, a := range aliases {
		mods := ix.Resolve(a)
		for _, m := range mods {
			wantArgs.WriteString(m + "\n")
		}
		wantStream.WriteString(a + "\t" + strings.Join(mods, " ") + "\n")
	}
	if !strings.Contains(wantArgs.String(), "usb_storage\n") || strings.Contains(wantArgs.String(), "e1000e") {
		t.Fatalf("unexpected index answers %q: the test tree is not the one expected", wantArgs.String())
	}
	base := []string{"--root", root, "--kernel-version", resolveVersion}

	// The test modprobe.d has lines kmod rejects: each is one warning.
	problems := len(ix.Problems())
	if problems == 0 {
		t.Fatal("the test modprobe.d has no bad lines any more")
	}
	t.Run("arguments", func(t *testing.T) {
		code, out, errs := runResolve(t, "", append(base, aliases...)...)
		if code != 0 || len(warningLines(t, errs)) != problems {
			t.Fatalf("exit %d, stderr %q; want 0 and %d warnings", code, errs, problems)
		}
		if d := cmp.Diff(wantArgs.String(), out); d != "" {
			t.Errorf("stdout (-want +got):\n%s", d)
		}
	})
	t.Run("stdin", func(t *testing.T) {
		code, out, errs := runResolve(t, strings.Join(aliases, "\n")+"\n\n", append(base, "-")...)
		if code != 0 || len(warningLines(t, errs)) != problems {
			t.Fatalf("exit %d, stderr %q; want 0 and %d warnings", code, errs, problems)
		}
		if d := cmp.Diff(wantStream.String(), out); d != "" {
			t.Errorf("stdout (-want +got):\n%s", d)
		}
	})
	t.Run("no arguments", func(t *testing.T) {
		if code, _, errs := runResolve(t, "", base...); code != 2 || !strings.Contains(errs, "usage:") {
			t.Errorf("exit %d, stderr %q; want 2 and usage", code, errs)
		}
	})
	t.Run("missing kernel", func(t *testing.T) {
		code, _, errs := runResolve(t, "", "--root", root, "--kernel-version", "9.9.9", "x")
		if code != 1 || !strings.Contains(errs, filepath.Join(root, "lib/modules/9.9.9")) || strings.Count(errs, "\n") != 1 {
			t.Errorf("exit %d, stderr %q; want 1 and one line naming the directory", code, errs)
		}
	})
}

// TestResolveCommandCorruptIndex: a malformed line costs only that line.
// resolve still answers from the rest and warns about the line, as
// modprobe does.
func TestResolveCommandCorruptIndex(t *testing.T) {
	root := resolveRoot(t)
	alias := filepath.Join(root, "lib", "modules", resolveVersion, "modules.alias")
	if err := os.WriteFile(alias, []byte("alias a:* a\nalias broken\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runResolve(t, "", "--root", root, "--kernel-version", resolveVersion, "a:b")
	if code != 0 || out != "a\n" {
		t.Errorf("exit %d, stdout %q; want 0 and %q", code, out, "a\n")
	}
	var named []string
	for _, w := range warningLines(t, errs) {
		if strings.HasPrefix(w, alias+":") {
			named = append(named, w)
		}
	}
	if len(named) != 1 || !strings.HasPrefix(named[0], alias+":2: ") {
		t.Errorf("warnings about modules.alias %q: want one naming %s:2", named, alias)
	}
}

// warningLine is one problem of the index as resolve reports it.
var warningLine = regexp.MustCompile(`^gudevd resolve: warning: (/\S+:\d+: .*)$`)

// warningLines returns the "FILE:LINE: problem" of every stderr line,
// failing the test for a line that is no such warning.
func warningLines(t *testing.T, stderr string) []string {
	t.Helper()
	var out []string
	for l := range strings.Lines(stderr) {
		m := warningLine.FindStringSubmatch(strings.TrimSuffix(l, "\n"))
		if m == nil {
			t.Errorf("stderr line %q is not a warning naming a file and line", l)
			continue
		}
		out = append(out, m[1])
	}
	return out
}
