package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gudevd/gudevd/cmd/gudevd/internal/control"
	"github.com/gudevd/gudevd/cmd/gudevd/internal/node"
	"github.com/gudevd/gudevd/cmd/gudevd/internal/rulehost"
	"github.com/gudevd/gudevd/rules"
	"github.com/gudevd/gudevd/uevent"
	"github.com/gudevd/gudevd/uevent/devdb"
)

// Udev makes the daemon systemd-udevd: each event runs through the rules,
// then its device node, links and database entry are written, then its RUN
// entries run and it is broadcast to libudev listeners, in the order
// udevd 252's worker does (worker_process_device). Without it the daemon
// only loads the modules of each MODALIAS, beside a udevd that does the
// rest.
type Udev struct {
	// Host gives what the rules of one event read and run with
	// (rulehost.Host) and a func the event calls when it is done with it:
	// a reload may replace the host (a new hwdb, new .link files) while
	// events still use the old one.
	Host func() (rules.Host, func())
	// Rules loads the rules; the daemon calls it in New and on every
	// reload, and keeps the rules it had when a reload finds none. On a
	// reload it is also where the builtins' files are read again, as
	// udevd's reload runs udev_builtin_exit and udev_builtin_init.
	Rules func() (*rules.Rules, []rules.Diagnostic)
	// DB is the database, /run/udev/data and /run/udev/tags
	// (devdb.Store).
	DB Database
	// Nodes owns /dev: permissions, /dev/char, /dev/block and the links
	// (node.Nodes).
	Nodes Nodes
	// Broadcast sends the processed event on the libudev netlink group
	// (uevent.Conn.Send); nil sends nothing.
	Broadcast func(ctx context.Context, ev *uevent.Event) error
	// Program runs one RUN program with env as its environment
	// (programs.Runner.Program).
	Program func(ctx context.Context, argv, env []string) ([]byte, error)
	// Rename renames a network interface for NAME= (rtnl.Conn.Rename);
	// ValidName says whether the kernel takes a name (rtnl.ValidName).
	// With Rename nil NAME= is ignored with a warning.
	Rename    func(ctx context.Context, ifindex int, name string) error
	ValidName func(name string) bool
	// Writer writes ATTR{} and SYSCTL{} values; nil writes below /sys and
	// /proc/sys of this system.
	Writer AttrWriter
	// Dev is the directory that stands for /dev, where OPTIONS+="watch"
	// watches nodes; "" watches none.
	Dev string
	// StaticTags is /run/udev/static_node-tags, where the tags of the
	// rules' static nodes go; "" applies no static nodes.
	StaticTags string
	// QueueFile is udevd's /run/udev/queue, which exists while events
	// are queued and udevadm settle waits to go away; "" keeps none.
	QueueFile string
	// Now is CLOCK_MONOTONIC in microseconds, USEC_INITIALIZED; nil reads
	// the clock.
	Now func() uint64
}

// Database is the part of devdb.Store the pipeline uses.
type Database interface {
	Read(id string) (devdb.Entry, error)
	Write(id string, e devdb.Entry, persist bool) error
	Delete(id string) error
	UpdateTags(id string, old, new []string) error
}

// Nodes is the part of node.Nodes the pipeline uses.
type Nodes interface {
	Update(ctx context.Context, dev node.Device, perms node.Perms, links []string, prio int, oldLinks []string) error
	Remove(ctx context.Context, dev node.Device, links []string) error
	ApplyStatic(ctx context.Context, tagsDir string, s node.Static) error
}

// AttrWriter writes what ATTR{} and SYSCTL{} assign.
type AttrWriter interface {
	// WriteAttr writes value to path, an absolute path below /sys.
	WriteAttr(path, value string) error
	// WriteSysctl writes value to the normalized key below /proc/sys.
	WriteSysctl(key, value string) error
}

// udevState is what the daemon keeps for Udev: the rules in use and the
// counters of what failed.
type udevState struct {
	cfg   *Udev
	rules atomic.Pointer[rules.Rules]
	queue *queueFile
	// retriggering is set while a resync's trigger runs.
	retriggering atomic.Bool
	// watch is OPTIONS+="watch"'s inotify; nil without Udev.Dev. Run sets
	// it before events run.
	watch *watcher

	mu    sync.Mutex // guards stats and env
	stats control.UdevEvents
	// env is `udevadm control --property`'s global properties.
	env map[string]string
}

func (s *udevState) count(f func(*control.UdevEvents)) {
	s.mu.Lock()
	f(&s.stats)
	s.mu.Unlock()
}

// loadRules loads the rules, keeping the previous ones when none load, as
// udevd keeps "the previously loaded rules" when reading fails.
func (d *Daemon) loadRules() {
	rs, diags := d.udev.cfg.Rules()
	for _, dg := range diags {
		if dg.Severity == rules.Error {
			d.log.Error("udev rules", "diagnostic", dg.String())
		} else {
			d.log.Warn("udev rules", "diagnostic", dg.String())
		}
	}
	if rs == nil {
		d.log.Error("no udev rules loaded; keeping the previous ones")
		return
	}
	d.udev.rules.Store(rs)
}

// applyStaticNodes applies the rules' OPTIONS+="static_node=" once, at
// start, as udevd's main loop does before its first event: nodes such as
// /dev/net/tun and /dev/snd/seq exist from boot, before any device event
// could give them their group and tags. A failure is logged.
func (d *Daemon) applyStaticNodes(ctx context.Context) {
	u := d.udev
	if u == nil || u.cfg.StaticTags == "" {
		return
	}
	rs := u.rules.Load()
	if rs == nil {
		return
	}
	for _, sn := range rules.StaticNodes(rs) {
		s := node.Static{Name: sn.Name, Tags: sn.Tags, Perms: node.Perms{
			UID: sn.UID, GID: sn.GID, Mode: sn.Mode, UIDSet: sn.UIDSet, GIDSet: sn.GIDSet, ModeSet: sn.ModeSet,
		}}
		if err := u.cfg.Nodes.ApplyStatic(ctx, u.cfg.StaticTags, s); err != nil {
			u.count(func(s *control.UdevEvents) { s.NodeErrors++ })
			d.log.Warn("static node", "node", sn.Name, "err", err)
		}
	}
}

// udevEvent is one event through the udev stage.
type udevEvent struct {
	host rules.Host // Udev.Host's, for this event
	ev   *uevent.Event
	dev  *rules.Device
	id   string
	old  devdb.Entry // the database entry of the previous event, if any
	res  *rules.Result
}

// handleUdev is udevd 252's worker_process_device for one event: the
// rules (udev_event_execute_rules), the rename, node and database, then
// RUN (udev_event_execute_run), then the broadcast. A failure in the rules
// marks the event failed: it is broadcast as the kernel sent it with
// UDEV_WORKER_FAILED=1, as udevd's device_broadcast does, and nothing is
// written. Everything after the rules logs and counts its failures and
// goes on, as udevd does.
func (d *Daemon) handleUdev(ctx context.Context, ev *uevent.Event) {
	u := d.udev
	u.count(func(s *control.UdevEvents) { s.Events++ })
	host, release := u.cfg.Host()
	defer release()
	if u.watch != nil {
		// udevd: "Disable watch during event processing."
		u.watch.end(ev.DevPath)
	}
	e, err := d.prepareUdev(ev, host)
	if err == nil {
		err = d.evalRules(ctx, e)
	}
	if err != nil {
		u.count(func(s *control.UdevEvents) { s.Failed++ })
		d.log.Warn("udev event failed", "seqnum", ev.Seqnum, "devpath", ev.DevPath, "action", string(ev.Action), "err", err)
		d.broadcast(ctx, failedEvent(ev, err))
		return
	}
	if ev.Action == uevent.ActionRemove {
		d.removeDevice(ctx, e)
	} else if err := d.updateDevice(ctx, e); err != nil {
		u.count(func(s *control.UdevEvents) { s.Failed++ })
		d.log.Warn("udev event failed", "seqnum", ev.Seqnum, "devpath", ev.DevPath, "action", string(ev.Action), "err", err)
		d.broadcast(ctx, failedEvent(ev, err))
		return
	}
	d.runQueue(ctx, e)
	d.beginWatch(e)
	d.broadcast(ctx, processedEvent(e))
}

// beginWatch is udev_event_process_inotify_watch: after RUN, the node of
// a device whose rules said OPTIONS+="watch" is watched.
func (d *Daemon) beginWatch(e *udevEvent) {
	w := d.udev.watch
	if w == nil || !e.res.Watch || e.ev.Action == uevent.ActionRemove || e.dev.Devname == "" {
		return
	}
	x := watched{devpath: e.dev.Devpath(), devnode: e.dev.Devname, disk: e.dev.Subsystem == "block" && e.dev.Devtype == "disk"}
	if err := w.begin(x); err != nil {
		d.log.Debug("watch device node", "devpath", x.devpath, "err", err)
	}
}

// prepareUdev builds the event's device and reads its previous database
// entry.
func (d *Daemon) prepareUdev(ev *uevent.Event, host rules.Host) (*udevEvent, error) {
	props := make([]rules.Property, len(ev.Props))
	for i, p := range ev.Props {
		props[i] = rules.Property{Key: p.Key, Value: p.Value}
	}
	dev, err := rules.DeviceFromUevent(props)
	if err != nil {
		return nil, fmt.Errorf("device of event: %w", err)
	}
	e := &udevEvent{host: host, ev: ev, dev: dev, id: devdb.ID(dev.Subsystem, dev.Syspath, dev.Major, dev.Minor, dev.Ifindex)}
	if e.id == "" {
		return e, nil
	}
	old, err := d.udev.cfg.DB.Read(e.id)
	switch {
	case err == nil:
		e.old = old
		dev.DB = rulehost.RulesDB(old)
	case !errors.Is(err, fs.ErrNotExist):
		d.log.Debug("read database entry", "id", e.id, "err", err)
	}
	return e, nil
}

// evalRules runs the rules with udevd's event timeout, the global
// properties of `udevadm control --property` visible to ENV{}.
func (d *Daemon) evalRules(ctx context.Context, e *udevEvent) error {
	rs := d.udev.rules.Load()
	if rs == nil {
		return errors.New("no udev rules loaded")
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.EventTimeout)
	defer cancel()
	res, err := rules.Eval(ctx, rs, e.dev, controlHost{Host: e.host, s: d.udev})
	if res != nil {
		for _, dg := range res.Diagnostics {
			d.log.Warn("udev rules", "devpath", e.ev.DevPath, "diagnostic", dg.String())
		}
	}
	if err != nil {
		d.udev.count(func(s *control.UdevEvents) { s.RuleErrors++ })
		return fmt.Errorf("apply rules: %w", err)
	}
	e.res = res
	return nil
}

// controlHost answers ControlProperty from the daemon's live set, which
// SET_ENV changes while events run.
type controlHost struct {
	rules.Host
	s *udevState
}

func (h controlHost) ControlProperty(key string) (string, bool) {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	v, ok := h.s.env[key]
	return v, ok
}

// setEnv is SET_ENV: "KEY=VALUE" sets a global property, "KEY=" or "KEY"
// unsets it (udevd's on_ctrl_msg).
func (s *udevState) setEnv(kv string) {
	k, v, _ := strings.Cut(kv, "=")
	s.mu.Lock()
	defer s.mu.Unlock()
	if v == "" {
		delete(s.env, k)
		return
	}
	if s.env == nil {
		s.env = map[string]string{}
	}
	s.env[k] = v
}

// nodeDevice is the event's device as package node takes it; ok is false
// for a device without a node.
func nodeDevice(e *udevEvent) (node.Device, bool) {
	if e.dev.Major == 0 || e.dev.Devname == "" {
		return node.Device{}, false
	}
	return node.Device{
		ID: e.id, Devnode: e.dev.Devname, Major: e.dev.Major, Minor: e.dev.Minor, Block: e.dev.Subsystem == "block",
		Partition: e.dev.Devtype == "partition", Sysnum: e.dev.Sysnum(), DiskSeq: e.ev.Get("DISKSEQ"),
	}, true
}

// removeDevice is event_execute_rules_on_remove after the rules: the
// tags and the database entry go, then the node's links.
func (d *Daemon) removeDevice(ctx context.Context, e *udevEvent) {
	u := d.udev
	if e.id != "" {
		if err := u.cfg.DB.UpdateTags(e.id, e.old.Tags, nil); err != nil {
			d.dbError(e, err)
		}
		if err := u.cfg.DB.Delete(e.id); err != nil {
			d.dbError(e, err)
		}
	}
	if nd, ok := nodeDevice(e); ok {
		if err := u.cfg.Nodes.Remove(ctx, nd, e.old.Devlinks); err != nil {
			u.count(func(s *control.UdevEvents) { s.NodeErrors++ })
			d.log.Warn("remove device links", "devpath", e.ev.DevPath, "err", err)
		}
	}
}

// updateDevice is the rest of udev_event_execute_rules for an event that
// is not a remove: attribute and sysctl writes the rules asked for, the
// rename, the node's permissions and links, USEC_INITIALIZED, the tag
// index and the database entry. Only a failed rename fails the event, as
// in udevd; the rest is logged and counted.
func (d *Daemon) updateDevice(ctx context.Context, e *udevEvent) error {
	d.writeAttrs(e)
	if err := d.rename(ctx, e); err != nil {
		return err
	}
	if nd, ok := nodeDevice(e); ok {
		if err := d.udev.cfg.Nodes.Update(ctx, nd, d.nodePerms(e), e.res.Devlinks, e.res.LinkPriority, e.old.Devlinks); err != nil {
			d.udev.count(func(s *control.UdevEvents) { s.NodeErrors++ })
			d.log.Warn("update device node", "devpath", e.ev.DevPath, "err", err)
		}
	}
	if e.id != "" {
		d.writeDB(e)
	}
	return nil
}

// nodePerms are the rules' OWNER, GROUP and MODE, or where they set none
// the kernel's DEVUID, DEVGID and DEVMODE (update_devnode's
// device_get_devnode_uid/gid/mode); SECLABEL only on add, as udevd
// applies labels only then.
func (d *Daemon) nodePerms(e *udevEvent) node.Perms {
	r := e.res
	p := node.Perms{UID: r.UID, GID: r.GID, Mode: r.Mode, UIDSet: r.UIDSet, GIDSet: r.GIDSet, ModeSet: r.ModeSet}
	if e.ev.Action == uevent.ActionAdd {
		for _, s := range r.Seclabels {
			p.Seclabels = append(p.Seclabels, s.Module+"="+s.Label)
		}
	}
	def, err := node.KernelPerms(e.ev.Get("DEVMODE"), e.ev.Get("DEVUID"), e.ev.Get("DEVGID"))
	if err != nil {
		d.log.Debug("kernel's node permissions", "devpath", e.ev.DevPath, "err", err)
	}
	return p.WithDefaults(def)
}

// writeDB is device_ensure_usec_initialized, device_tag_index and
// device_update_db: USEC_INITIALIZED is kept from the first event that
// initialized the device, the tag files follow the tags, and the entry
// is rewritten.
func (d *Daemon) writeDB(e *udevEvent) {
	u := d.udev
	entry := dbEntry(e, u.now())
	e.res.Properties = withUsec(e.res.Properties, entry.Usec)
	if err := u.cfg.DB.UpdateTags(e.id, e.old.Tags, entry.Tags); err != nil {
		d.dbError(e, err)
	}
	if err := u.cfg.DB.Write(e.id, entry, e.res.DBPersist); err != nil {
		d.dbError(e, err)
	}
}

// dbEntry is the entry an event leaves: its links only for a device with
// a node (device_update_db writes S: only then), the properties the rules
// set, every tag and this event's.
func dbEntry(e *udevEvent, now uint64) devdb.Entry {
	r := e.res
	entry := devdb.Entry{
		LinkPriority: r.LinkPriority, Usec: e.old.Usec, Tags: r.Tags, CurrentTags: r.CurrentTags, Version: 1,
	}
	if v, ok := r.Property("USEC_INITIALIZED"); ok {
		entry.Usec, _ = strconv.ParseUint(v, 10, 64)
	}
	if entry.Usec == 0 {
		entry.Usec = now
	}
	if e.dev.Major > 0 {
		entry.Devlinks = r.Devlinks
	}
	for _, p := range r.DBProperties {
		entry.Props = append(entry.Props, devdb.Property{Key: p.Key, Value: p.Value})
	}
	return entry
}

// withUsec sets USEC_INITIALIZED among the device's properties, where
// device_set_usec_initialized puts it: in place, or after the rest.
func withUsec(props []rules.Property, usec uint64) []rules.Property {
	v := strconv.FormatUint(usec, 10)
	if i := slices.IndexFunc(props, func(p rules.Property) bool { return p.Key == "USEC_INITIALIZED" }); i >= 0 {
		props[i].Value = v
		return props
	}
	return append(props, rules.Property{Key: "USEC_INITIALIZED", Value: v})
}

func (d *Daemon) dbError(e *udevEvent, err error) {
	d.udev.count(func(s *control.UdevEvents) { s.DBErrors++ })
	d.log.Warn("udev database", "devpath", e.ev.DevPath, "id", e.id, "err", err)
}

func (u *udevState) now() uint64 {
	if u.cfg.Now != nil {
		return u.cfg.Now()
	}
	return devdb.Now()
}
