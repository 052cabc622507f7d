package rules

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gudevd/gudevd/rules/builtin"
)

// The errors of Eval.
var (
	// ErrInvalidDevice: the device lacks what every event has (a syspath
	// below /sys, an action).
	ErrInvalidDevice = errors.New("invalid device")
	// ErrAborted: a rule hit an error udevd treats as fatal for the whole
	// event ("Failed to apply udev rules"): udevd then stops evaluating,
	// and neither updates the database nor runs RUN. The Result so far
	// comes with it.
	ErrAborted = errors.New("failed to apply udev rules")
)

// escape is udevd's per-line OPTIONS string_escape state.
type escape uint8

const (
	escUnset escape = iota
	escNone
	escReplace
)

// attrKey and attrVal cache sysfs attribute reads for the event, as
// sd_device caches them on its device objects.
type attrKey struct{ syspath, name string }

type attrVal struct {
	value string
	err   error
}

type parentVal struct {
	dev *Device
	err error
}

// event is udevd's UdevEvent plus the state of its sd_device.
type event struct {
	ctx  context.Context
	host Host
	dev  *Device
	line *Line // the line being evaluated, for diagnostics

	props   *propList // sd_device properties of the event's device
	dbProps *propList // properties_db: what E: lines will hold
	// dbClone is the earlier database entry merged over the kernel's
	// properties (dev_db_clone), for IMPORT{db}; nil on remove.
	dbClone          *propList
	allTags, curTags strSet
	devlinks         strSet
	tagsOutdated     bool
	linksOutdated    bool
	linkPriority     int

	devParent     *Device // event->dev_parent: the parents walk's device
	programResult *string
	esc           escape
	builtinRan    map[string]bool
	builtinFailed map[string]bool

	attrs   map[attrKey]attrVal
	parents map[string]parentVal

	res *Result
}

// Eval evaluates the rules for one event as systemd-udevd 252's
// udev_rules_apply_to_event does, touching the world only through host.
// On ErrAborted (or a cancelled ctx) the Result holds what was decided
// before.
func Eval(ctx context.Context, rs *Rules, dev *Device, host Host) (*Result, error) {
	if dev == nil || dev.Action == "" || !strings.HasPrefix(dev.Syspath, "/sys/") {
		return nil, fmt.Errorf("eval: %w", ErrInvalidDevice)
	}
	if rs == nil {
		rs = &Rules{}
	}
	e := newEvent(ctx, dev, host)
	err := e.run(rs)
	return e.finish(), err
}

func newEvent(ctx context.Context, dev *Device, host Host) *event {
	e := &event{
		ctx:           ctx,
		host:          host,
		dev:           dev,
		props:         newPropList(dev.Props),
		dbProps:       newPropList(nil),
		builtinRan:    map[string]bool{},
		builtinFailed: map[string]bool{},
		attrs:         map[attrKey]attrVal{},
		parents:       map[string]parentVal{},
		res:           &Result{},
	}
	db := dev.DB
	if db == nil {
		db = &DB{}
	}
	for _, t := range db.Tags {
		e.allTags.add(t)
		e.tagsOutdated = true
	}
	if dev.Action == "remove" {
		e.loadDBForRemove(db)
		return e
	}
	if dev.Action == "move" {
		// udev_event_on_move: a rename's leftover goes before the rules.
		e.props.unset("ID_RENAMING")
	}
	// udevd clones the device with its database for IMPORT{db} and
	// copies only the "all tags" over: current tags, links and priority
	// start empty, the rules decide them anew.
	e.dbClone = newPropList(dev.Props)
	for _, p := range db.Props {
		e.dbClone.set(p.Key, p.Value)
	}
	return e
}

// loadDBForRemove: on remove udevd reads the database into the event's
// device itself (device_read_db_internal), properties, tags and links.
func (e *event) loadDBForRemove(db *DB) {
	for _, p := range db.Props {
		e.props.set(p.Key, p.Value)
		e.dbProps.set(p.Key, p.Value)
	}
	for _, t := range db.CurrentTags {
		e.curTags.add(t)
	}
	for _, l := range db.Devlinks {
		e.devlinks.add(l)
		e.linksOutdated = true
	}
	e.linkPriority = db.LinkPriority
}

// run walks the lines in order, following GOTOs forward.
func (e *event) run(rs *Rules) error {
	for i := 0; i < len(rs.Lines); {
		if err := e.ctx.Err(); err != nil {
			return fmt.Errorf("eval: %w", err)
		}
		l := &rs.Lines[i]
		e.line = l
		jump, err := e.applyLine(l)
		if err != nil {
			return err
		}
		switch {
		case !jump:
			i++
		case l.GotoLine > i && l.GotoLine < len(rs.Lines):
			i = l.GotoLine
		default:
			e.warnf("GOTO=\"%s\" jumps to line index %d, not forward, ignoring", l.Goto, l.GotoLine)
			i++
		}
	}
	return nil
}

// lineKinds are udevd's UdevRuleLineType bits that decide whether a line
// is evaluated at all.
type lineKinds struct {
	name, devlink, gotoLine, update bool
}

func kindsOf(l *Line) lineKinds {
	k := lineKinds{gotoLine: l.Goto != "" && l.GotoLine >= 0}
	for _, t := range l.Tokens {
		switch t.Type {
		case TypeAName:
			k.name = true
		case TypeADevlink, TypeAOwner, TypeAGroup, TypeAMode, TypeAOwnerID, TypeAGroupID, TypeAModeID:
			k.devlink = true
		case TypeAOptionsStaticNode:
		case TypeMProgram, TypeMImportFile, TypeMImportProgram, TypeMImportBuiltin,
			TypeMImportDB, TypeMImportCmdline, TypeMImportParent:
			k.update = true
		default:
			k.update = k.update || t.Type >= TypeAMin
		}
	}
	return k
}

// skipLine: udevd evaluates a line only when it can do something for
// this event: it jumps or updates something, or it sets links and
// permissions and the device has a node, or it renames and the device is
// a network interface (neither on remove). A line of matches only is
// never evaluated, so its parents walk does not move $id.
func (e *event) skipLine(l *Line) bool {
	k := kindsOf(l)
	if k.gotoLine || k.update {
		return false
	}
	if e.dev.Action == "remove" {
		return true
	}
	return !(k.devlink && e.dev.hasDevnum() || k.name && e.dev.hasIfindex())
}

// applyLine is udev_rule_apply_line_to_event: the tokens in order, the
// line stopping at the first that fails; jump reports a GOTO to follow.
// All parent tokens are evaluated together, at the first of them, on the
// device and then on each parent until one satisfies all of them.
func (e *event) applyLine(l *Line) (jump bool, err error) {
	if e.skipLine(l) {
		return false, nil
	}
	e.esc = escUnset
	parentsDone := false
	for i, t := range l.Tokens {
		var ok bool
		if isParentToken(t.Type) {
			if parentsDone {
				continue
			}
			parentsDone = true
			ok = e.walkParents(l.Tokens[i:])
		} else {
			ok, err = e.applyToken(t)
		}
		if err != nil || !ok {
			return false, err
		}
	}
	return l.Goto != "" && l.GotoLine >= 0, nil
}

func isParentToken(t Type) bool {
	return t >= TypeMParentsKernel && t <= TypeMParentsTag
}

// walkParents starts at the event's device and climbs until the leading
// parent tokens of toks all hold on one device. The device found stays
// in devParent (for $id, $driver and $attr) after the line, and past
// later lines without parent tokens; a failed walk leaves none.
func (e *event) walkParents(toks []Token) bool {
	e.devParent = e.dev
	for {
		all := true
		for _, t := range toks {
			if !isParentToken(t.Type) {
				break
			}
			if !e.matchParentToken(t, e.devParent) {
				all = false
				break
			}
		}
		if all {
			return true
		}
		p, err := e.parent(e.devParent)
		if err != nil {
			e.devParent = nil
			return false
		}
		e.devParent = p
	}
}

func (e *event) matchParentToken(t Token, d *Device) bool {
	m := compileMatch(t)
	switch t.Type {
	case TypeMParentsKernel:
		return m.matches(d.Sysname())
	case TypeMParentsSubsystem:
		return m.matches(d.Subsystem)
	case TypeMParentsDriver:
		return m.matches(d.Driver)
	case TypeMParentsAttr:
		return e.matchAttr(t, d)
	case TypeMParentsTag:
		return m.matchesAny(e.tagsOf(d))
	}
	return false
}

// tagsOf is the current tags of d: the event's so far, or a parent's
// from its database.
func (e *event) tagsOf(d *Device) []string {
	if d == e.dev {
		return e.curTags.values()
	}
	return d.currentTags()
}

// parent is sd_device_get_parent, cached for the event.
func (e *event) parent(d *Device) (*Device, error) {
	if pv, ok := e.parents[d.Syspath]; ok {
		return pv.dev, pv.err
	}
	p, err := e.host.Parent(e.ctx, d.Syspath)
	if err == nil && p == nil {
		err = fmt.Errorf("parent of %s: %w", d.Syspath, builtin.ErrNoDevice)
	}
	e.parents[d.Syspath] = parentVal{p, err}
	return p, err
}

// sysattr is sd_device_get_sysattr_value, cached for the event.
func (e *event) sysattr(d *Device, name string) (string, error) {
	k := attrKey{d.Syspath, name}
	if v, ok := e.attrs[k]; ok {
		return v.value, v.err
	}
	v, err := e.host.SysAttr(e.ctx, d.Syspath, name)
	e.attrs[k] = attrVal{v, err}
	return v, err
}

// diagf records a message udevd logs at warning level or above and goes
// on.
func (e *event) diagf(format string, args ...any) {
	e.record(Warning, fmt.Sprintf(format, args...))
}

func (e *event) warnf(format string, args ...any) { e.diagf(format, args...) }

func (e *event) record(sev Severity, msg string) {
	d := Diagnostic{Severity: sev, Message: msg}
	if e.line != nil {
		d.File, d.Line = e.line.File, e.line.Number
	}
	e.res.Diagnostics = append(e.res.Diagnostics, d)
}

// abortf records the message and returns the error that ends the event.
func (e *event) abortf(err error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	e.record(Error, fmt.Sprintf("%s: %v", msg, err))
	return fmt.Errorf("%s:%d: %w: %s: %w", e.line.File, e.line.Number, ErrAborted, lowerFirst(msg), err)
}

// lowerFirst makes udevd's message fit an error string.
func lowerFirst(s string) string {
	if s != "" && s[0] >= 'A' && s[0] <= 'Z' {
		return string(s[0]+'a'-'A') + s[1:]
	}
	return s
}
