package main

// stats is what `gudevd stats` reports. Every counter only grows for the
// daemon's lifetime; a reload does not reset them.
type stats struct {
	EventsReceived     uint64 `json:"events_received"`
	EventsDroppedCreds uint64 `json:"events_dropped_credentials"`
	EventsMalformed    uint64 `json:"events_malformed"`
	Overflows          uint64 `json:"enobufs"`
	Resyncs            uint64 `json:"resyncs"`
	ModaliasLookups    uint64 `json:"modalias_lookups"`
	ModuleRequests     uint64 `json:"module_requests"`
	JoinedInFlight     uint64 `json:"joined_in_flight"`
	ServedFromDone     uint64 `json:"served_from_done"`
	LoadRetries        uint64 `json:"load_retries"`
	WorkerCrashes      uint64 `json:"worker_crashes"`
	WorkerTimeouts     uint64 `json:"worker_timeouts"`
	EventsQueued       int    `json:"events_queued"`

	// LoadSyscalls counts finit_module and init_module calls by result:
	// "ok", "eexist", or the errno's name.
	LoadSyscalls map[string]uint64 `json:"load_syscalls"`
	// Failed holds the last error of every module whose load failed.
	Failed  map[string]string       `json:"failed,omitempty"`
	Modules map[string]*moduleStats `json:"modules,omitempty"`
}

// moduleStats is one module's line in `gudevd stats`.
type moduleStats struct {
	Requests uint64  `json:"requests"`
	Syscalls uint64  `json:"syscalls"`
	Bytes    uint64  `json:"bytes"`
	Result   string  `json:"result"`
	Millis   float64 `json:"ms"`
}

type counter struct {
	name string
	n    uint64
}

func (s *stats) totals() []counter {
	return []counter{
		{"events received", s.EventsReceived},
		{"events dropped by credential check", s.EventsDroppedCreds},
		{"events malformed", s.EventsMalformed},
		{"receive buffer overflows (ENOBUFS)", s.Overflows},
		{"resyncs", s.Resyncs},
		{"modalias lookups", s.ModaliasLookups},
		{"module requests", s.ModuleRequests},
		{"joined in flight", s.JoinedInFlight},
		{"served from done", s.ServedFromDone},
		{"load retries after ENOMEM/EAGAIN", s.LoadRetries},
		{"worker crashes", s.WorkerCrashes},
		{"worker timeouts", s.WorkerTimeouts},
	}
}
