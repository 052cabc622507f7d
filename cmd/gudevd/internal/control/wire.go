package control

import (
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
	OpModprobe Op = "modprobe"  // load modules as plain modprobe (the kernel's helper)
	OpReload   Op = "reload"    // reread the module index and configuration
	OpLogLevel Op = "log-level" // set the log level
	OpExit     Op = "exit"      // stop, and answer once stopped
)

// Request is one control message. A client sends exactly one request per
// connection and reads exactly one reply: settle and load block, and a
// connection per request keeps one slow caller from holding up another.
type Request struct {
	Op       Op       `json:"op"`
	Modules  []string `json:"modules,omitempty"`   // OpLoad, OpModprobe
	LogLevel string   `json:"log_level,omitempty"` // OpLogLevel
}

// Reply answers a request. Error is empty on success.
type Reply struct {
	Error   string           `json:"error,omitempty"`
	Stats   *Stats           `json:"stats,omitempty"`
	Results []modules.Result `json:"results,omitempty"`
}

// Stats is what `gudevd stats` reports: the event counters and the module
// counters side by side (one flat JSON object).
type Stats struct {
	Events
	modules.Stats
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
