package modalias

import (
	"fmt"
	"syscall"
)

// ErrCorrupt is matched (errors.Is) by every error about a malformed index
// or configuration line. It also matches syscall.EINVAL, the errno libkmod
// returns for the same inputs.
var ErrCorrupt error = corruptError{}

type corruptError struct{}

func (corruptError) Error() string { return "corrupt index" }

// Is makes errors.Is(ErrCorrupt, syscall.EINVAL) hold.
func (corruptError) Is(target error) bool { return target == syscall.EINVAL }

// FileError says which file, and which line of it (1-based; 0 when the
// whole file is at fault), could not be used. A missing file wraps
// fs.ErrNotExist; a malformed line wraps ErrCorrupt.
type FileError struct {
	File string
	Line int
	Err  error
}

// Error names the file and line, then the problem.
func (e *FileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

// Unwrap returns the underlying error, so that errors.Is finds
// fs.ErrNotExist or ErrCorrupt.
func (e *FileError) Unwrap() error { return e.Err }
