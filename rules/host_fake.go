package rules

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// FakeHost is a Host for tests: devices from a sysfs tree (a
// fstest.MapFS rooted at /sys, with symlinks), everything else from its
// maps. It records every call in Calls. It is not safe for concurrent use.
type FakeHost struct {
	Sysfs fs.FS          // rooted at /sys
	DB    map[string]*DB // database entries of parents, by syspath
	// Files are files outside /sys (IMPORT{file}, TEST), by absolute path.
	Files   map[string]string
	Sysctls map[string]string // by normalized key, "net/ipv4/ip_forward"
	// Programs answer Program by its argv joined with spaces; a missing
	// one fails to execute.
	Programs map[string]FakeProgram
	// Builtins answer Builtin by name; a missing one fails.
	Builtins map[string]func(argv []string, props []Property) ([]Property, error)
	Cmd      string            // the kernel command line
	Initrd   bool              // InInitrd's answer
	Users    map[string]uint32 // user names
	Groups   map[string]uint32 // group names
	ArchName string
	VirtName string
	Control  map[string]string // udevadm control --property

	// Fail makes a call fail: keyed by the method and its first argument
	// ("Sysctl kernel/x", "Cmdline").
	Fail map[string]error

	Calls []Call
}

// FakeProgram is a program's canned outcome.
type FakeProgram struct {
	Stdout string
	Err    error
}

// Call is one recorded Host call: the method and its main arguments.
type Call struct {
	Method string
	Args   []string
	Env    []string // the environment of Program
}

// ErrFakeMissing is what FakeHost's lookups of unknown programs,
// builtins and names wrap.
var ErrFakeMissing = errors.New("not in the fake host")

// record notes a call and returns the failure Fail asks for.
func (h *FakeHost) record(method string, args ...string) error {
	h.Calls = append(h.Calls, Call{Method: method, Args: args})
	key := method
	if len(args) > 0 {
		key += " " + args[0]
	}
	return h.Fail[key]
}

// SysAttr implements Host.
func (h *FakeHost) SysAttr(_ context.Context, syspath, name string) (string, error) {
	if err := h.record("SysAttr", syspath, name); err != nil {
		return "", err
	}
	return ReadSysAttr(h.Sysfs, syspath, name)
}

// Parent implements Host.
func (h *FakeHost) Parent(_ context.Context, syspath string) (*Device, error) {
	if err := h.record("Parent", syspath); err != nil {
		return nil, err
	}
	d, err := ParentFromFS(h.Sysfs, syspath)
	if err != nil {
		return nil, err
	}
	d.DB = h.DB[d.Syspath]
	return d, nil
}

// LookupDevice implements Host.
func (h *FakeHost) LookupDevice(_ context.Context, subsystem, sysname string) (*Device, error) {
	if err := h.record("LookupDevice", subsystem, sysname); err != nil {
		return nil, err
	}
	return LookupFromFS(h.Sysfs, subsystem, sysname)
}

// Stat implements Host.
func (h *FakeHost) Stat(_ context.Context, p string) (fs.FileMode, error) {
	if err := h.record("Stat", p); err != nil {
		return 0, err
	}
	if rel, ok := fsPath(p); ok {
		fi, err := fs.Stat(h.Sysfs, rel)
		if err != nil {
			return 0, err
		}
		return fi.Mode(), nil
	}
	if _, ok := h.Files[path.Clean(p)]; ok {
		return 0o644, nil
	}
	return 0, fmt.Errorf("stat %s: %w", p, fs.ErrNotExist)
}

// ReadDir implements Host.
func (h *FakeHost) ReadDir(_ context.Context, dir string) ([]string, error) {
	if err := h.record("ReadDir", dir); err != nil {
		return nil, err
	}
	rel, ok := fsPath(dir)
	if !ok {
		return nil, fmt.Errorf("readdir %s: %w", dir, fs.ErrNotExist)
	}
	ents, err := fs.ReadDir(h.Sysfs, rel)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.Name()
	}
	return names, nil
}

// Sysctl implements Host.
func (h *FakeHost) Sysctl(_ context.Context, key string) (string, error) {
	if err := h.record("Sysctl", key); err != nil {
		return "", err
	}
	v, ok := h.Sysctls[key]
	if !ok {
		return "", fmt.Errorf("sysctl %s: %w", key, fs.ErrNotExist)
	}
	return v, nil
}

// Program implements Host.
func (h *FakeHost) Program(_ context.Context, argv, env []string) ([]byte, error) {
	h.Calls = append(h.Calls, Call{Method: "Program", Args: argv, Env: env})
	p, ok := h.Programs[strings.Join(argv, " ")]
	if !ok {
		return nil, fmt.Errorf("%s: %w", argv[0], ErrFakeMissing)
	}
	return []byte(p.Stdout), p.Err
}

// Builtin implements Host.
func (h *FakeHost) Builtin(_ context.Context, name string, argv []string, _ *Device, props []Property) ([]Property, error) {
	if err := h.record("Builtin", append([]string{name}, argv...)...); err != nil {
		return nil, err
	}
	f, ok := h.Builtins[name]
	if !ok {
		return nil, fmt.Errorf("builtin %s: %w", name, ErrFakeMissing)
	}
	return f(argv, props)
}

// ReadFile implements Host.
func (h *FakeHost) ReadFile(_ context.Context, p string) ([]byte, error) {
	if err := h.record("ReadFile", p); err != nil {
		return nil, err
	}
	if rel, ok := fsPath(p); ok {
		return fs.ReadFile(h.Sysfs, rel)
	}
	v, ok := h.Files[p]
	if !ok {
		return nil, fmt.Errorf("open %s: %w", p, fs.ErrNotExist)
	}
	return []byte(v), nil
}

// Cmdline implements Host.
func (h *FakeHost) Cmdline(context.Context) (string, error) {
	if err := h.record("Cmdline"); err != nil {
		return "", err
	}
	return h.Cmd, nil
}

// InInitrd implements Host.
func (h *FakeHost) InInitrd(context.Context) bool {
	_ = h.record("InInitrd")
	return h.Initrd
}

// LookupUser implements Host.
func (h *FakeHost) LookupUser(_ context.Context, name string) (uint32, error) {
	if err := h.record("LookupUser", name); err != nil {
		return 0, err
	}
	return lookupName(h.Users, name)
}

// LookupGroup implements Host.
func (h *FakeHost) LookupGroup(_ context.Context, name string) (uint32, error) {
	if err := h.record("LookupGroup", name); err != nil {
		return 0, err
	}
	return lookupName(h.Groups, name)
}

func lookupName(m map[string]uint32, name string) (uint32, error) {
	id, ok := m[name]
	if !ok {
		return 0, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
	}
	return id, nil
}

// ControlProperty implements Host.
func (h *FakeHost) ControlProperty(key string) (string, bool) {
	_ = h.record("ControlProperty", key)
	v, ok := h.Control[key]
	return v, ok
}

// Arch implements Host.
func (h *FakeHost) Arch(context.Context) string {
	_ = h.record("Arch")
	return h.ArchName
}

// Virt implements Host.
func (h *FakeHost) Virt(context.Context) string {
	_ = h.record("Virt")
	return h.VirtName
}

// Methods lists the methods called, in order.
func (h *FakeHost) Methods() []string {
	out := make([]string, len(h.Calls))
	for i, c := range h.Calls {
		out[i] = c.Method
	}
	return out
}
