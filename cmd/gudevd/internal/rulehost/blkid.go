package rulehost

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"github.com/gudevd/gudevd/rules"
	"github.com/gudevd/gudevd/rules/builtin"
)

// ErrNoBlkid: util-linux's blkid is in none of the usual places.
var ErrNoBlkid = errors.New("no blkid program")

// FindBlkid is the absolute path of util-linux's blkid below root.
func FindBlkid(root fs.FS) (string, error) {
	for _, p := range []string{"usr/sbin/blkid", "sbin/blkid", "usr/bin/blkid", "bin/blkid"} {
		if fi, err := fs.Stat(root, p); err == nil && fi.Mode().IsRegular() {
			return "/" + p, nil
		}
	}
	return "", ErrNoBlkid
}

// BlkidProbe is builtin.BlkidProbe running blkid (the absolute path exe)
// through p. It first opens the node as sd_device_open does and reports
// that open's error. The pool returns standard output and whether the
// exit status was 0, not the status itself: a failure with nothing
// printed is taken for blkid's "nothing found" (its exit 2, which udevd
// sees as no properties) and one that printed is ErrBlkidFailed; an
// ambivalent result (exit 8), which udevd fails, then reads as nothing
// found too, with the same properties: none.
func BlkidProbe(p Programs, exe string) builtin.BlkidProbe {
	return func(ctx context.Context, req builtin.BlkidRequest) ([]builtin.Prop, error) {
		if err := openNode(req.Node); err != nil {
			return nil, err
		}
		argv := builtin.BlkidCommand(req)
		argv[0] = exe
		out, err := p.Program(ctx, argv, []string{"LC_ALL=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"})
		switch {
		case errors.Is(err, rules.ErrProgramFailed) && len(out) == 0:
			return nil, nil
		case errors.Is(err, rules.ErrProgramFailed):
			return nil, fmt.Errorf("%w: %w", builtin.ErrBlkidFailed, err)
		case err != nil:
			return nil, err
		}
		return builtin.BlkidResult(out, nil, 0)
	}
}

// openNode opens and closes the node as sd_device_open would; a vanished
// node's errno is kept for errors.Is.
func openNode(node string) error {
	f, err := os.OpenFile(node, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", node, err)
	}
	return f.Close()
}
