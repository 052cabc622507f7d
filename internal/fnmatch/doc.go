// Package fnmatch is the project's one shell-glob matcher: glibc's
// fnmatch(3) with flags 0 in the C locale, byte for byte. Every glob gudevd
// matches goes through it, because every program gudevd stands in for
// matches with that call: libkmod for modprobe.d aliases, install and
// softdep lines and the wildcard part of modules.alias keys, and udevadm
// trigger for --subsystem-match. Go's own matcher in package path differs
// from it where it matters here: its '*' stops at '/', which DMI modaliases
// contain, and it negates a bracket with '^' only, not '!'.
//
// It is pure and knows nothing of modules or devices; what is specific to
// kmod's index (the literal prefix libkmod compares before it calls
// fnmatch) stays in modalias.
//
// It must not import modalias, modload, workers, uevent or rules.
package fnmatch
