package rules

import (
	"context"
	"errors"
	"io/fs"
)

// ErrProgramFailed is what a Host wraps when a program ran and exited
// with a failure (udevd's positive udev_event_spawn result, logged at
// debug level), as opposed to a program that could not be run at all.
var ErrProgramFailed = errors.New("program failed")

// Host is everything Eval needs from the world; Eval has no other way to
// touch it and no side effects of its own. Paths are absolute. A missing
// file or attribute is an error satisfying errors.Is(err, fs.ErrNotExist);
// Parent and LookupDevice return an error wrapping builtin.ErrNoDevice
// (rules/builtin's sentinel: one for both packages) when there is no
// device.
type Host interface {
	// SysAttr reads an attribute of the device at syspath with
	// sd_device_get_sysattr_value's semantics (ReadSysAttr).
	SysAttr(ctx context.Context, syspath, name string) (string, error)
	// Parent is the parent device (ParentFromFS), with its uevent file's
	// properties in Props and its database entry in DB.
	Parent(ctx context.Context, syspath string) (*Device, error)
	// LookupDevice finds a device by subsystem and sysname (LookupFromFS).
	LookupDevice(ctx context.Context, subsystem, sysname string) (*Device, error)
	// Stat is stat(2) of path, following links, for TEST and for the
	// "/*/" expansion of TEST and ATTR paths.
	Stat(ctx context.Context, path string) (fs.FileMode, error)
	// ReadDir lists the names in a directory, for the "/*/" expansion.
	ReadDir(ctx context.Context, dir string) ([]string, error)
	// Sysctl reads /proc/sys/KEY; key is normalized ("net/ipv4/ip_forward").
	Sysctl(ctx context.Context, key string) (string, error)
	// Program runs argv (argv[0] absolute) with env as its whole
	// environment and returns its standard output. The caller applies
	// udevd's event timeout through ctx. A failing exit wraps
	// ErrProgramFailed.
	Program(ctx context.Context, argv, env []string) ([]byte, error)
	// Builtin runs a udev builtin (name is udevd's canonical name,
	// "path_id"; argv[0] is the word the rule wrote) for dev, whose
	// properties at that point are props, and returns the properties it
	// sets (an empty Value is an empty property: udevd's builtins never
	// unset one).
	Builtin(ctx context.Context, name string, argv []string, dev *Device, props []Property) ([]Property, error)
	// ReadFile reads a file for IMPORT{file}.
	ReadFile(ctx context.Context, path string) ([]byte, error)
	// Cmdline is the kernel command line (/proc/cmdline).
	Cmdline(ctx context.Context) (string, error)
	// InInitrd reports whether udevd runs in the initrd, where
	// IMPORT{cmdline} also sees the "rd." words (in_initrd()).
	InInitrd(ctx context.Context) bool
	// LookupUser and LookupGroup resolve OWNER and GROUP names that hold
	// substitutions, at event time (get_user_creds, get_group_creds).
	LookupUser(ctx context.Context, name string) (uint32, error)
	LookupGroup(ctx context.Context, name string) (uint32, error)
	// ControlProperty is a property set with `udevadm control
	// --property=KEY=VALUE`, which ENV{KEY}== falls back to when the device
	// lacks KEY (and which nothing else sees).
	ControlProperty(key string) (string, bool)
	// Arch and Virt are CONST{arch} and CONST{virt}: systemd's names,
	// "x86-64", "kvm", "none".
	Arch(ctx context.Context) string
	Virt(ctx context.Context) string
}
