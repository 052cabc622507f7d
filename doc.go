// Package gudevd is the root of the gudevd module and holds no code. The
// binary is cmd/gudevd, the libraries are the top-level packages README.md
// lists, and test/qemu boots real kernels to prove and measure the whole.
//
// What lives here is deps_test.go, which checks the import rule that every
// package's doc.go states in one sentence listing the packages it must stay
// away from (TestImportRules gives the grammar).
//
// It must not import cmd, internal, modalias, modload, rules, test, uevent or
// workers. The deps test sees the module only through go list, so it still
// runs, and names the broken package, when a package of the module does not
// build.
package gudevd
