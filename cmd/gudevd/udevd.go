package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"

	"github.com/gudevd/gudevd/cmd/gudevd/internal/control"
	"github.com/gudevd/gudevd/cmd/gudevd/internal/daemon"
	"github.com/gudevd/gudevd/cmd/gudevd/internal/node"
	"github.com/gudevd/gudevd/cmd/gudevd/internal/programs"
	"github.com/gudevd/gudevd/cmd/gudevd/internal/rtnl"
	"github.com/gudevd/gudevd/cmd/gudevd/internal/rulehost"
	"github.com/gudevd/gudevd/cmd/gudevd/internal/sdaemon"
	"github.com/gudevd/gudevd/rules/builtin"
	"github.com/gudevd/gudevd/uevent"
	"github.com/gudevd/gudevd/uevent/devdb"
)

// udevRunDir is systemd-udevd's state directory: the database, tags,
// links, the queue file and the control socket.
const udevRunDir = "/run/udev"

// udevProgramsMax is how many RUN and PROGRAM programs run at once. A boot
// runs few (ata_id, scsi_id, cdrom_id for the disks); each waits in its own
// program worker, so more only cost memory.
const udevProgramsMax = 4

// udevSetup is what `gudevd daemon --udev` opened to be systemd-udevd:
// closed after the daemon's Run.
type udevSetup struct {
	sessions *udevSessions
	nodes    *node.Nodes
	runner   *programs.Runner
	conn     *uevent.Conn
	closeFn  []func()
	// explicitBuffer: --receive-buffer was given.
	explicitBuffer bool

	rtnlMu sync.Mutex // serializes renames; guards rtnl
	rtnl   *rtnl.Conn // opened by the first rename
}

// setupUdev makes cfg systemd-udevd 252's: rules from the standard
// directories with this system's hwdb, .link files and programs in a pool
// of program workers; the database, tags and links below /run/udev; nodes
// in /dev; the broadcast on the libudev group; udev's control socket.
// kmod returns the daemon's loader once it exists, for the rules'
// IMPORT{builtin}="kmod load".
func setupUdev(ctx context.Context, e *env, cfg *daemon.Config, explicitBuffer bool, kmod func() *daemon.Daemon) (*udevSetup, error) {
	if err := os.MkdirAll(udevRunDir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", udevRunDir, err)
	}
	s := &udevSetup{explicitBuffer: explicitBuffer}
	runner, err := newDaemonRunner(e, cfg)
	if err != nil {
		return nil, err
	}
	s.runner = runner
	s.nodes = node.New(node.Config{Dev: "/dev", Links: filepath.Join(udevRunDir, "links"), Log: e.log})
	s.sessions = newUdevSessions(func() *ruleSession { return s.newSession(ctx, e, runner, kmod) })
	conn, err := uevent.Listen(uevent.GroupNone, e.log, uevent.WithReceiveBuffer(4096))
	if err != nil {
		s.close()
		return nil, fmt.Errorf("open broadcast socket: %w", err)
	}
	s.conn = conn
	s.closeFn = append(s.closeFn, func() { conn.Close() })
	cfg.Udev = &daemon.Udev{
		Host:       s.sessions.host,
		Rules:      s.sessions.loadRules,
		DB:         &devdb.Store{Dir: udevRunDir, Log: e.log},
		Nodes:      s.nodes,
		Broadcast:  conn.Send,
		Program:    runner.Program,
		Rename:     s.rename,
		ValidName:  rtnl.ValidName,
		QueueFile:  filepath.Join(udevRunDir, "queue"),
		StaticTags: filepath.Join(udevRunDir, "static_node-tags"),
		Dev:        "/dev",
	}
	if cfg.UdevControl == "" {
		cfg.UdevControl = control.UdevPath
	}
	if err := s.takeSockets(cfg); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// newSession is a rule session over this system whose programs run in
// runner, whose kmod builtin is the daemon's loader and whose
// net_setup_link applies its plan over rtnetlink.
func (s *udevSetup) newSession(ctx context.Context, e *env, runner *programs.Runner, kmod func() *daemon.Daemon) *ruleSession {
	rs := newRuleSessionWith(ctx, e, "/", runner)
	rs.runner = nil // shared by every session: closed by udevSetup
	rs.env.Kmod = func(ctx context.Context, names []string) error { return kmod().Kmod(ctx, names) }
	rs.env.ApplyUaccess = func(_ context.Context, acl *builtin.UaccessACL) error {
		return s.nodes.SetUaccess(acl.Node, acl.Grant, acl.UID)
	}
	rs.env.ApplyKeyboard = func(_ context.Context, dev *builtin.Device, a builtin.KeyboardActions) error {
		if err := rulehost.ApplyKeyboard("/sys", dev, a); err != nil {
			// udevd logs each failed remap or attribute write and goes on.
			e.log.Warn("keyboard builtin", "devpath", dev.Syspath, "err", err)
		}
		return nil
	}
	rs.env.ApplyLink = func(ctx context.Context, dev *builtin.Device, p builtin.LinkPlan) error {
		s.rtnlMu.Lock()
		defer s.rtnlMu.Unlock()
		c, err := s.rtnlConn()
		if err == nil {
			err = applyLink(ctx, c, dev, p)
		}
		if err != nil {
			// udevd: "Could not apply link configuration, ignoring".
			e.log.Warn("could not apply link configuration, ignoring", "devpath", dev.Syspath, "err", err)
		}
		return nil
	}
	return rs
}

// takeSockets takes what systemd-udevd-kernel.socket and
// systemd-udevd-control.socket passed (LISTEN_FDS), as udevd's
// listen_fds does; the daemon opens what was not passed itself. The
// passed uevent socket keeps the unit's receive buffer (ReceiveBuffer=128M)
// unless --receive-buffer says otherwise.
func (s *udevSetup) takeSockets(cfg *daemon.Config) error {
	ls, err := sdaemon.Listeners(true)
	if err != nil {
		return err
	}
	socks, err := sdaemon.SplitUdev(ls)
	if err != nil {
		return err
	}
	cfg.UeventFile, cfg.UdevControlFile = socks.Uevent, socks.Control
	if socks.Uevent != nil && !s.explicitBuffer {
		cfg.ReceiveBuffer = 0
	}
	return nil
}

// rename is NAME='s rename over rtnetlink, on one socket opened at the
// first rename: most boots rename nothing (Debian names interfaces with
// NAME= only through .link files' NamePolicy).
func (s *udevSetup) rename(ctx context.Context, ifindex int, name string) error {
	s.rtnlMu.Lock()
	defer s.rtnlMu.Unlock()
	c, err := s.rtnlConn()
	if err != nil {
		return err
	}
	return c.Rename(ctx, ifindex, name)
}

// rtnlConn opens the rtnetlink socket at its first use; rtnlMu is held.
func (s *udevSetup) rtnlConn() (*rtnl.Conn, error) {
	if s.rtnl == nil {
		c, err := rtnl.Dial(0)
		if err != nil {
			return nil, err
		}
		s.rtnl = c
	}
	return s.rtnl, nil
}

// linkConn is what applyLink needs of an rtnetlink socket (rtnl.Conn).
type linkConn interface {
	Link(ctx context.Context, ifindex int) (rtnl.Link, error)
	SetMAC(ctx context.Context, ifindex int, mac []byte) error
	AddAltNames(ctx context.Context, ifindex int, names []string) error
}

// applyLink carries out what net_setup_link planned besides the name,
// which NAME= renames later in the event, as udevd's link_config_apply
// does: the MAC address (MACAddressPolicy=, a random one drawn here), then
// the alternative names less the current name and those the interface
// has already. Every step is tried; their errors are joined.
func applyLink(ctx context.Context, c linkConn, dev *builtin.Device, p builtin.LinkPlan) error {
	ifindex, err := strconv.Atoi(dev.Props["IFINDEX"])
	if err != nil || ifindex <= 0 {
		return fmt.Errorf("apply link configuration: no IFINDEX")
	}
	var errs []error
	mac := p.MACAddress
	if p.RandomMACAddress {
		mac = make([]byte, 6)
		rand.Read(mac)
		mac[0] = mac[0]&^0x01 | 0x02 // unicast, locally administered
	}
	if mac != nil {
		errs = append(errs, c.SetMAC(ctx, ifindex, mac))
	}
	if len(p.AlternativeNames) > 0 {
		cur, err := c.Link(ctx, ifindex)
		if err != nil {
			return errors.Join(append(errs, err)...)
		}
		var add []string
		for _, n := range p.AlternativeNames {
			if n != cur.Name && !slices.Contains(cur.AltNames, n) && !slices.Contains(add, n) {
				add = append(add, n)
			}
		}
		if len(add) > 0 {
			errs = append(errs, c.AddAltNames(ctx, ifindex, add))
		}
	}
	return errors.Join(errs...)
}

func (s *udevSetup) close() {
	if s.sessions != nil {
		s.sessions.close()
	}
	if s.runner != nil {
		s.runner.Close(context.Background())
	}
	s.rtnlMu.Lock()
	if s.rtnl != nil {
		s.rtnl.Close()
	}
	s.rtnlMu.Unlock()
	for i := len(s.closeFn) - 1; i >= 0; i-- {
		s.closeFn[i]()
	}
}

// newDaemonRunner runs RUN and PROGRAM programs in program workers, with
// the daemon's event timeout.
func newDaemonRunner(e *env, cfg *daemon.Config) (*programs.Runner, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own binary: %w", err)
	}
	timeout := cfg.EventTimeout
	if timeout <= 0 {
		timeout = daemon.DefaultEventTimeout
	}
	r, err := programs.NewRunner(programs.Config{
		Log: e.log, Command: programs.WorkerCommand(exe), Max: udevProgramsMax, Timeout: timeout, Limit: programs.DefaultLimit,
	})
	if err != nil {
		return nil, fmt.Errorf("start program workers: %w", err)
	}
	return r, nil
}
