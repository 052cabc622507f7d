package rulehost

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"slices"
	"strings"
	"syscall"

	"github.com/gudevd/gudevd/rules"
	"github.com/gudevd/gudevd/rules/builtin"
	"github.com/gudevd/gudevd/uevent/devdb"
)

// Programs runs the programs of PROGRAM and IMPORT{program}: a
// *programs.Runner, whose Program has rules.Host's contract.
type Programs interface {
	Program(ctx context.Context, argv, env []string) ([]byte, error)
}

// Config is what a Host reads and runs with.
type Config struct {
	Log *slog.Logger
	// Sysfs is rooted at /sys (os.DirFS("/sys")); Root at / (os.DirFS("/")),
	// for everything else: /etc, /proc, /run/udev/data. Both must follow
	// symlinks as the kernel does (os.DirFS does) for Stat.
	Sysfs, Root fs.FS
	Programs    Programs
	Builtins    *builtin.Env
	// Machine is uname's machine ("x86_64"); "" asks uname.
	Machine string
	// Control are the properties of `udevadm control --property`.
	Control map[string]string
}

// Host is rules.Host for the running system. It keeps nothing between
// calls but what it learned once in New (architecture, virtualization),
// so it is as safe for concurrent use as its Programs and Builtins.
type Host struct {
	cfg   Config
	users rules.PasswdFiles
	arch  string
	virt  string
}

var _ rules.Host = (*Host)(nil)

// New returns a Host over cfg.
func New(cfg Config) *Host {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Builtins == nil {
		cfg.Builtins = &builtin.Env{}
	}
	m := cfg.Machine
	if m == "" {
		m = unameMachine()
	}
	return &Host{cfg: cfg, users: rules.PasswdFiles{FS: cfg.Root}, arch: archName(m), virt: virt(cfg.Sysfs, cfg.Root)}
}

func unameMachine() string {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return ""
	}
	var b strings.Builder
	for _, c := range u.Machine {
		if c == 0 {
			break
		}
		b.WriteByte(byte(c))
	}
	return b.String()
}

// fsPath is the file system and path below it of an absolute path: /sys
// goes to Sysfs, the rest to Root.
func (h *Host) fsPath(p string) (fs.FS, string) {
	p = path.Clean(p)
	if p == "/sys" {
		return h.cfg.Sysfs, "."
	}
	if rest, ok := strings.CutPrefix(p, "/sys/"); ok {
		return h.cfg.Sysfs, rest
	}
	if p == "/" {
		return h.cfg.Root, "."
	}
	return h.cfg.Root, strings.TrimPrefix(p, "/")
}

// SysAttr is rules.ReadSysAttr over Sysfs.
func (h *Host) SysAttr(_ context.Context, syspath, name string) (string, error) {
	return rules.ReadSysAttr(h.cfg.Sysfs, syspath, name)
}

// Parent is the parent device with its database entry.
func (h *Host) Parent(_ context.Context, syspath string) (*rules.Device, error) {
	d, err := rules.ParentFromFS(h.cfg.Sysfs, syspath)
	if err != nil {
		return nil, err
	}
	d.DB = h.DB(d)
	return d, nil
}

// LookupDevice finds a device with its database entry.
func (h *Host) LookupDevice(_ context.Context, subsystem, sysname string) (*rules.Device, error) {
	d, err := rules.LookupFromFS(h.cfg.Sysfs, subsystem, sysname)
	if err != nil {
		return nil, err
	}
	d.DB = h.DB(d)
	return d, nil
}

// DB reads the device's database entry; nil when it has none or it cannot
// be read, as sd-device then takes the device for uninitialized.
func (h *Host) DB(dev *rules.Device) *rules.DB {
	e, ok := h.DBEntry(dev)
	if !ok {
		return nil
	}
	return RulesDB(e)
}

// DBEntry reads /run/udev/data/<device id>; false when there is none.
func (h *Host) DBEntry(dev *rules.Device) (devdb.Entry, bool) {
	id := devdb.ID(dev.Subsystem, dev.Syspath, dev.Major, dev.Minor, dev.Ifindex)
	if id == "" {
		return devdb.Entry{}, false
	}
	b, err := fs.ReadFile(h.cfg.Root, "run/udev/data/"+id)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			h.cfg.Log.Debug("read database entry", "device", dev.Syspath, "err", err)
		}
		return devdb.Entry{}, false
	}
	return devdb.Parse(b), true
}

// RulesDB is the part of an entry the rules see. Its current tags are
// what TAGS== and sd_device_has_current_tag see: an entry before V:1 has
// no Q: lines and every tag counts as current.
func RulesDB(e devdb.Entry) *rules.DB {
	db := &rules.DB{
		Tags:         e.Tags,
		CurrentTags:  slices.Clone(e.Current()),
		Devlinks:     e.Devlinks,
		LinkPriority: e.LinkPriority,
	}
	for _, p := range e.Props {
		db.Props = append(db.Props, rules.Property{Key: p.Key, Value: p.Value})
	}
	return db
}

// Stat is stat(2), following links.
func (h *Host) Stat(_ context.Context, p string) (fs.FileMode, error) {
	fsys, rel := h.fsPath(p)
	fi, err := fs.Stat(fsys, rel)
	if err != nil {
		return 0, err
	}
	return fi.Mode(), nil
}

// ReadDir lists the names in dir.
func (h *Host) ReadDir(_ context.Context, dir string) ([]string, error) {
	fsys, rel := h.fsPath(dir)
	ents, err := fs.ReadDir(fsys, rel)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names, nil
}

// Sysctl reads /proc/sys/KEY without its trailing newline.
func (h *Host) Sysctl(_ context.Context, key string) (string, error) {
	b, err := fs.ReadFile(h.cfg.Root, "proc/sys/"+key)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), "\n"), nil
}

// Program runs argv through Programs.
func (h *Host) Program(ctx context.Context, argv, env []string) ([]byte, error) {
	if h.cfg.Programs == nil {
		return nil, fmt.Errorf("run %q: no program runner: %w", argv, errors.ErrUnsupported)
	}
	return h.cfg.Programs.Program(ctx, argv, env)
}

// ReadFile reads a file for IMPORT{file}.
func (h *Host) ReadFile(_ context.Context, p string) ([]byte, error) {
	fsys, rel := h.fsPath(p)
	return fs.ReadFile(fsys, rel)
}

// Cmdline is /proc/cmdline without its newline.
func (h *Host) Cmdline(_ context.Context) (string, error) {
	b, err := fs.ReadFile(h.cfg.Root, "proc/cmdline")
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), "\n"), nil
}

// InInitrd is systemd's in_initrd: /etc/initrd-release exists.
func (h *Host) InInitrd(_ context.Context) bool {
	_, err := fs.Stat(h.cfg.Root, "etc/initrd-release")
	return err == nil
}

// LookupUser resolves a user from /etc/passwd.
func (h *Host) LookupUser(_ context.Context, name string) (uint32, error) {
	return h.users.LookupUser(name)
}

// LookupGroup resolves a group from /etc/group.
func (h *Host) LookupGroup(_ context.Context, name string) (uint32, error) {
	return h.users.LookupGroup(name)
}

// ControlProperty is a `udevadm control --property` value.
func (h *Host) ControlProperty(key string) (string, bool) {
	v, ok := h.cfg.Control[key]
	return v, ok
}

// Arch is CONST{arch}.
func (h *Host) Arch(context.Context) string { return h.arch }

// Virt is CONST{virt}.
func (h *Host) Virt(context.Context) string { return h.virt }
