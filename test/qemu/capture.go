package qemu

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Capture boots k at 4 vCPUs with every module of its set loaded and
// refreshes the test data other packages read:
//
//   - test/qemu/testdata/modules-<kernel>.txt: the guest's module set, found
//     again by DiscoverModules;
//   - modalias/testdata/guest/<kernel>.txt: every modalias in the guest;
//   - uevent/testdata/guest/kernel-<kernel>-NNNN.bin: raw kernel uevent
//     datagrams (coldplug add and change, module add, synthetic events),
//     one of each shape (action, subsystem, key set) plus every one whose
//     values hold '@' or '='.
func (h *Harness) Capture(ctx context.Context, k Kernel, repo string) error {
	mods, err := h.DiscoverModules(ctx, k)
	if err != nil {
		return err
	}
	t, err := h.kernelTree(ctx, k)
	if err != nil {
		return err
	}
	b, err := h.boot(ctx, t, mods, "capture", 4, false)
	if err != nil {
		return err
	}
	aliases := b.Files["modaliases.txt"]
	if len(aliases) == 0 {
		return fmt.Errorf("capture %s: guest listed no modaliases", k.Name)
	}
	madir := filepath.Join(repo, "modalias", "testdata", "guest")
	if err := os.MkdirAll(madir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", madir, err)
	}
	if err := os.WriteFile(filepath.Join(madir, k.Name+".txt"), aliases, 0o644); err != nil {
		return fmt.Errorf("write modaliases: %w", err)
	}
	var names []string
	for n := range b.Files {
		if strings.HasPrefix(n, "uevent/kernel-") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var dgrams [][]byte
	for _, n := range names {
		dgrams = append(dgrams, b.Files[n])
	}
	keep := selectDatagrams(dgrams)
	udir := filepath.Join(repo, "uevent", "testdata", "guest")
	if err := os.MkdirAll(udir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", udir, err)
	}
	old, _ := filepath.Glob(filepath.Join(udir, "kernel-"+k.Name+"-*.bin"))
	for _, o := range old {
		os.Remove(o)
	}
	for i, d := range keep {
		p := filepath.Join(udir, fmt.Sprintf("kernel-%s-%04d.bin", k.Name, i+1))
		if err := os.WriteFile(p, d, 0o644); err != nil {
			return fmt.Errorf("write datagram: %w", err)
		}
	}
	h.progress("%s: %d modaliases, %d of %d datagrams kept", k.Name, bytes.Count(aliases, []byte("\n")), len(keep), len(dgrams))
	return nil
}

// selectDatagrams keeps the first datagram of every shape, in capture order,
// and every datagram with '@' or '=' inside a value, so the test data stays
// small but covers every kind of event the guest produced.
func selectDatagrams(dgrams [][]byte) [][]byte {
	seen := map[string]bool{}
	var keep [][]byte
	for _, d := range dgrams {
		fields := bytes.Split(bytes.TrimRight(d, "\x00"), []byte{0})
		if len(fields) == 0 {
			continue
		}
		action, _, _ := bytes.Cut(fields[0], []byte("@"))
		var keys []string
		odd := false
		subsystem := ""
		for _, f := range fields[1:] {
			k, v, _ := bytes.Cut(f, []byte("="))
			keys = append(keys, string(k))
			if string(k) == "SUBSYSTEM" {
				subsystem = string(v)
			}
			if bytes.ContainsAny(v, "@=") {
				odd = true
			}
		}
		sort.Strings(keys)
		shape := string(action) + "|" + subsystem + "|" + strings.Join(keys, ",")
		if seen[shape] && !odd {
			continue
		}
		seen[shape] = true
		keep = append(keep, d)
	}
	return keep
}

// CaptureLibudev boots k with systemd-udevd and writes what udevd
// rebroadcasts on netlink group 2 in libudev's format to
// uevent/testdata/guest/libudev-<kernel>-NNNN.bin, one of each shape.
func (h *Harness) CaptureLibudev(ctx context.Context, k Kernel, repo string) error {
	mods, err := h.ModuleSet(ctx, k)
	if err != nil {
		return err
	}
	t, err := h.kernelTree(ctx, k)
	if err != nil {
		return err
	}
	b, err := h.boot(ctx, t, mods, "capture-libudev", 4, true)
	if err != nil {
		return err
	}
	var names []string
	for n := range b.Files {
		if strings.HasPrefix(n, "uevent/libudev-") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return fmt.Errorf("capture libudev datagrams on %s: udevd broadcast nothing", k.Name)
	}
	seen := map[string]bool{}
	var keep [][]byte
	for _, n := range names {
		d := b.Files[n]
		shape := libudevShape(d)
		if seen[shape] {
			continue
		}
		seen[shape] = true
		keep = append(keep, d)
	}
	udir := filepath.Join(repo, "uevent", "testdata", "guest")
	old, _ := filepath.Glob(filepath.Join(udir, "libudev-"+k.Name+"-*.bin"))
	for _, o := range old {
		os.Remove(o)
	}
	for i, d := range keep {
		p := filepath.Join(udir, fmt.Sprintf("libudev-%s-%04d.bin", k.Name, i+1))
		if err := os.WriteFile(p, d, 0o644); err != nil {
			return fmt.Errorf("write datagram: %w", err)
		}
	}
	h.progress("%s: %d of %d libudev datagrams kept", k.Name, len(keep), len(names))
	return nil
}

// libudevShape is the action, subsystem and key set of a libudev datagram:
// a 40-byte header ("libudev\0", magic, offsets), then the same
// NUL-separated KEY=VALUE properties the kernel sends.
func libudevShape(d []byte) string {
	if len(d) < 40 {
		return string(d)
	}
	off := int(binary.LittleEndian.Uint32(d[16:20])) // properties_off, host order (x86)
	if off < 40 || off > len(d) {
		off = 40
	}
	var action, subsystem string
	var keys []string
	for _, f := range bytes.Split(d[off:], []byte{0}) {
		k, v, ok := bytes.Cut(f, []byte("="))
		if !ok {
			continue
		}
		keys = append(keys, string(k))
		switch string(k) {
		case "ACTION":
			action = string(v)
		case "SUBSYSTEM":
			subsystem = string(v)
		}
	}
	sort.Strings(keys)
	return action + "|" + subsystem + "|" + strings.Join(keys, ",")
}
