package privaterun

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Run runs the test named child of this test binary again under
// unshare(1) in a private mount namespace, with key=value in its
// environment, and fails t unless the child passes. It skips where the
// namespace or udevadm is not available: without root, without unshare,
// or when the child skips.
func Run(t *testing.T, child, key, value string) {
	t.Helper()
	unshare, err := exec.LookPath("unshare")
	if err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and unshare(1) for a private /run")
	}
	self, err := os.Executable() // not /proc/self/exe: unshare(1) would resolve it to itself
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, unshare, "--mount", "--propagation", "private", self, "-test.run=^"+child+"$", "-test.v")
	cmd.Env = append(os.Environ(), key+"="+value)
	out, err := cmd.CombinedOutput()
	switch {
	case strings.Contains(string(out), "unshare failed"), strings.Contains(string(out), "--- SKIP: "+child):
		t.Skipf("no private /run here:\n%s", out)
	case err != nil:
		t.Fatalf("%v:\n%s", err, out)
	case !strings.Contains(string(out), "--- PASS: "+child):
		t.Fatalf("%s did not run:\n%s", child, out)
	}
}

// Enter is the child's side: it returns the value Run put under key and
// mounts a tmpfs on /run. Run by anything else than Run, the child
// skips.
func Enter(t *testing.T, key string) string {
	t.Helper()
	v := os.Getenv(key)
	if v == "" {
		t.Skip("run by its parent test in a private mount namespace")
	}
	if err := unix.Mount("tmpfs", "/run", "tmpfs", 0, "mode=0755"); err != nil {
		t.Skipf("mount a tmpfs on /run: %v", err)
	}
	return v
}

// Udevadm is the real udevadm's path; the test skips without one.
func Udevadm(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("udevadm")
	if err != nil {
		t.Skip("no udevadm")
	}
	return p
}
