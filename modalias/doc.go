// Package modalias resolves a device's MODALIAS to module names exactly as
// libkmod does: modules.alias, modules.builtin and the builtin aliases,
// modules.softdep, modprobe.d configuration (alias, blacklist, options,
// install, remove, softdep) and the kernel command line.
//
// It is the one reader of depmod's files (modules.dep, modules.alias,
// modules.builtin, modules.builtin.modinfo, modules.softdep,
// modules.symbols, and the .bin indexes libkmod reads instead:
// modules.dep.bin, modules.alias.bin, modules.symbols.bin,
// modules.builtin.bin, modules.builtin.alias.bin) and of modprobe.d:
// besides resolving, an Index answers what a load planner needs, each
// module's file and dependencies (Module), options, softdeps, install
// commands and the blacklist, so modload plans from it instead of parsing
// the files again. ModuleName is the one module-name normaliser.
//
// Everything here is pure: an Index is built once from file systems given as
// fs.FS values (Open maps the files of an os.DirFS, read-only) and answers
// lookups without touching the system.
//
// Two ways to build one, two sources of the same answers. Load parses the
// text files into tables whose lookups are fast at any percentile (the
// daemon: parsed once, asked thousands of times). Open reads what libkmod
// reads, depmod's .bin tries (binindex.go), mapped and walked lazily, so a
// process that makes one lookup (the kernel's modprobe helper without a
// daemon) pays for that lookup only. Open's walk is the authoritative one:
// it is libkmod's index_mm_search and index_mm_searchwild, node for node,
// over depmod's own data, its values ordered by libkmod's add_value. The
// text path (patterns.go's walk over sorted keys, which skips the subtrees
// libkmod enumerates and fnmatches whole) is an optimisation that must
// answer alike: TestConformance runs every golden lookup through both
// against modprobe, TestBinMatchesText compares them on every lookup,
// module name and alias key of both kernels, and FuzzBinMatchesText on
// random alias sets, all with .bin files from a test writer that is byte
// for byte depmod's (TestBinWriterMatchesDepmod).
//
// One policy for a bad line, in every file: a malformed line is skipped,
// the rest of the file still loads, and the line is reported by
// Index.Problems as a *FileError (file and line) wrapping ErrCorrupt and
// counted in Index.Stats. Only a missing modules.dep or modules.alias, or
// a file that cannot be read, makes Load fail: one damaged line must not
// cost the machine every other module.
//
// The behaviour is kmod 30's, checked against Debian's modprobe on the
// module trees of Debian's 6.1 and 6.12 kernels (conformance_test.go):
//
//   - Lookup order (kmod_module_new_from_lookup): modprobe.d aliases, a
//     module of that name in modules.dep, modules.symbols for "symbol:",
//     install/remove commands, modules.alias, modules.builtin, builtin
//     aliases; the first source with a match wins.
//   - Every matching alias counts, in libkmod's order (modules.dep order
//     for modules.alias; for builtin aliases the reverse of its trie walk)
//     and with its repetitions, as Candidates shows; Resolve and Lookup
//     then list each module once.
//   - Index keys match as libkmod's index_searchwild matches them: bytes
//     before the first '*', '?' or '[' compare literally (a backslash
//     there is a plain byte, and a wildcard in the looked-up string can
//     meet the same byte in a key), the rest goes to glibc's
//     fnmatch(3) with flags 0 (internal/fnmatch). modprobe.d aliases use
//     fnmatch throughout.
//   - Resolve is udev's path (KMOD_PROBE_APPLY_BLACKLIST, modprobe -b):
//     blacklisted modules are dropped, builtin ones included. Lookup is
//     plain modprobe (the kernel's request_module): only modules found
//     through an alias are subject to the blacklist (Blacklists decides
//     both, for one Candidate).
//   - Each modprobe.d keyword matches as libkmod matches it: alias,
//     softdep, install and remove patterns with fnmatch (the first
//     matching softdep or install line wins; a name known only from
//     install lines takes the first naming it exactly), options and
//     blacklist by equality after '-' becomes '_'. A module found through
//     an alias remembers it (Candidate.Alias: the modprobe.d pattern that
//     matched, or the string looked up in modules.alias), and the options
//     lines of that alias apply to it too (ModuleOptions).
//
// It must not import uevent, modload, workers or rules.
package modalias
