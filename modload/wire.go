package modload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"golang.org/x/sys/unix"
)

// The daemon sends a Step to a worker process and gets a Result back as
// bytes. The encoding is JSON; errors keep their structure, their errno and
// the sentinels they match, so errors.Is gives the same answers on both
// sides of the pipe.

// MarshalStep encodes a Step for a worker process.
func MarshalStep(s Step) ([]byte, error) {
	return json.Marshal(s)
}

// UnmarshalStep decodes a Step encoded by MarshalStep.
func UnmarshalStep(b []byte) (Step, error) {
	var s Step
	if err := json.Unmarshal(b, &s); err != nil {
		return Step{}, fmt.Errorf("decode step: %w", err)
	}
	if s.Name == "" {
		return Step{}, errors.New("decode step: no module name")
	}
	return s, nil
}

type wireResult struct {
	Result Result     `json:"result"`
	Err    *wireError `json:"err,omitempty"`
}

type wireError struct {
	Kind   string     `json:"kind"` // "module", "dependency", "wrapped" or "other"
	Module string     `json:"module,omitempty"`
	Path   string     `json:"path,omitempty"`
	Op     string     `json:"op,omitempty"`
	Dep    string     `json:"dep,omitempty"`
	Msg    string     `json:"msg"`
	Errno  uintptr    `json:"errno,omitempty"`
	Known  []string   `json:"known,omitempty"` // names of matched sentinels
	Cause  *wireError `json:"cause,omitempty"`
}

// known are the errors, by name, that survive the trip by identity.
var known = map[string]error{
	"unknown module":    ErrUnknownModule,
	"dependency cycle":  ErrDependencyCycle,
	"dependency failed": ErrDependencyFailed,
	"not module":        ErrNotModule,
	"install failed":    ErrInstallFailed,
	"blacklisted":       ErrBlacklisted,
	"in kernel":         ErrInKernel,
	"canceled":          context.Canceled,
	"deadline exceeded": context.DeadlineExceeded,
}

// MarshalResult encodes a Load outcome: the Result and Load's error.
func MarshalResult(r Result, loadErr error) ([]byte, error) {
	return json.Marshal(wireResult{Result: r, Err: encodeError(loadErr)})
}

// UnmarshalResult decodes what MarshalResult encoded. loadErr is Load's
// error, rebuilt as a *ModuleError or *DependencyError where it was one;
// err reports bytes that cannot be decoded.
func UnmarshalResult(b []byte) (r Result, loadErr error, err error) {
	var w wireResult
	if err := json.Unmarshal(b, &w); err != nil {
		return Result{}, nil, fmt.Errorf("decode result: %w", err)
	}
	return w.Result, decodeError(w.Err, 0), nil
}

func encodeError(err error) *wireError {
	if err == nil {
		return nil
	}
	var de *DependencyError
	if errors.As(err, &de) && de == err {
		return &wireError{Kind: "dependency", Module: de.Module, Dep: de.Dep, Msg: err.Error(), Cause: encodeError(de.Err)}
	}
	w := &wireError{Kind: "other", Msg: err.Error(), Errno: uintptr(errnoOf(err))}
	var me *ModuleError
	switch {
	case errors.As(err, &me) && me == err:
		w.Kind, w.Module, w.Path, w.Op = "module", me.Module, me.Path, me.Op
		if me.Err != nil {
			w.Msg = me.Err.Error()
		}
	case errors.As(err, &me) || errors.As(err, &de):
		// A typed error under some wrapping: keep both the message
		// and the typed error.
		w.Kind = "wrapped"
		if me != nil {
			w.Cause = encodeError(me)
		} else {
			w.Cause = encodeError(de)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(known)) {
		if errors.Is(err, known[name]) {
			w.Known = append(w.Known, name)
		}
	}
	return w
}

// maxErrorDepth bounds decoding of nested dependency errors from a
// corrupt or hostile message.
const maxErrorDepth = 64

func decodeError(w *wireError, depth int) error {
	if w == nil {
		return nil
	}
	if w.Kind == "dependency" && depth < maxErrorDepth {
		cause := decodeError(w.Cause, depth+1)
		if cause == nil {
			cause = errors.New("unknown cause")
		}
		return &DependencyError{Module: w.Module, Dep: w.Dep, Err: cause}
	}
	re := &remoteError{msg: w.Msg}
	for _, name := range w.Known {
		if k, ok := known[name]; ok {
			re.errs = append(re.errs, k)
		}
	}
	if w.Errno != 0 {
		re.errs = append(re.errs, unix.Errno(w.Errno))
	}
	switch {
	case w.Kind == "module":
		return &ModuleError{Module: w.Module, Path: w.Path, Op: w.Op, Err: re}
	case w.Kind == "wrapped" && w.Cause != nil && depth < maxErrorDepth:
		re.errs = append([]error{decodeError(w.Cause, depth+1)}, re.errs...)
	}
	return re
}

// remoteError is an error rebuilt from its encoding: its message, and the
// errno and sentinels it matched.
type remoteError struct {
	msg  string
	errs []error
}

func (e *remoteError) Error() string   { return e.msg }
func (e *remoteError) Unwrap() []error { return e.errs }
