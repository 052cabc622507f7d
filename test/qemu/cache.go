package qemu

import (
	"os"
	"path/filepath"
)

// CacheDir is where downloads, extracted packages, initramfs images and
// discovered module sets live between runs: $GUDEVD_CACHE, else
// $HOME/.cache/gudevd.
func CacheDir() string {
	if d := os.Getenv("GUDEVD_CACHE"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "gudevd-cache")
	}
	return filepath.Join(home, ".cache", "gudevd")
}
