package report

// MemoryPeak is what a coldplug cost in memory, from the guest's sampler
// (guesttool sample, /out/mem.json): the kernel's side, vmalloc space (the
// seeds' measure: every module image a load reads and every module's core
// sections live there), and the user side, the device manager's process
// family (systemd-udevd and its workers, or gudevd and its workers).
//
// Memory of a process family is a sum of PSS: udevd's forked workers share
// their pages with the main process, gudevd's re-executed workers do not,
// so a sum of RSS would count udevd's shared pages once per worker. RSS is
// kept beside it because the issue that asked for it names RSS.
type MemoryPeak struct {
	Samples       int     `json:"samples"`         // samples taken during the run
	IntervalMS    float64 `json:"interval_ms"`     // mean time between samples
	VmallocStart  int64   `json:"vmalloc_start"`   // VmallocUsed at the first sample, bytes
	VmallocPeak   int64   `json:"vmalloc_peak"`    // highest VmallocUsed, bytes
	VmallocEnd    int64   `json:"vmalloc_end"`     // VmallocUsed at the last sample, bytes
	ManagerPSS    int64   `json:"manager_pss"`     // highest sum of Pss over the family, bytes
	ManagerRSS    int64   `json:"manager_rss"`     // highest sum of Rss over the family, bytes
	ManagerProcs  int     `json:"manager_procs"`   // most processes of the family seen at once
	VmallocPeakAt float64 `json:"vmalloc_peak_at"` // seconds after coldplug start
}
