package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// peerEnv makes the test binary a control client instead of running tests:
// TestControlRefusesNonRootPeer runs it again as another uid, with the
// socket's path in peerEnv, so that a real process of that uid connects
// and the kernel records its credentials for SO_PEERCRED.
const peerEnv = "GUDEVD_CONTROL_TEST_PEER"

func TestMain(m *testing.M) {
	if path := os.Getenv(peerEnv); path != "" {
		os.Exit(peerMain(path))
	}
	if path := os.Getenv(udevPeerEnv); path != "" {
		os.Exit(udevPeerMain(path))
	}
	os.Exit(m.Run())
}

// peerOutcome is what the peer process saw, printed as JSON on its stdout.
type peerOutcome struct {
	UID     int    `json:"uid"`
	Reply   Reply  `json:"reply"`
	Err     string `json:"err"`
	NotRoot bool   `json:"not_root"` // errors.Is(err, ErrNotRoot)
	EPERM   bool   `json:"eperm"`    // errors.Is(err, unix.EPERM)
}

// peerMain sends one stats request to path and prints what came back.
func peerMain(path string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rep, err := Call(ctx, path, Request{Op: OpStats})
	out := peerOutcome{
		UID:     os.Getuid(),
		Reply:   rep,
		NotRoot: errors.Is(err, ErrNotRoot),
		EPERM:   errors.Is(err, unix.EPERM),
	}
	if err != nil {
		out.Err = err.Error()
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, "control test peer:", err)
		return 1
	}
	return 0
}
