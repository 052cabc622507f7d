package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/gudevd/gudevd/test/qemu/internal/kmodset"
	"golang.org/x/sys/unix"
)

// modaliases walks /sys/devices (without following the class and bus
// symlinks, so every device is seen once) and collects both the modalias
// attribute files and MODALIAS= lines of uevent files: some buses only
// export the latter.
func modaliases(root string) ([]string, error) {
	set := map[string]bool{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			// Attributes vanish while devices come and go; skip them.
			return nil
		}
		switch d.Name() {
		case "modalias":
			b, err := os.ReadFile(p)
			if err == nil {
				if s := strings.TrimSpace(string(b)); s != "" {
					set[s] = true
				}
			}
		case "uevent":
			b, err := os.ReadFile(p)
			if err == nil {
				for _, l := range strings.Split(string(b), "\n") {
					if v, ok := strings.CutPrefix(l, "MODALIAS="); ok && v != "" {
						set[v] = true
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out, nil
}

func cmdModaliases(ctx context.Context, args []string, stdout io.Writer) error {
	m, err := modaliases("/sys/devices")
	if err != nil {
		return err
	}
	w := bufio.NewWriter(stdout)
	for _, s := range m {
		fmt.Fprintln(w, s)
	}
	return w.Flush()
}

// cmdTrigger writes an action to every device's uevent file, the coldplug
// udevadm trigger and gudevd perform, so the kernel re-emits the events.
func cmdTrigger(ctx context.Context, args []string, stdout io.Writer) error {
	fl := flag.NewFlagSet("trigger", flag.ContinueOnError)
	action := fl.String("action", "add", "what to write to each uevent file")
	if err := fl.Parse(args); err != nil {
		return err
	}
	n := 0
	err := filepath.WalkDir("/sys/devices", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Name() != "uevent" || d.IsDir() {
			return nil
		}
		if os.WriteFile(p, []byte(*action), 0) == nil {
			n++
		}
		return nil
	})
	fmt.Fprintf(stdout, "triggered %d devices\n", n)
	return err
}

// cmdLoadAll loads every module the current modaliases resolve to, over and
// over until no new device appears. It is how the harness discovers a
// guest's module set; it is not a device manager and runs in no scenario.
func cmdLoadAll(ctx context.Context, args []string, stdout io.Writer) error {
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return fmt.Errorf("uname: %w", err)
	}
	dir := filepath.Join("/lib/modules", unix.ByteSliceToString(uts.Release[:]))
	set, err := kmodset.Load(os.DirFS(dir))
	if err != nil {
		return err
	}
	loaded := map[string]bool{}
	var load func(name string)
	load = func(name string) {
		if loaded[name] {
			return
		}
		loaded[name] = true
		for _, d := range set.Deps(name) {
			load(d)
		}
		p, ok := set.Path(name)
		if !ok {
			return
		}
		if err := finit(filepath.Join(dir, p)); err != nil && !errors.Is(err, unix.EEXIST) {
			fmt.Fprintf(stdout, "load %s: %v\n", name, err)
		}
	}
	for round := 0; round < 10; round++ {
		m, err := modaliases("/sys/devices")
		if err != nil {
			return err
		}
		before := len(loaded)
		for _, name := range set.Closure(m) {
			load(name)
		}
		if len(loaded) == before {
			return nil
		}
		// Drivers probe asynchronously (USB enumeration, SCSI scans); give
		// the children time to appear before resolving again.
		time.Sleep(2 * time.Second)
	}
	return nil
}

func finit(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	flags := 0
	if !bytes.HasSuffix([]byte(p), []byte(".ko")) {
		flags = unix.MODULE_INIT_COMPRESSED_FILE
	}
	return unix.FinitModule(int(f.Fd()), "", flags)
}
