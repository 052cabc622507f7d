package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gudevd/gudevd/cmd/gudevd/internal/rulehost"
)

// TestUdevSessions: a reload makes a new session for the events that
// start after it; an event that started before keeps its own, whose
// builtins are closed only when its last event is done.
func TestUdevSessions(t *testing.T) {
	var made []*ruleSession
	u := newUdevSessions(func() *ruleSession {
		s := &ruleSession{host: &rulehost.Host{}}
		made = append(made, s)
		return s
	})
	var closed []int
	u.closeSession = func(s *ruleSession) {
		for i, m := range made {
			if m == s {
				closed = append(closed, i)
			}
		}
	}
	h1, release1 := u.host()
	u.reload()
	h2, release2 := u.host()
	if h1 != made[0].host || h2 != made[1].host {
		t.Fatal("the event after the reload did not get the new session")
	}
	if len(closed) != 0 {
		t.Fatalf("closed %v while an event holds the first session", closed)
	}
	release1()
	u.reload() // the second is held: stays open
	release2()
	_, release3 := u.host()
	release3() // the current one stays open after its events
	u.close()
	if diff := cmp.Diff([]int{0, 1, 2}, closed); diff != "" {
		t.Errorf("sessions closed (-want +got):\n%s", diff)
	}
}
