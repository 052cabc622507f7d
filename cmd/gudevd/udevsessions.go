package main

import (
	"sync"

	"github.com/gudevd/gudevd/rules"
)

// udevSessions keeps the rule session the daemon's events use and makes a
// new one on every reload, as udevd's reload runs udev_builtin_exit and
// udev_builtin_init: the hwdb and the .link files are read again, so
// `systemd-hwdb update` and a new .link file take effect with `udevadm
// control --reload`. An event holds the session it started with; an old
// session's hwdb is unmapped once its last event is done. The program
// runner outlives them all.
type udevSessions struct {
	newSession func() *ruleSession
	// closeSession closes a session no event uses any more:
	// (*ruleSession).closeBuiltins; tests watch it.
	closeSession func(*ruleSession)

	mu     sync.Mutex // guards the fields below
	cur    *heldSession
	loaded bool // the rules were loaded once: a later load is a reload
}

type heldSession struct {
	s       *ruleSession
	events  int  // events using it now
	retired bool // replaced by a reload
}

func newUdevSessions(newSession func() *ruleSession) *udevSessions {
	return &udevSessions{newSession: newSession, closeSession: (*ruleSession).closeBuiltins, cur: &heldSession{s: newSession()}}
}

// host is daemon.Udev.Host: the current session's host, held until the
// returned func is called.
func (u *udevSessions) host() (rules.Host, func()) {
	u.mu.Lock()
	h := u.cur
	h.events++
	u.mu.Unlock()
	return h.s.host, func() {
		u.mu.Lock()
		h.events--
		done := h.retired && h.events == 0
		u.mu.Unlock()
		if done {
			u.closeSession(h.s)
		}
	}
}

// loadRules is daemon.Udev.Rules: the first call loads the rules of the
// session made at start; each later one (a reload) makes a new session
// first.
func (u *udevSessions) loadRules() (*rules.Rules, []rules.Diagnostic) {
	u.mu.Lock()
	again := u.loaded
	u.loaded = true
	u.mu.Unlock()
	if again {
		u.reload()
	}
	u.mu.Lock()
	s := u.cur.s
	u.mu.Unlock()
	return s.loadRules()
}

// reload makes a new session current; the old one is closed now if no
// event holds it, else by its last event.
func (u *udevSessions) reload() {
	s := u.newSession()
	u.mu.Lock()
	old := u.cur
	u.cur = &heldSession{s: s}
	old.retired = true
	done := old.events == 0
	u.mu.Unlock()
	if done {
		u.closeSession(old.s)
	}
}

// close closes the current session's builtins; the caller closes the
// runner.
func (u *udevSessions) close() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.closeSession(u.cur.s)
}

// closeBuiltins closes what the session's builtins opened (the hwdb), not
// its program runner, which the daemon's sessions share.
func (s *ruleSession) closeBuiltins() {
	if s.hwdb != nil {
		s.hwdb.Close()
		s.hwdb = nil
	}
}
