package main

import (
	"bufio"
	"context"
	"fmt"

	"github.com/gudevd/gudevd/rules/builtin"
)

// cmdHwdb is `udevadm hwdb --test=MODALIAS` (and `systemd-hwdb query`):
// it prints the properties the hardware database gives MODALIAS, one
// KEY=VALUE a line in sd_hwdb's order, and nothing when it gives none.
// The database is --hwdb FILE, or the first hwdb.bin of sd-hwdb's search
// list (/etc/systemd/hwdb, /etc/udev, ..., /lib/udev) below --root.
func cmdHwdb(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "hwdb")
	test := fs.String("test", "", "print the properties of this `MODALIAS`")
	file := fs.String("hwdb", "", "read this hwdb.bin `FILE` instead of searching for one")
	root := fs.String("root", "/", "search for hwdb.bin below `DIR`")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: gudevd hwdb --test=MODALIAS [--hwdb FILE | --root DIR]\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *test == "" || fs.NArg() != 0 {
		fs.Usage()
		return errUsage
	}
	db, err := openHwdb(*file, *root)
	if err != nil {
		return err
	}
	defer db.Close()
	props, err := db.Query(ctx, *test)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(e.stdout)
	for _, p := range props {
		fmt.Fprintf(w, "%s=%s\n", p.Key, p.Value)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

func openHwdb(file, root string) (*builtin.HWDB, error) {
	if file != "" {
		return builtin.OpenHWDB(file)
	}
	return builtin.OpenDefaultHWDB(root)
}
