package rules

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// corpusPackages are Debian bookworm packages that ship udev rules: udev
// and systemd, and others across storage, input, network, audio,
// scanners, cameras, phones, smart cards, colour and debug probes.
var corpusPackages = []string{
	"udev", "systemd",
	"dmsetup", "lvm2", "mdadm", "multipath-tools", "sg3-utils-udev", "udisks2", "nvme-cli", "hdparm",
	"libinput-bin", "libwacom-common", "libfprint-2-2", "iio-sensor-proxy",
	"bluez", "modemmanager", "gpsd", "pcmciautils", "usb-modeswitch-data", "open-vm-tools",
	"alsa-utils", "pulseaudio",
	"libsane1", "libgphoto2-6", "libmtp-common", "usbmuxd", "android-sdk-platform-tools-common",
	"libccid", "upower", "tlp", "openocd", "colord", "argyll",
}

// TestCorpus parses every rules file of corpusPackages, downloaded with
// apt-get into a cache: udevd 252 reads all of them without an error, so
// neither may the parser.
func TestCorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads Debian packages")
	}
	cache := corpusCache(t)
	root := t.TempDir()
	var files, rules, warnings int
	for _, pkg := range corpusPackages {
		dir := filepath.Join(root, pkg)
		extractDeb(t, corpusDeb(t, cache, pkg), dir)
		n := 0
		for _, p := range corpusRulesFiles(t, dir) {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			rel := pkg + ":" + strings.TrimPrefix(p, dir)
			lines, diags := ParseFile(rel, data, &Options{Users: debianUsers{}})
			for _, d := range diags {
				if d.Severity == Error {
					t.Errorf("%s", d)
				} else {
					warnings++
					t.Logf("warning: %s", d)
				}
			}
			n++
			rules += len(lines)
		}
		if n == 0 {
			t.Errorf("%s ships no rules files", pkg)
		}
		files += n
	}
	t.Logf("%d packages, %d files, %d rules, %d warnings", len(corpusPackages), files, rules, warnings)
}

// corpusCache is $HOME/.cache/gudevd/rules-corpus.
func corpusCache(t testing.TB) string {
	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(home, ".cache", "gudevd", "rules-corpus")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// corpusDeb is pkg's .deb in the cache, downloaded when missing.
func corpusDeb(t testing.TB, cache, pkg string) string {
	if deb, ok := cachedDeb(t, cache, pkg); ok {
		return deb
	}
	cmd := exec.Command("apt-get", "download", pkg)
	cmd.Dir = cache
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("apt-get download %s: %v\n%s", pkg, err, out)
	}
	deb, ok := cachedDeb(t, cache, pkg)
	if !ok {
		t.Fatalf("apt-get download %s left no %s_*.deb", pkg, pkg)
	}
	return deb
}

// cachedDeb is pkg's newest .deb in the cache, if there is one.
func cachedDeb(t testing.TB, cache, pkg string) (string, bool) {
	m, err := filepath.Glob(filepath.Join(cache, pkg+"_*.deb"))
	if err != nil {
		t.Fatal(err)
	}
	if len(m) == 0 {
		return "", false
	}
	return m[len(m)-1], true
}

// extractDeb unpacks a .deb into dir.
func extractDeb(t testing.TB, deb, dir string) {
	if out, err := exec.Command("dpkg-deb", "-x", deb, dir).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -x %s: %v\n%s", deb, err, out)
	}
}

func corpusRulesFiles(t testing.TB, dir string) []string {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		// Only udev's directories: polkit's rules.d holds JavaScript and
		// dracut's modules.d templates it rewrites when it installs them.
		if strings.HasSuffix(p, ".rules") && d.Type().IsRegular() && strings.HasSuffix(filepath.Dir(p), "/udev/rules.d") {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// debianUsers knows every name bookworm's rules use: they are system
// users and groups that exist once their packages are installed, which a
// parse of the packages alone cannot see.
type debianUsers struct{}

func (debianUsers) LookupUser(name string) (uint32, error)  { return 100, nil }
func (debianUsers) LookupGroup(name string) (uint32, error) { return 100, nil }
