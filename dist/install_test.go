package dist

import (
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// installed lists every regular file under dest with its mode, as
// "MODE /path".
func installed(t *testing.T, dest string) []string {
	t.Helper()
	var got []string
	err := filepath.WalkDir(dest, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dest, p)
		got = append(got, fi.Mode().String()+" /"+rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestInstallLayout: `make install` lays out exactly these files with these
// modes, for the default PREFIX and for /usr/local.
func TestInstallLayout(t *testing.T) {
	files := func(prefix string) []string {
		return []string{
			"-rw-r--r-- /etc/udev/rules.d/80-drivers.rules",
			"-rwxr-xr-x " + prefix + "/lib/dracut/modules.d/90gudevd/gudevd-start.sh",
			"-rwxr-xr-x " + prefix + "/lib/dracut/modules.d/90gudevd/gudevd-stop.sh",
			"-rw-r--r-- " + prefix + "/lib/dracut/modules.d/90gudevd/initrd-udevadm-cleanup-db.conf",
			"-rwxr-xr-x " + prefix + "/lib/dracut/modules.d/90gudevd/module-setup.sh",
			"-rw-r--r-- " + prefix + "/lib/systemd/system/gudevd.service",
			"-rw-r--r-- " + prefix + "/lib/systemd/system/modprobe@.service.d/gudevd.conf",
			"-rwxr-xr-x " + prefix + "/sbin/gudevd",
			"-rwxr-xr-x " + prefix + "/share/initramfs-tools/hooks/gudevd",
			"-rwxr-xr-x " + prefix + "/share/initramfs-tools/scripts/init-bottom/gudevd",
			"-rwxr-xr-x " + prefix + "/share/initramfs-tools/scripts/init-top/gudevd",
		}
	}
	for _, tt := range []struct {
		name string
		vars []string
		want []string
	}{
		{"default", nil, files("/usr")},
		{"PREFIX=/usr", []string{"PREFIX=/usr"}, files("/usr")},
		{"PREFIX=/usr/local", []string{"PREFIX=/usr/local"}, files("/usr/local")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := installed(t, install(t, tt.vars...))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("installed files (-want +got):\n%s", diff)
			}
		})
	}
}

// TestInstallSubstitutesSbindir: every shipped file that runs gudevd names
// it where SBINDIR put it, and no file still names /usr/sbin/gudevd.
func TestInstallSubstitutesSbindir(t *testing.T) {
	const sbin = "/opt/gudevd/sbin"
	dest := install(t, "SBINDIR="+sbin)
	names := map[string]bool{ // file -> whether it runs gudevd
		"/etc/udev/rules.d/80-drivers.rules":                                true,
		"/usr/lib/dracut/modules.d/90gudevd/gudevd-start.sh":                true,
		"/usr/lib/dracut/modules.d/90gudevd/gudevd-stop.sh":                 true,
		"/usr/lib/dracut/modules.d/90gudevd/initrd-udevadm-cleanup-db.conf": false,
		"/usr/lib/dracut/modules.d/90gudevd/module-setup.sh":                true,
		"/usr/lib/systemd/system/gudevd.service":                            true,
		"/usr/lib/systemd/system/modprobe@.service.d/gudevd.conf":           true,
		"/usr/share/initramfs-tools/hooks/gudevd":                           true,
		"/usr/share/initramfs-tools/scripts/init-bottom/gudevd":             true,
		"/usr/share/initramfs-tools/scripts/init-top/gudevd":                true,
	}
	for _, f := range installed(t, dest) {
		path := strings.SplitN(f, " ", 2)[1]
		if path == sbin+"/gudevd" {
			continue
		}
		runs, ok := names[path]
		if !ok {
			t.Errorf("%s: not in the test's list", path)
			continue
		}
		text := readFile(t, filepath.Join(dest, path))
		if strings.Contains(text, "/usr/sbin/gudevd") {
			t.Errorf("%s still names /usr/sbin/gudevd", path)
		}
		if got := strings.Contains(text, sbin+"/gudevd"); got != runs {
			t.Errorf("%s names %s/gudevd: %v, want %v", path, sbin, got, runs)
		}
	}
}
