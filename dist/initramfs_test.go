package dist

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// hookFunctions is Debian's hook-functions, from initramfs-tools-core.
func hookFunctions(t *testing.T) string {
	t.Helper()
	return filepath.Join(deb(t, "initramfs-tools-core"), "usr/share/initramfs-tools/hook-functions")
}

// replaceOnce replaces old, which must occur exactly once.
func replaceOnce(t *testing.T, text, old, new string) string {
	t.Helper()
	if n := strings.Count(text, old); n != 1 {
		t.Fatalf("%q occurs %d times, want once", old, n)
	}
	return strings.Replace(text, old, new, 1)
}

// TestInitramfsHook runs the installed hook as mkinitramfs does, with
// Debian's hook-functions and DESTDIR set, and checks that the binary
// lands where the boot scripts and the rules run it.
func TestInitramfsHook(t *testing.T) {
	hf := hookFunctions(t)
	requireTool(t, "ldd") // copy_exec asks it; a static binary needs no library
	dest := install(t, "PREFIX=/usr")
	hook := readFile(t, filepath.Join(dest, "usr/share/initramfs-tools/hooks/gudevd"))
	hook = replaceOnce(t, hook, ". /usr/share/initramfs-tools/hook-functions", ". "+hf)
	hook = replaceOnce(t, hook, "\nsrc=$gudevd\n", "\nsrc="+filepath.Join(dest, "usr/sbin/gudevd")+"\n")
	script := filepath.Join(t.TempDir(), "gudevd")
	if err := os.WriteFile(script, []byte(hook), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(run(t, "", nil, script, "prereqs")); got != "" {
		t.Errorf("hook prereqs = %q, want none", got)
	}
	initramfs := t.TempDir()
	run(t, "", []string{"DESTDIR=" + initramfs, "verbose=y"}, script)
	want, err := os.ReadFile(filepath.Join(dest, "usr/sbin/gudevd"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(initramfs, "usr/sbin/gudevd"))
	if err != nil {
		t.Fatalf("the hook did not put gudevd into the initramfs: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Error("the initramfs's usr/sbin/gudevd differs from the installed binary")
	}
	var extra []string
	filepath.WalkDir(initramfs, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && p != filepath.Join(initramfs, "usr/sbin/gudevd") {
			extra = append(extra, p)
		}
		return err
	})
	if len(extra) > 0 {
		t.Errorf("the hook copied more than the static binary: %q", extra)
	}
}

// TestUdevHookCopiesOverride: the initramfs gets the override through
// Debian's udev hook, which copies 80-drivers.rules from /etc/udev/rules.d
// when it exists there; gudevd's hook relies on it.
func TestUdevHookCopiesOverride(t *testing.T) {
	hook := readFile(t, filepath.Join(deb(t, "udev"), "usr/share/initramfs-tools/hooks/udev"))
	for _, s := range []string{"80-drivers.rules; do", `if   [ -e /etc/udev/rules.d/$rules ]; then`, `cp -p /etc/udev/rules.d/$rules "$DESTDIR/lib/udev/rules.d/"`} {
		if !strings.Contains(hook, s) {
			t.Errorf("udev's initramfs hook no longer has %q: copy the rules file in gudevd's hook", s)
		}
	}
}

// bootOrder writes the ORDER files mkinitramfs writes (cache_run_scripts
// from hook-functions, tsort over PREREQs) for init-top and init-bottom
// with initramfs-tools-core's and udev's scripts and ours, and returns the
// scripts of each in run order.
func bootOrder(t *testing.T, ours string) map[string][]string {
	t.Helper()
	hf := hookFunctions(t)
	requireTool(t, "tsort")
	root := t.TempDir()
	sources := map[string][]string{
		"init-top":    {filepath.Join(deb(t, "initramfs-tools-core"), "usr/share/initramfs-tools/scripts/init-top/*"), filepath.Join(deb(t, "udev"), "usr/share/initramfs-tools/scripts/init-top/*"), filepath.Join(ours, "init-top/*")},
		"init-bottom": {filepath.Join(deb(t, "udev"), "usr/share/initramfs-tools/scripts/init-bottom/*"), filepath.Join(ours, "init-bottom/*")},
	}
	for dir, globs := range sources {
		var files []string
		for _, g := range globs {
			m, _ := filepath.Glob(g)
			files = append(files, m...)
		}
		if err := os.MkdirAll(filepath.Join(root, "scripts", dir), 0o755); err != nil {
			t.Fatal(err)
		}
		run(t, "", nil, "cp", append(append([]string{"-p"}, files...), filepath.Join(root, "scripts", dir))...)
	}
	// CONFDIR is where get_source finds each script's prereqs: the same tree.
	run(t, "", nil, "sh", "-c", `CONFDIR="$1"; . "$2"; cache_run_scripts "$1" /scripts/init-top; cache_run_scripts "$1" /scripts/init-bottom`, "sh", root, hf)
	order := map[string][]string{}
	for dir := range sources {
		for _, l := range strings.Split(readFile(t, filepath.Join(root, "scripts", dir, "ORDER")), "\n") {
			if name, ok := strings.CutPrefix(l, "/scripts/"+dir+"/"); ok {
				order[dir] = append(order[dir], strings.TrimSuffix(name, ` "$@"`))
			}
		}
	}
	return order
}

// TestInitramfsOrder: gudevd's init-top runs before udev's (so the daemon
// listens before udevd triggers the coldplug) and after blacklist (which
// writes the command line's blacklist= into modprobe.d); its init-bottom
// runs after udev's.
func TestInitramfsOrder(t *testing.T) {
	order := bootOrder(t, "initramfs-tools/scripts")
	t.Logf("init-top ORDER: %q; init-bottom ORDER: %q", order["init-top"], order["init-bottom"])
	before := func(dir, a, b string) {
		ia, ib := slices.Index(order[dir], a), slices.Index(order[dir], b)
		if ia < 0 || ib < 0 || ia > ib {
			t.Errorf("%s ORDER %q: want %s before %s", dir, order[dir], a, b)
		}
	}
	before("init-top", "blacklist", "gudevd")
	before("init-top", "gudevd", "udev")
	before("init-bottom", "udev", "gudevd")
}

// TestInitramfsOrderCanFail: a PREREQ in gudevd's init-top moves it after
// udev's; the check above must see that.
func TestInitramfsOrderCanFail(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"init-top", "init-bottom"} {
		text := readFile(t, filepath.Join("initramfs-tools/scripts", d, "gudevd"))
		if d == "init-top" {
			text = replaceOnce(t, text, "\nPREREQ=\"\"\n", "\nPREREQ=\"blacklist\"\n")
		}
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, d, "gudevd"), []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	top := bootOrder(t, dir)["init-top"]
	if slices.Index(top, "gudevd") < slices.Index(top, "udev") {
		t.Errorf("with PREREQ=blacklist, init-top ORDER %q still has gudevd before udev: the order test proves nothing", top)
	}
}

// TestShellScripts: every shipped shell script parses; the /bin/sh ones
// (busybox or klibc in an initramfs) pass checkbashisms where it is
// installed.
func TestShellScripts(t *testing.T) {
	scripts := []struct{ path, shell string }{
		{"initramfs-tools/hooks/gudevd", "sh"},
		{"initramfs-tools/scripts/init-top/gudevd", "sh"},
		{"initramfs-tools/scripts/init-bottom/gudevd", "sh"},
		{"dracut/90gudevd/gudevd-start.sh", "sh"},
		{"dracut/90gudevd/gudevd-stop.sh", "sh"},
		{"dracut/90gudevd/module-setup.sh", "bash"},
	}
	checkbashisms, _ := exec.LookPath("checkbashisms")
	for _, s := range scripts {
		t.Run(s.path, func(t *testing.T) {
			run(t, "", nil, s.shell, "-n", s.path)
			if checkbashisms != "" && s.shell == "sh" {
				run(t, "", nil, checkbashisms, s.path)
			}
		})
	}
	if checkbashisms == "" {
		t.Log("checkbashisms is not installed (devscripts): only sh -n ran")
	}
}
