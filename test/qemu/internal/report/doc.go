// Package report is the contract between a harness guest and the host: the
// guest turns its tracefs log into a Report (JSON on the serial console) and
// the host summarises it. Parsing is pure so both sides, and the tests, run
// the same code.
//
// It must not import cmd/gudevd, modalias, modload, rules, uevent or workers.
// The report counts gudevd's loads, so it must not share code with gudevd.
package report
