package builtin

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
)

// Names returns the names Env.Run knows: udevd 252's eleven builtins
// (udev-builtin.h), in its order.
func Names() []string {
	return []string{"blkid", "btrfs", "hwdb", "input_id", "keyboard", "kmod", "net_id", "net_setup_link", "path_id", "usb_id", "uaccess"}
}

// Errors of Env.Run, for errors.Is.
var (
	// ErrUnknownBuiltin: the name is none of udevd 252's builtins.
	ErrUnknownBuiltin = errors.New("unknown builtin")
	// ErrUnsupported: Env has nothing to run the builtin with (no hwdb,
	// no blkid probe, no module loader...). It wraps errors.ErrUnsupported.
	ErrUnsupported = fmt.Errorf("builtin not available: %w", errors.ErrUnsupported)
	// ErrNotApplied is wrapped by every *EffectError: the builtin computed
	// what udevd's would do to the system and Env could not do it.
	ErrNotApplied = errors.New("builtin effect not applied")
	// ErrKmodArgs: kmod's command line does not start with "load".
	ErrKmodArgs = errors.New("kmod: expected: load [module...]")
	// ErrNoModalias: "kmod load" without names for a device without a
	// MODALIAS property.
	ErrNoModalias = errors.New("device has no MODALIAS")
)

// EffectError is returned, with the builtin's properties, when udevd's
// builtin acts on the system (ioctls, a rename, ACLs) and Env has no
// function to do it: Effect says what would be done, a KeyboardActions,
// a LinkPlan or a *UaccessACL. Nothing was done.
type EffectError struct {
	Builtin string
	Effect  any
}

func (e *EffectError) Error() string {
	return fmt.Sprintf("%s: %v: %+v", e.Builtin, ErrNotApplied, e.Effect)
}

func (e *EffectError) Unwrap() error { return ErrNotApplied }

// Env is what the builtins need besides the device. A nil field makes the
// builtins that need it fail with ErrUnsupported, or, for those whose
// effect it is, return an *EffectError: nothing pretends to have acted.
type Env struct {
	HWDB *HWDB // hwdb, and net_id's OUI lookup; nil: no hwdb.bin, or OpenHWDB
	// OpenHWDB, when HWDB is nil, opens it at the first builtin that
	// needs it, for a one-shot command (gudevd test) whose event may not:
	// checking a whole hwdb.bin costs more than evaluating the rules. It
	// must remember its answer; the daemon sets HWDB once instead.
	OpenHWDB func() (*HWDB, error)

	Scheme NamingScheme // net_id's and net_setup_link's naming scheme
	Blkid  BlkidProbe
	Abs    EvdevAbs // input_id's touch surface size; nil: not read
	Btrfs  BtrfsReadyCheck
	// Kmod loads modules by name or modalias. The daemon routes it through
	// its own module path; nothing here loads a module directly.
	Kmod func(ctx context.Context, names []string) error
	// Link is net_setup_link's configuration (Link.Scheme is overridden by
	// Scheme).
	Link LinkSetup
	// RunDir is /run, where uaccess reads logind's seats; nil: uaccess fails.
	RunDir fs.FS

	// The effects Env can carry out; nil leaves the effect to the caller
	// through an *EffectError.
	ApplyKeyboard func(ctx context.Context, dev *Device, a KeyboardActions) error
	ApplyLink     func(ctx context.Context, dev *Device, p LinkPlan) error
	ApplyUaccess  func(ctx context.Context, acl *UaccessACL) error
}

// Run runs the builtin udevd calls name for dev; argv is its command line,
// argv[0] the word the rule wrote. It returns the properties the builtin
// sets, in udevd's order.
func (e *Env) Run(ctx context.Context, name string, dev *Device, argv []string) ([]Prop, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(argv) == 0 {
		argv = []string{name}
	}
	switch name {
	case "blkid":
		return e.blkid(ctx, dev, argv)
	case "btrfs":
		return e.btrfs(ctx, dev, argv)
	case "hwdb":
		db, err := e.hwdb()
		if err != nil {
			return nil, fmt.Errorf("hwdb: %w", err)
		}
		return Hwdb(ctx, db, dev, argv)
	case "input_id":
		if e.Abs != nil {
			return InputIDWith(e.Abs)(ctx, dev, argv)
		}
		return InputID(ctx, dev, argv)
	case "keyboard":
		return e.keyboard(ctx, dev, argv)
	case "kmod":
		return nil, e.kmod(ctx, dev, argv)
	case "net_id":
		return NetID(ctx, dev, argv, e.Scheme, e.oui())
	case "net_setup_link":
		return e.netSetupLink(ctx, dev, argv)
	case "path_id":
		return PathID(ctx, dev, argv)
	case "usb_id":
		return USBID(ctx, dev, argv)
	case "uaccess":
		return nil, e.uaccess(ctx, dev)
	}
	return nil, fmt.Errorf("%q: %w", name, ErrUnknownBuiltin)
}

func (e *Env) oui() OUILookup {
	db, err := e.hwdb()
	if err != nil || db == nil {
		return nil // net_id without OUI names, as udevd without a hwdb
	}
	return db.Query
}

// hwdb is HWDB, or what OpenHWDB opens.
func (e *Env) hwdb() (*HWDB, error) {
	if e.HWDB != nil || e.OpenHWDB == nil {
		return e.HWDB, nil
	}
	return e.OpenHWDB()
}

func (e *Env) blkid(ctx context.Context, dev *Device, argv []string) ([]Prop, error) {
	if e.Blkid == nil {
		return nil, fmt.Errorf("blkid: %w", ErrUnsupported)
	}
	return Blkid(ctx, dev, argv, e.Blkid)
}

func (e *Env) btrfs(ctx context.Context, dev *Device, argv []string) ([]Prop, error) {
	if e.Btrfs == nil {
		return nil, fmt.Errorf("btrfs: %w", ErrUnsupported)
	}
	return Btrfs(ctx, dev, argv, e.Btrfs)
}

// keyboard sets no properties; its whole work is the effect.
func (e *Env) keyboard(ctx context.Context, dev *Device, argv []string) ([]Prop, error) {
	a, err := Keyboard(ctx, dev, argv)
	switch {
	case err != nil:
		return nil, err
	case len(a.Remaps) == 0 && len(a.Abs) == 0 && len(a.ForceRelease) == 0 && a.Sensitivity == nil:
		// Nothing to do: udevd opens the node and does nothing either
		// (the Problems it only logs are in the actions an apply sees).
		return nil, nil
	case e.ApplyKeyboard == nil:
		return nil, &EffectError{Builtin: "keyboard", Effect: a}
	}
	return nil, e.ApplyKeyboard(ctx, dev, a)
}

// kmod is udevd's: "load" and the names, or with none the device's
// MODALIAS. udevd ignores each load's failure; the loader's error is
// returned for the caller to log.
func (e *Env) kmod(ctx context.Context, dev *Device, argv []string) error {
	if len(argv) < 2 || argv[1] != "load" {
		return ErrKmodArgs
	}
	mods := argv[2:]
	if len(mods) == 0 {
		m := dev.Props["MODALIAS"]
		if m == "" {
			return fmt.Errorf("kmod: %w", ErrNoModalias)
		}
		mods = []string{m}
	}
	if e.Kmod == nil {
		return fmt.Errorf("kmod: %w", ErrUnsupported)
	}
	return e.Kmod(ctx, mods)
}

// netSetupLink plans from what sysfs tells (LinkStateFromSysfs): Kind,
// alternative names and ethtool's permanent address are not known here.
func (e *Env) netSetupLink(ctx context.Context, dev *Device, argv []string) ([]Prop, error) {
	st, err := LinkStateFromSysfs(dev)
	if err != nil {
		return nil, err
	}
	setup := e.Link
	setup.Scheme = e.Scheme
	plan, err := NetSetupLink(ctx, setup, st, argv)
	if err != nil {
		return nil, err
	}
	if e.ApplyLink == nil {
		return plan.Props, &EffectError{Builtin: "net_setup_link", Effect: plan}
	}
	return plan.Props, e.ApplyLink(ctx, dev, plan)
}

func (e *Env) uaccess(ctx context.Context, dev *Device) error {
	if e.RunDir == nil {
		return fmt.Errorf("uaccess: %w", ErrUnsupported)
	}
	acl, err := Uaccess(ctx, dev, e.RunDir)
	switch {
	case acl == nil:
		return err
	case e.ApplyUaccess != nil:
		return errors.Join(err, e.ApplyUaccess(ctx, acl))
	case err != nil:
		// The builtin fails either way; the reset udevd still applies
		// is said, not done.
		return fmt.Errorf("%w (not applied: %+v)", err, *acl)
	}
	return &EffectError{Builtin: "uaccess", Effect: acl}
}
