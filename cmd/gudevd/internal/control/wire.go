package control

import (
	"errors"
	"fmt"

	"github.com/gudevd/gudevd/cmd/gudevd/internal/modules"
)

// DefaultPath is where the daemon listens and every client subcommand
// dials. /run is a tmpfs that exists from the initramfs on, like udevd's
// /run/udev/control.
const DefaultPath = "/run/gudevd/control"

// Op names a control request.
type Op string

// The control requests.
const (
	OpSettle   Op = "settle"    // wait until every event and load is handled
	OpStats    Op = "stats"     // report the counters
	OpLoad     Op = "load"      // load modules, retrying failed ones (gudevd load)
	OpModprobe Op = "modprobe"  // load modules as plain modprobe for the kernel's helper: never waits for a load slot
	OpProbe    Op = "probe"     // load modules as plain modprobe for a script or a udev rule: bounded as uevents' loads are
	OpReload   Op = "reload"    // reread the module index and configuration
	OpLogLevel Op = "log-level" // set the log level
	OpExit     Op = "exit"      // stop, and answer once stopped
)

// Request is one control message. A client sends exactly one request per
// connection and reads exactly one reply: settle and load block, and a
// connection per request keeps one slow caller from holding up another.
// After its request a client sends nothing: what the server reads with the
// request makes it malformed, and what it reads later, end of file
// included, it takes as the client hanging up.
type Request struct {
	Op       Op       `json:"op"`
	Modules  []string `json:"modules,omitempty"`   // OpLoad, OpModprobe, OpProbe
	LogLevel string   `json:"log_level,omitempty"` // OpLogLevel
}

// validate checks a decoded request against the protocol: a known Op, and
// the fields that Op takes and no others. It is the one place that knows
// the protocol's shape, so the Handler sees only requests it can serve.
// What the values mean (a module's name, a level's) is the Handler's to
// judge.
func (r Request) validate() error {
	switch r.Op {
	case OpSettle, OpStats, OpReload, OpExit:
		if len(r.Modules) > 0 || r.LogLevel != "" {
			return fmt.Errorf("%s request takes no modules and no log level", r.Op)
		}
	case OpLoad, OpModprobe, OpProbe:
		if len(r.Modules) == 0 {
			return fmt.Errorf("%s request names no module", r.Op)
		}
		for _, m := range r.Modules {
			if m == "" {
				return fmt.Errorf("%s request names an empty module", r.Op)
			}
		}
		if r.LogLevel != "" {
			return fmt.Errorf("%s request takes no log level", r.Op)
		}
	case OpLogLevel:
		if r.LogLevel == "" {
			return fmt.Errorf("%s request names no level", r.Op)
		}
		if len(r.Modules) > 0 {
			return fmt.Errorf("%s request takes no modules", r.Op)
		}
	case "":
		return errors.New("request has no op")
	default:
		return fmt.Errorf("unknown op %q", r.Op)
	}
	return nil
}

// Reply answers a request. Error is empty on success.
type Reply struct {
	Error   string           `json:"error,omitempty"`
	Stats   *Stats           `json:"stats,omitempty"`
	Results []modules.Result `json:"results,omitempty"`
}

// Stats is what `gudevd stats` reports: the event counters and the module
// counters side by side (one flat JSON object), and the control socket's
// own counters under "control".
type Stats struct {
	Events
	modules.Stats
	Control ServerStats `json:"control"`
	// UdevControl counts udev's control socket, when the daemon serves it.
	UdevControl *UdevStats `json:"udev_control,omitempty"`
	// Udev counts the udev stage of each event (rules, nodes, database,
	// RUN, broadcast) when the daemon is systemd-udevd (daemon --udev).
	Udev *UdevEvents `json:"udev,omitempty"`
}

// UdevEvents are the udev stage's counters; each only grows. An event
// counted in Failed was broadcast with UDEV_WORKER_FAILED=1; the other
// failures were logged and the event went on, as in systemd-udevd.
type UdevEvents struct {
	Events       uint64 `json:"events"`        // events run through the rules
	Failed       uint64 `json:"failed"`        // broadcast with UDEV_WORKER_FAILED=1
	RuleErrors   uint64 `json:"rule_errors"`   // rules that aborted an event
	RenameErrors uint64 `json:"rename_errors"` // NAME= renames that failed the event
	NodeErrors   uint64 `json:"node_errors"`   // permissions or links not applied
	DBErrors     uint64 `json:"db_errors"`     // database or tag files not written
	WriteErrors  uint64 `json:"write_errors"`  // ATTR{} or SYSCTL{} writes that failed
	RunErrors    uint64 `json:"run_errors"`    // RUN programs or builtins that failed
	SendErrors   uint64 `json:"send_errors"`   // broadcasts that failed
}

// ServerStats are the control server's counters (Server.Stats). Each only
// grows for the server's lifetime, but Open, the connections open now.
// Every connection is counted once, in Requests, Refused, Malformed or
// Empty, but one whose request was still being read when the server
// stopped.
type ServerStats struct {
	// Open connections are being read, served or answered now.
	Open int64 `json:"open"`
	// Requests were handed to the Handler.
	Requests uint64 `json:"requests"`
	// ClientGone are the Requests whose client hung up before its reply
	// (settle --timeout, Ctrl-C): their ctx ended early.
	ClientGone uint64 `json:"client_gone"`
	// Refused came from a peer that is not root, or whose credentials
	// could not be read; they were answered ErrNotRoot, whatever they sent.
	Refused uint64 `json:"refused"`
	// Malformed were not a request: not JSON, an unknown op or field,
	// fields the op does not take, more than one value, larger than the
	// request limit, or cut short by the peer closing or by the read
	// timeout.
	Malformed uint64 `json:"malformed"`
	// Empty connections closed without sending a byte. A second daemon's
	// Listen probes the socket this way to see whether one already runs.
	Empty uint64 `json:"empty"`
}

// Events are the daemon's event counters. Every counter only grows for the
// daemon's lifetime, but EventsQueued, the events queued or running now.
type Events struct {
	EventsReceived     uint64 `json:"events_received"`
	EventsDroppedCreds uint64 `json:"events_dropped_credentials"`
	EventsMalformed    uint64 `json:"events_malformed"`
	Overflows          uint64 `json:"enobufs"`
	Resyncs            uint64 `json:"resyncs"`
	EventsQueued       int    `json:"events_queued"`
}
