package qemu

import "slices"

// FaultScenarios are the fault scenarios (guest/faults.sh): a gudevd
// coldplug with one fault injected, after which no module may be lost and
// none loaded twice.
var FaultScenarios = []string{"fault-kill-workers", "fault-enobufs", "fault-bad-modules", "fault-restart", "fault-forged"}

func isFault(scenario string) bool { return slices.Contains(FaultScenarios, scenario) }
