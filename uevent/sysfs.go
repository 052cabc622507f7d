package uevent

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gudevd/gudevd/internal/fnmatch"
)

// Device is a device found in sysfs.
type Device struct {
	DevPath   string // as in DEVPATH: /devices/..., relative to the sysfs mount
	Subsystem string // base name of the subsystem link's target
	Modalias  string // the modalias attribute, or MODALIAS= of the uevent file; "" if none
}

// Scan lists every device under devices/ of sysfs (an fs.FS rooted at the
// sysfs mount, e.g. os.DirFS("/sys"), that implements fs.ReadLinkFS, as
// os.DirFS and fstest.MapFS do) in DEVPATH order, parents before children.
//
// A device is a directory with a uevent file and a subsystem link: the same
// set `udevadm trigger --type=devices` reaches through bus/*/devices,
// class/* and block, since every entry there links into devices/.
// Directories with a uevent file but no subsystem (devices/platform,
// devices/system/cpu, ...) are containers, not devices, and are skipped.
// A device that disappears during the scan is skipped.
func Scan(sysfs fs.FS) ([]Device, error) {
	var devs []Device
	err := walkUevents(sysfs, "devices", func(dir string) error {
		d, ok, err := readDevice(sysfs, dir)
		if ok {
			devs = append(devs, d)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return devs, nil
}

// walkUevents calls fn for every directory under root that holds a uevent
// file, in pre-order: a directory before everything below it, siblings in
// name order. It does not follow symlinks: sysfs links (subsystem, driver,
// device, ...) point back into the tree. A directory removed during the
// walk is skipped.
func walkUevents(sysfs fs.FS, root string, fn func(dir string) error) error {
	entries, err := fs.ReadDir(sysfs, root)
	if err != nil {
		return fmt.Errorf("walk sysfs %s: %w", root, err)
	}
	return walkEntries(sysfs, root, entries, fn)
}

// walkEntries is walkUevents below dir, whose entries are read.
func walkEntries(sysfs fs.FS, dir string, entries []fs.DirEntry, fn func(dir string) error) error {
	for _, e := range entries {
		if e.Name() == "uevent" && e.Type().IsRegular() {
			if err := fn(dir); err != nil {
				return err
			}
			break
		}
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		sub := dir + "/" + e.Name()
		children, err := fs.ReadDir(sysfs, sub)
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed while we walked
		}
		if err != nil {
			return fmt.Errorf("walk sysfs %s: %w", sub, err)
		}
		if err := walkEntries(sysfs, sub, children, fn); err != nil {
			return err
		}
	}
	return nil
}

// readDevice reads one device directory; ok is false when it is not a device
// (no subsystem link) or vanished.
func readDevice(sysfs fs.FS, dir string) (d Device, ok bool, err error) {
	subsystem, err := readSubsystem(sysfs, dir)
	if errors.Is(err, fs.ErrNotExist) {
		return Device{}, false, nil
	}
	if err != nil {
		return Device{}, false, err
	}
	modalias, err := readModalias(sysfs, dir)
	if errors.Is(err, fs.ErrNotExist) {
		return Device{}, false, nil
	}
	if err != nil {
		return Device{}, false, err
	}
	return Device{DevPath: "/" + dir, Subsystem: subsystem, Modalias: modalias}, true, nil
}

func readSubsystem(sysfs fs.FS, dir string) (string, error) {
	target, err := fs.ReadLink(sysfs, dir+"/subsystem")
	if err != nil {
		return "", fmt.Errorf("read subsystem of %s: %w", dir, err)
	}
	name := path.Base(target)
	if name == "." || name == "/" {
		return "", malformed("subsystem link of %s points to %q", dir, target)
	}
	return name, nil
}

// readModalias prefers the modalias attribute; devices whose bus has none
// (e.g. some platform and ACPI devices) put MODALIAS= in the uevent file.
func readModalias(sysfs fs.FS, dir string) (string, error) {
	b, err := fs.ReadFile(sysfs, dir+"/modalias")
	if err == nil {
		return string(bytes.TrimRight(b, "\n")), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read modalias of %s: %w", dir, err)
	}
	b, err = fs.ReadFile(sysfs, dir+"/uevent")
	if err != nil {
		return "", fmt.Errorf("read uevent of %s: %w", dir, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "MODALIAS="); ok {
			return v, nil
		}
	}
	return "", nil
}

// TriggerOptions select what Trigger writes.
type TriggerOptions struct {
	// Root is the sysfs mount; "" means /sys.
	Root string
	// Action is written to every uevent file; "" means ActionAdd.
	Action Action
	// SubsystemMatch holds shell patterns; when not empty only objects
	// whose subsystem matches one are triggered, as with udevadm trigger
	// --subsystem-match. They match as udevadm's fnmatch(3) matches them
	// (internal/fnmatch): '[!...]' negates, and every string is a valid
	// pattern, an unterminated '[' being a plain character. The subsystem objects match "subsystem"
	// (bus/*), "drivers" (bus/*/drivers/*) and "module" (module/*).
	SubsystemMatch []string
	// SkipSubsystems leaves out the subsystem objects (udevadm trigger
	// --type=subsystems) and triggers devices only.
	SkipSubsystems bool
}

// TriggerResult reports what Trigger wrote.
type TriggerResult struct {
	// UUID is the SYNTH_UUID every triggered uevent carries.
	UUID string
	// DevPaths lists, in write order, the objects whose uevent was
	// written; each produces one uevent with this UUID.
	DevPaths []string
	// Failed lists the writes that failed and were skipped, e.g. ENODEV
	// for a device removed since the scan.
	Failed []TriggerFailure
}

// TriggerFailure is one uevent write that failed.
type TriggerFailure struct {
	DevPath string
	Err     error
}

// ueventWriter writes a uevent file; tests fake it.
type ueventWriter interface {
	writeUevent(name string, data []byte) error
}

// osWriter writes uevent files under a sysfs mount.
type osWriter struct{ root string }

func (w osWriter) writeUevent(name string, data []byte) error {
	// os.OpenFile opens close-on-exec. A uevent file takes the whole
	// request in one write(2).
	f, err := os.OpenFile(filepath.Join(w.root, filepath.FromSlash(name)), os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if werr != nil {
		return werr
	}
	return cerr
}

// Trigger asks the kernel to re-emit a uevent for every subsystem object
// (unless SkipSubsystems) and then every device, the coldplug of `udevadm
// trigger`: it writes "ACTION UUID" to each uevent file, which makes the
// kernel send a synthetic uevent with SYNTH_UUID=UUID (see the kernel's
// Documentation/ABI/testing/sysfs-uevent), so the caller can wait for
// exactly the events it caused.
func Trigger(ctx context.Context, opts TriggerOptions) (TriggerResult, error) {
	root := opts.Root
	if root == "" {
		root = "/sys"
	}
	return trigger(ctx, os.DirFS(root), osWriter{root: root}, opts)
}

func trigger(ctx context.Context, sysfs fs.FS, w ueventWriter, opts TriggerOptions) (TriggerResult, error) {
	action := opts.Action
	if action == "" {
		action = ActionAdd
	}
	if !action.Valid() {
		return TriggerResult{}, fmt.Errorf("trigger: unknown action %q", action)
	}
	res := TriggerResult{UUID: newUUID()}
	msg := []byte(string(action) + " " + res.UUID)
	write := func(dir string) error {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("trigger: %w", err)
		}
		if err := w.writeUevent(dir+"/uevent", msg); err != nil {
			res.Failed = append(res.Failed, TriggerFailure{DevPath: "/" + dir, Err: err})
			return nil
		}
		res.DevPaths = append(res.DevPaths, "/"+dir)
		return nil
	}
	if !opts.SkipSubsystems {
		subs, err := subsystemObjects(sysfs, opts.SubsystemMatch)
		if err != nil {
			return res, fmt.Errorf("trigger: %w", err)
		}
		for _, dir := range subs {
			if err := write(dir); err != nil {
				return res, err
			}
		}
	}
	// Devices are written as the walk finds them, so the daemon handles the
	// first ones while the rest of sysfs is read.
	err := walkUevents(sysfs, "devices", func(dir string) error {
		subsystem, err := readSubsystem(sysfs, dir)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if !matchSubsystem(opts.SubsystemMatch, subsystem) {
			return nil
		}
		return write(dir)
	})
	if err != nil && ctx.Err() == nil {
		err = fmt.Errorf("trigger: %w", err)
	}
	return res, err
}

// subsystemObjects lists bus/*, bus/*/drivers/* and module/* that have a
// uevent file, in path order, as sd-device's enumerator finds them for
// --type=subsystems.
func subsystemObjects(sysfs fs.FS, match []string) ([]string, error) {
	var globs []string
	if matchSubsystem(match, "subsystem") {
		globs = append(globs, "bus/*/uevent")
	}
	if matchSubsystem(match, "drivers") {
		globs = append(globs, "bus/*/drivers/*/uevent")
	}
	if matchSubsystem(match, "module") {
		globs = append(globs, "module/*/uevent")
	}
	var dirs []string
	for _, g := range globs {
		files, err := fs.Glob(sysfs, g)
		if err != nil {
			return nil, fmt.Errorf("list sysfs %s: %w", g, err)
		}
		for _, f := range files {
			dirs = append(dirs, path.Dir(f))
		}
	}
	slices.Sort(dirs)
	return dirs, nil
}

func matchSubsystem(patterns []string, subsystem string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if fnmatch.Match(p, subsystem) {
			return true
		}
	}
	return false
}

// newUUID returns a random (version 4) UUID in the 36-character form the
// kernel's synthetic-uevent parser requires.
func newUUID() string {
	var u [16]byte
	rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
