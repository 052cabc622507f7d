package daemon

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// KernelModprobePath is where the kernel reads the program its
// request_module() runs (kernel/module/kmod.c, modprobe_path).
const KernelModprobePath = "/proc/sys/kernel/modprobe"

// HelperName is the name of the kernel's helper link, next to the control
// socket: the kernel runs it as `PATH -q -- NAME` with argv[0] = PATH
// (call_modprobe), so gudevd knows it is the helper, and which daemon
// installed it, from argv[0] alone (see HelperControl).
const HelperName = "modprobe"

// HelperControl returns the control socket a helper run as argv0 must
// dial: the socket next to it when argv0 is the link a daemon made (the
// kernel runs it by its full path), else def.
func HelperControl(argv0, def string) string {
	if !IsKernelHelper(argv0) {
		return def
	}
	return filepath.Join(filepath.Dir(argv0), "control")
}

// IsKernelHelper tells whether argv0 is the helper link a daemon made: then
// the kernel's request_module() is the caller, blocked in the kernel on one
// of its 50 helper slots, and its request must not queue behind uevents'
// loads (see modules.KernelRequest). gudevd installed as /sbin/modprobe
// is not a daemon's link, and asks as any modprobe does.
func IsKernelHelper(argv0 string) bool {
	if !filepath.IsAbs(argv0) || filepath.Base(argv0) != HelperName {
		return false
	}
	fi, err := os.Lstat(argv0)
	return err == nil && fi.Mode()&os.ModeSymlink != 0
}

// setKernelModprobe makes the kernel's request_module() run gudevd: the
// kernel execs the file named in sysctl (/proc/sys/kernel/modprobe) as
// `modprobe -q -- NAME` for crypto algorithms, file systems and protocols,
// and those requests then share the daemon's in-flight state. The helper is
// a symlink named modprobe next to the control socket, so the binary knows
// how it was called and which daemon to ask. The directory is made if it is
// missing (a fresh /run has no /run/gudevd). The old value comes back on
// exit.
func setKernelModprobe(log *slog.Logger, sysctl, controlPath string) (restore func(), err error) {
	old, err := os.ReadFile(sysctl)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", sysctl, err)
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable: %w", err)
	}
	dir := filepath.Dir(controlPath)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create kernel modprobe helper directory: %w", err)
	}
	link := filepath.Join(dir, HelperName)
	os.Remove(link)
	if err := os.Symlink(exe, link); err != nil {
		return nil, fmt.Errorf("link kernel modprobe helper: %w", err)
	}
	if err := os.WriteFile(sysctl, []byte(link), 0); err != nil {
		os.Remove(link)
		return nil, fmt.Errorf("write %s: %w", sysctl, err)
	}
	log.Info("kernel modprobe helper", "path", link, "was", strings.TrimSpace(string(old)))
	return func() {
		if err := os.WriteFile(sysctl, old, 0); err != nil {
			log.Error("restore kernel modprobe helper", "err", err)
		}
		os.Remove(link)
	}, nil
}
