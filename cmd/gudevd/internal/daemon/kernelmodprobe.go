package daemon

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/gudevd/gudevd/cmd/gudevd/internal/control"
)

const kernelModprobePath = "/proc/sys/kernel/modprobe"

// setKernelModprobe makes the kernel's request_module() run gudevd: the
// kernel execs the file named in /proc/sys/kernel/modprobe as
// `modprobe -q -- NAME` for crypto algorithms, file systems and protocols, and
// those requests then share the daemon's in-flight state. The helper is a
// symlink named modprobe, so the binary knows how it was called. The old
// value comes back on exit.
func setKernelModprobe(log *slog.Logger) (restore func(), err error) {
	old, err := os.ReadFile(kernelModprobePath)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", kernelModprobePath, err)
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable: %w", err)
	}
	link := filepath.Join(filepath.Dir(control.DefaultPath), "modprobe")
	os.Remove(link)
	if err := os.Symlink(exe, link); err != nil {
		return nil, fmt.Errorf("link kernel modprobe helper: %w", err)
	}
	if err := os.WriteFile(kernelModprobePath, []byte(link), 0); err != nil {
		os.Remove(link)
		return nil, fmt.Errorf("write %s: %w", kernelModprobePath, err)
	}
	log.Info("kernel modprobe helper", "path", link, "was", strings.TrimSpace(string(old)))
	return func() {
		if err := os.WriteFile(kernelModprobePath, old, 0); err != nil {
			log.Error("restore kernel modprobe helper", "err", err)
		}
		os.Remove(link)
	}, nil
}
