package modalias

// Config is the modprobe configuration that modload needs to plan a load,
// merged the way kmod merges it. Module names used as keys are normalised
// ('-' becomes '_').
type Config struct {
	// Options holds each module's parameters: modprobe.d "options" lines in
	// file order, then the kernel command line's "mod.param=value" words,
	// joined with single spaces.
	Options map[string]string
	// Softdeps holds "softdep" lines from modprobe.d and modules.softdep;
	// as in kmod, the first line for a module (in kmod's file order) wins.
	// Index.Softdep also honours lines whose module is a glob.
	Softdeps map[string]Softdep
	// Install and Remove hold the shell commands of "install" and "remove"
	// lines, run by modprobe with /bin/sh -c instead of loading. The first
	// line for a module wins.
	Install map[string]string
	Remove  map[string]string
	// Blacklist holds modules named by "blacklist" lines and by the kernel
	// command line's modprobe.blacklist=a,b. kmod 30 does not normalise
	// the command line's names, so "a-b" there blacklists nothing.
	Blacklist map[string]bool
}

// Softdep lists the modules to load before (Pre) and after (Post) a module.
type Softdep struct {
	Pre  []string
	Post []string
}
