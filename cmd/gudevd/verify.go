package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gudevd/gudevd/rules"
)

// cmdVerify parses rules files as udevd 252 would load them and prints
// what udevd would log: errors (lines udevd drops) and warnings (lines it
// keeps, perhaps corrected). With no arguments it reads udevd's rules
// directories under --root; a DIR argument stands for its *.rules files.
// It exits 1 when there is an error, 0 when there are only warnings.
func cmdVerify(_ context.Context, e *env, args []string) error {
	fs := newFlags(e, "verify")
	root := fs.String("root", "/", "read the rules directories and etc/passwd, etc/group under `DIR`")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: gudevd verify [--root DIR] [FILE|DIR...]\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	fsys := os.DirFS(*root)
	opt := &rules.Options{Users: rules.PasswdFiles{FS: fsys}}
	var rs *rules.Rules
	var diags []rules.Diagnostic
	if fs.NArg() == 0 {
		rs, diags = rules.Load(fsys, opt)
	} else {
		paths, err := verifyPaths(fs.Args())
		if err != nil {
			return err
		}
		rs, diags = rules.LoadFiles(os.DirFS("/"), paths, opt)
	}
	return reportVerify(e, rs, diags)
}

// verifyPaths makes the arguments absolute and expands directories into
// their visible *.rules files in name order.
func verifyPaths(args []string) ([]string, error) {
	var paths []string
	for _, a := range args {
		abs, err := filepath.Abs(a)
		if err != nil {
			return nil, fmt.Errorf("resolve %s: %w", a, err)
		}
		st, err := os.Stat(abs)
		if err != nil {
			return nil, fmt.Errorf("verify %s: %w", a, err)
		}
		if !st.IsDir() {
			paths = append(paths, abs)
			continue
		}
		entries, err := os.ReadDir(abs)
		if err != nil {
			return nil, fmt.Errorf("verify %s: %w", a, err)
		}
		var names []string
		for _, de := range entries {
			if n := de.Name(); strings.HasSuffix(n, ".rules") && !strings.HasPrefix(n, ".") {
				names = append(names, n)
			}
		}
		slices.Sort(names)
		for _, n := range names {
			paths = append(paths, filepath.Join(abs, n))
		}
	}
	return paths, nil
}

// reportVerify prints the diagnostics, warnings marked, and the summary.
func reportVerify(e *env, rs *rules.Rules, diags []rules.Diagnostic) error {
	var errs, warns int
	var b strings.Builder
	for _, d := range diags {
		if d.Severity == rules.Error {
			errs++
			b.WriteString(d.String() + "\n")
			continue
		}
		warns++
		b.WriteString("warning: " + d.String() + "\n")
	}
	fmt.Fprintf(&b, "%d files, %d rules, %d errors, %d warnings\n", len(rs.Files), len(rs.Lines), errs, warns)
	if _, err := fmt.Fprint(e.stderr, b.String()); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	if errs > 0 {
		return errQuietFailure
	}
	return nil
}
