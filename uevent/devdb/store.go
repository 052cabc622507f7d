package devdb

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// Store is the database below Dir, "/run/udev" on a running system: the
// entries in Dir/data and the tag index in Dir/tags.
type Store struct {
	Dir string
	Log *slog.Logger // nil for none
}

func (s *Store) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

func (s *Store) dataPath(id string) (string, error) {
	if !validFilename(id) {
		return "", fmt.Errorf("device id %q: %w", id, fs.ErrInvalid)
	}
	return filepath.Join(s.Dir, "data", id), nil
}

// Read reads and parses data/<id>; the error wraps fs.ErrNotExist when
// the device has no entry, which sd-device takes for "not initialized".
func (s *Store) Read(id string) (Entry, error) {
	p, err := s.dataPath(id)
	if err != nil {
		return Entry{}, err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return Entry{}, fmt.Errorf("read database entry: %w", err)
	}
	return Parse(b), nil
}

// Write stores the entry of the device with that id as device_update_db
// does: the file Content decides on (or none: then it deletes data/<id>),
// written to a temporary file in data/ that is given mode 0644, or 01644
// when persist (OPTIONS+="db_persist": the sticky bit tells `udevadm info
// --cleanup-db` at the switch from the initrd to keep the entry), and
// renamed over data/<id>, so that a reader sees the old file or the new,
// never half of one. Missing directories are made with mode 0755.
func (s *Store) Write(id string, e Entry, persist bool) error {
	p, err := s.dataPath(id)
	if err != nil {
		return err
	}
	data, keep := Content(id, e)
	if !keep {
		return s.Delete(id)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("database directory: %w", err)
	}
	mode := fs.FileMode(0o644)
	if persist {
		mode |= fs.ModeSticky
	}
	if err := writeAtomic(p, data, mode); err != nil {
		return fmt.Errorf("write database entry %s: %w", id, err)
	}
	s.log().Debug("wrote database entry", "id", id, "empty", len(data) == 0)
	return nil
}

// writeAtomic writes data to a new file ".#<name>XXXXXX" next to p (as
// fopen_temporary names it), sets its mode and renames it to p; the
// temporary file is removed when any step fails.
func writeAtomic(p string, data []byte, mode fs.FileMode) (err error) {
	f, err := os.CreateTemp(filepath.Dir(p), ".#"+filepath.Base(p)+"*") // O_CLOEXEC, as every os file
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	err = f.Chmod(mode)
	if err == nil {
		_, err = f.Write(data)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// Delete removes data/<id> (device_delete_db); a missing file is not an
// error.
func (s *Store) Delete(id string) error {
	p, err := s.dataPath(id)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete database entry: %w", err)
	}
	return nil
}

// UpdateTags is device_tag_index for an event that keeps the device: it
// removes tags/<tag>/<id> for each tag of old not in new, then makes
// tags/<tag>/<id> for each of new, an empty file of mode 0444. Both lists
// are a device's every-tag set (G:), not its current tags: a tag the
// rules stop setting stays in G: and so stays indexed. For a removed
// device, pass new nil: every old tag goes. It does all it can and
// returns the first error.
func (s *Store) UpdateTags(id string, old, new []string) error {
	if !validFilename(id) {
		return fmt.Errorf("device id %q: %w", id, fs.ErrInvalid)
	}
	var first error
	keep := func(err error) {
		if first == nil && err != nil {
			first = err
		}
	}
	for _, t := range old {
		if !slices.Contains(new, t) {
			keep(s.untag(t, id))
		}
	}
	for _, t := range new {
		keep(s.tag(t, id))
	}
	return first
}

func (s *Store) tagPath(tag, id string) (string, error) {
	if !validFilename(tag) || strings.ContainsAny(tag, ": ") {
		return "", fmt.Errorf("tag %q: %w", tag, fs.ErrInvalid)
	}
	return filepath.Join(s.Dir, "tags", tag, id), nil
}

func (s *Store) untag(tag, id string) error {
	p, err := s.tagPath(tag, id)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove tag %s: %w", tag, err)
	}
	return nil
}

func (s *Store) tag(tag, id string) error {
	p, err := s.tagPath(tag, id)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("tag directory: %w", err)
	}
	if err := touch(p, 0o444); err != nil {
		return fmt.Errorf("tag %s: %w", tag, err)
	}
	return nil
}

// touch is systemd's touch_file: it takes an existing node without
// following a link (O_PATH, which needs no permission to open, so a 0444
// file is no obstacle), creates a regular file only when there is none
// (O_EXCL), then sets the mode and the times to now through
// /proc/self/fd, which also works for an O_PATH descriptor.
func touch(p string, mode uint32) error {
	fd, err := unix.Open(p, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		fd, err = unix.Open(p, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, mode)
	}
	if err != nil {
		return &fs.PathError{Op: "open", Path: p, Err: err}
	}
	defer unix.Close(fd)
	self := fmt.Sprintf("/proc/self/fd/%d", fd)
	if err := unix.Chmod(self, mode); err != nil {
		return &fs.PathError{Op: "chmod", Path: p, Err: err}
	}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, self, nil, 0); err != nil {
		return &fs.PathError{Op: "utimensat", Path: p, Err: err}
	}
	return nil
}

// IDs lists the ids of data/, sorted, without fopen_temporary's
// ".#..." files; none when data/ does not exist.
func (s *Store) IDs() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(s.Dir, "data"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list database: %w", err)
	}
	var ids []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil // os.ReadDir sorts by name
}
