package dist

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// repoRoot is the module root, the parent of this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	abs, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// run runs a command and fails the test with its output if it fails.
func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// install runs `make install DESTDIR=tmp` plus vars and returns DESTDIR.
func install(t *testing.T, vars ...string) string {
	t.Helper()
	requireTool(t, "make")
	dest := t.TempDir()
	run(t, repoRoot(t), nil, "make", append([]string{"-s", "install", "DESTDIR=" + dest}, vars...)...)
	return dest
}

// strict reports whether a missing tool or package must fail the test
// rather than skip it, as `make test` asks.
func strict() bool { return os.Getenv("GUDEVD_REQUIRE_QEMU") == "1" }

// unavailable skips the test, or fails it under GUDEVD_REQUIRE_QEMU=1.
func unavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	if strict() {
		t.Fatalf(format+" (GUDEVD_REQUIRE_QEMU=1: `make deps` installs it)", args...)
	}
	t.Skipf(format+" (set GUDEVD_REQUIRE_QEMU=1 to fail instead)", args...)
}

func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		unavailable(t, "%s is not installed", name)
	}
	return p
}

// cacheDir is where downloads are kept between runs, as the QEMU harness
// keeps its own: ${GUDEVD_CACHE:-$HOME/.cache/gudevd}.
func cacheDir(t *testing.T) string {
	t.Helper()
	if c := os.Getenv("GUDEVD_CACHE"); c != "" {
		return c
	}
	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatalf("find the cache: %v", err)
	}
	return filepath.Join(home, ".cache", "gudevd")
}

// deb returns the unpacked contents of Debian package pkg (the version apt
// offers), downloading it into the cache's debs/ once and unpacking it
// into debs/x/PKG once.
func deb(t *testing.T, pkg string) string {
	t.Helper()
	debs := filepath.Join(cacheDir(t), "debs")
	x := filepath.Join(debs, "x", pkg)
	if _, err := os.Stat(filepath.Join(x, ".unpacked")); err == nil {
		return x
	}
	requireTool(t, "dpkg-deb")
	// dpkg-deb -x makes its target directory but not the target's parent.
	if err := os.MkdirAll(filepath.Dir(x), 0o755); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(debs, pkg+"_*.deb"))
	if len(files) == 0 {
		requireTool(t, "apt-get")
		cmd := exec.Command("apt-get", "download", pkg)
		cmd.Dir = debs
		if out, err := cmd.CombinedOutput(); err != nil {
			unavailable(t, "apt-get download %s: %v\n%s", pkg, err, out)
		}
		files, _ = filepath.Glob(filepath.Join(debs, pkg+"_*.deb"))
	}
	if len(files) == 0 {
		t.Fatalf("apt-get download %s left no %s_*.deb in %s", pkg, pkg, debs)
	}
	tmp := x + ".tmp"
	os.RemoveAll(tmp)
	run(t, "", nil, "dpkg-deb", "-x", files[len(files)-1], tmp)
	if err := os.WriteFile(filepath.Join(tmp, ".unpacked"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(x)
	if err := os.Rename(tmp, x); err != nil {
		t.Fatal(err)
	}
	return x
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
