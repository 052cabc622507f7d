package builtin

import (
	"errors"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// DirError is a directory ConfFiles could not read: udevd logs it (at
// debug level) and lists the other directories.
type DirError struct {
	Dir string // absolute
	Err error
}

func (e *DirError) Error() string { return "read directory " + e.Dir + ": " + e.Err.Error() }

func (e *DirError) Unwrap() error { return e.Err }

// ConfFiles is systemd's conf_files_list_strv, which udevd uses for its
// rules and .link files and their drop-ins: the files ending in suffix in
// dirs (absolute, or relative to root's "/"), dot files left out, a name
// in an earlier directory hiding the same name in later ones, sorted by
// name. The paths are absolute. A missing directory adds nothing; one
// that cannot be read adds nothing and an error.
func ConfFiles(root fs.FS, dirs []string, suffix string) ([]string, []*DirError) {
	byName := map[string]string{}
	var errs []*DirError
	for _, d := range dirs {
		dir := "/" + strings.TrimPrefix(path.Clean("/"+d), "/")
		entries, err := fs.ReadDir(root, fsName(dir))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, &DirError{Dir: dir, Err: err})
		}
		for _, e := range entries {
			n := e.Name()
			if strings.HasPrefix(n, ".") || !strings.HasSuffix(n, suffix) {
				continue
			}
			if _, ok := byName[n]; !ok {
				byName[n] = path.Join(dir, n)
			}
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	slices.Sort(names)
	files := make([]string, len(names))
	for i, n := range names {
		files[i] = byName[n]
	}
	return files, errs
}

// fsName is an absolute path as a name of an fs.FS rooted at "/".
func fsName(p string) string {
	if p = strings.TrimPrefix(p, "/"); p == "" {
		return "."
	}
	return p
}
