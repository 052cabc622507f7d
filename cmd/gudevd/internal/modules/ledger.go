package modules

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/gudevd/gudevd/modalias"
	"github.com/gudevd/gudevd/modload"
)

// A ledger keeps the kernel's refusals of this boot across a daemon
// restart, a file per module in a directory under /run (tmpfs: gone at
// reboot), holding the worker's result as it came over the wire.
//
// A module whose load the kernel refused (its init returned ENODEV, say)
// leaves nothing in /sys/module, so a restarted daemon, which learns what
// is loaded from there, cannot tell it was tried: without the ledger each
// such module costs one more failing load syscall per restart, the
// duplicate the fault-restart scenario counts. Successes need no ledger
// (sysfs has them); transient failures and lost workers are not written,
// as they say nothing about the module. `gudevd control --reload` (a new
// module index) and `gudevd load` of the module clear its entry, as they
// clear the in-memory failure.
//
// The worker that made the syscall writes the entry, before its reply:
// a daemon killed during the syscall never reads that reply.
type ledger struct {
	dir string // "" keeps nothing
	log *slog.Logger
}

// errBadEntry is a ledger file that is not a refused load of the module
// it is named after.
var errBadEntry = errors.New("damaged failed-load ledger entry")

// load returns every entry, module name to result. An entry that does not
// decode as a failed load is logged and removed: a damaged ledger costs at
// most a retry, never a module.
func (l ledger) load() map[string][]byte {
	if l.dir == "" {
		return nil
	}
	ents, err := os.ReadDir(l.dir)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			l.log.Warn("read failed-load ledger", "err", err)
		}
		return nil
	}
	out := make(map[string][]byte, len(ents))
	for _, e := range ents {
		name := e.Name()
		b, err := os.ReadFile(filepath.Join(l.dir, name))
		if err == nil {
			err = checkEntry(name, b)
		}
		if err != nil {
			l.log.Warn("drop damaged failed-load ledger entry", "module", name, "err", err)
			l.drop(name)
			continue
		}
		out[name] = b
	}
	return out
}

// checkEntry accepts a failed load of module name whose syscall was made.
func checkEntry(name string, b []byte) error {
	if modalias.ModuleName(name) != name {
		return fmt.Errorf("%q is not a module name: %w", name, errBadEntry)
	}
	r, loadErr, err := modload.UnmarshalResult(b)
	switch {
	case err != nil:
		return err
	case r.Module != name || loadErr == nil || r.SyscallOutcome(loadErr) == "":
		return fmt.Errorf("not a refused load of %s: %w", name, errBadEntry)
	}
	return nil
}

// record writes module name's result to the ledger if it is a refusal:
// a load syscall made, that failed, for a reason about the module (not
// ENOMEM or EAGAIN, which a retry may fix).
func (l ledger) record(name string, out []byte) {
	r, loadErr, err := modload.UnmarshalResult(out)
	if err != nil || loadErr == nil || r.SyscallOutcome(loadErr) == "" || transient(loadErr) {
		return
	}
	l.put(name, out)
}

// put writes module name's entry (out is the worker's result).
func (l ledger) put(name string, out []byte) {
	if l.dir == "" {
		return
	}
	if err := os.MkdirAll(l.dir, 0o700); err != nil {
		l.log.Warn("write failed-load ledger", "module", name, "err", err)
		return
	}
	tmp := filepath.Join(l.dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, out, 0o600); err != nil {
		l.log.Warn("write failed-load ledger", "module", name, "err", err)
		return
	}
	if err := os.Rename(tmp, filepath.Join(l.dir, name)); err != nil {
		os.Remove(tmp)
		l.log.Warn("write failed-load ledger", "module", name, "err", err)
	}
}

// drop removes module name's entry, if any.
func (l ledger) drop(name string) {
	if l.dir == "" {
		return
	}
	if err := os.Remove(filepath.Join(l.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		l.log.Warn("drop failed-load ledger entry", "module", name, "err", err)
	}
}

// clear removes every entry.
func (l ledger) clear() {
	if l.dir == "" {
		return
	}
	ents, err := os.ReadDir(l.dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		l.drop(e.Name())
	}
}
