package modalias

// Softdep lists the modules to load before (Pre) and after (Post) a module.
type Softdep struct {
	Pre  []string
	Post []string
}

// mergedConfig holds what kmod merges from several modprobe.d lines into
// one answer per module. Module names used as keys are normalised ('-'
// becomes '_'). Options are not merged here, since a module's depend on
// the alias it was found through (configState.moduleOptions); softdep and
// install lines are not merged either: the first line whose pattern
// matches wins (Index.Softdep, Index.InstallCommand).
type mergedConfig struct {
	// blacklist holds modules named by "blacklist" lines and by the
	// kernel command line's modprobe.blacklist=a,b. kmod 30 does not
	// normalise the command line's names, so "a-b" there blacklists
	// nothing.
	blacklist map[string]bool
}
