package modules

// Stats are the module counters `gudevd stats` reports. Every counter only
// grows for the daemon's lifetime; a reload does not reset them.
type Stats struct {
	ModaliasLookups  uint64 `json:"modalias_lookups"`
	ModuleRequests   uint64 `json:"module_requests"`
	JoinedInFlight   uint64 `json:"joined_in_flight"`
	ServedFromDone   uint64 `json:"served_from_done"`
	LoadRetries      uint64 `json:"load_retries"`
	WorkerCrashes    uint64 `json:"worker_crashes"`
	WorkerIdleDeaths uint64 `json:"worker_idle_deaths"` // workers that died between loads
	WorkerTimeouts   uint64 `json:"worker_timeouts"`
	// IndexProblems counts the damaged lines of the module index in use
	// (depmod's files and modprobe.d), each skipped and logged at load.
	IndexProblems int `json:"index_problems"`
	// InheritedFailures counts modules answered from a previous daemon's
	// ledger of the kernel's refusals this boot, each a load syscall not
	// made again.
	InheritedFailures uint64 `json:"inherited_failures"`

	// LoadSyscalls counts finit_module and init_module calls by result:
	// "ok", "eexist", or the errno's name.
	LoadSyscalls map[string]uint64 `json:"load_syscalls"`
	// Failed holds the last error of every module whose load failed.
	Failed  map[string]string       `json:"failed,omitempty"`
	Modules map[string]*ModuleStats `json:"modules,omitempty"`
}

// ModuleStats is one module's line in `gudevd stats`.
type ModuleStats struct {
	Requests uint64  `json:"requests"`
	Syscalls uint64  `json:"syscalls"`
	Bytes    uint64  `json:"bytes"`
	Result   string  `json:"result"`
	Millis   float64 `json:"ms"`
}

// Result is what a caller learns about one module it asked for.
type Result struct {
	Module string `json:"module"`
	Result string `json:"result"`
	Error  string `json:"error,omitempty"`
}
