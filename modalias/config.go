package modalias

// Softdep lists the modules to load before (Pre) and after (Post) a module.
type Softdep struct {
	Pre  []string
	Post []string
}

// mergedConfig holds what kmod merges from several modprobe.d lines into
// one answer per module. Module names used as keys are normalised ('-'
// becomes '_'). Softdep and install lines are not merged: the first line
// whose pattern matches wins (Index.Softdep, Index.InstallCommand).
type mergedConfig struct {
	// options holds each module's parameters: modprobe.d "options" lines
	// in file order, then the kernel command line's "mod.param=value"
	// words, joined with single spaces.
	options map[string]string
	// blacklist holds modules named by "blacklist" lines and by the
	// kernel command line's modprobe.blacklist=a,b. kmod 30 does not
	// normalise the command line's names, so "a-b" there blacklists
	// nothing.
	blacklist map[string]bool
}
