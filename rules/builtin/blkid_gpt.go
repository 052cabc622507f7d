package builtin

import (
	"context"
	"io/fs"
	"path"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
)

// GPT partition types find_gpt_root looks for, normalized (normalizeID128).
const (
	gptESP      = "c12a7328f81f11d2ba4b00a0c93ec93b"
	gptXBOOTLDR = "bc13c2ff59e64262a352b275fd6f7172"
)

// gptRootNative is SD_GPT_ROOT_NATIVE by Go architecture; where systemd
// defines none, udevd computes no auto root.
var gptRootNative = map[string]string{
	"amd64":    "4f68bce3e8cd4db196e7fbcaf984b709",
	"386":      "44479540f29741b29af7d131d5f0458a",
	"arm64":    "b921b0451df041c3af444c6f280d3fae",
	"arm":      "69dad7102ce44e3cb16c21a1d49abed3",
	"riscv64":  "72ec70a6cf7440e6bd494bda08e8f224",
	"ppc64le":  "c31c45e63f39412e80fb4809c4980599",
	"s390x":    "5eead9a9fe094a1ea1d7520d00531306",
	"loong64":  "77055800792c4f94b39a98c91b762bb6",
	"mips64le": "700bda437a344507b179eeb93d7a7ca3",
}

// gptFlagNoAuto is SD_GPT_FLAG_NO_AUTO, bit 63 of the GPT attributes.
const gptFlagNoAuto = 1 << 63

// loaderDevicePartUUID is the EFI variable where systemd-boot (and other
// loaders of the Boot Loader Interface) name the partition they booted
// from, below sysfs.
const loaderDevicePartUUID = "firmware/efi/efivars/LoaderDevicePartUUID-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f"

// gptAutoRoot is udevd's find_gpt_root for a GPT disk: when the disk
// holds the ESP or XBOOTLDR partition the boot loader booted from (EFI
// variable LoaderDevicePartUUID), the first root partition of the native
// architecture without the no-auto flag, or the one whose label is the
// newest version, gives ID_PART_GPT_AUTO_ROOT_UUID. udevd walks
// libblkid's partition list of the disk; blkid -p prints only the probed
// partition's entry, so this probes each partition of the disk in sysfs
// (its kernel's view of the same table), and only when the variable is
// there: without EFI boot or with a failed read udevd sets nothing.
// Failed partition probes skip the partition.
func gptAutoRoot(ctx context.Context, dev *Device, req BlkidRequest, probe BlkidProbe) []Prop {
	native, ok := gptRootNative[runtime.GOARCH]
	if !ok || dev.Sysfs == nil {
		return nil
	}
	booted, ok := loaderPartition(dev.Sysfs)
	if !ok {
		return nil
	}
	found := false
	var rootUUID, rootLabel string
	for _, node := range diskPartitions(dev) {
		values, err := probe(ctx, BlkidRequest{Node: node, NoRaid: req.NoRaid, Hint: req.Hint})
		if err != nil {
			continue
		}
		e := gptEntryOf(values)
		switch {
		case e.uuid == "" || e.typ == "":
		case e.typ == gptESP || e.typ == gptXBOOTLDR:
			if id, ok := normalizeID128(e.uuid); ok && id == booted {
				found = true
			}
		case e.typ == native && e.flags&gptFlagNoAuto == 0:
			if rootUUID == "" || strverscmpImproved(e.name, rootLabel) > 0 {
				rootUUID, rootLabel = e.uuid, e.name
			}
		}
	}
	if !found || rootUUID == "" {
		return nil
	}
	return []Prop{{"ID_PART_GPT_AUTO_ROOT_UUID", rootUUID}}
}

// gptEntry is one partition's entry as libblkid reports it.
type gptEntry struct {
	uuid, name, typ string // typ normalized, "" when not an id128
	flags           uint64
}

// gptEntryOf picks a partition's PART_ENTRY_* values.
func gptEntryOf(values []Prop) gptEntry {
	var e gptEntry
	for _, v := range values {
		switch v.Key {
		case "PART_ENTRY_UUID":
			e.uuid = v.Value
		case "PART_ENTRY_NAME":
			e.name = v.Value
		case "PART_ENTRY_TYPE":
			e.typ, _ = normalizeID128(v.Value)
		case "PART_ENTRY_FLAGS": // "0x%llx"
			e.flags, _ = strconv.ParseUint(strings.TrimPrefix(v.Value, "0x"), 16, 64)
		}
	}
	return e
}

// loaderPartition reads LoaderDevicePartUUID, normalized: four bytes of
// attributes, then a UTF-16LE string that efi_loader_get_device_part_uuid
// reads as a UUID (trailing text ignored, as sscanf does).
func loaderPartition(sysfs fs.FS) (string, bool) {
	b, err := fs.ReadFile(sysfs, loaderDevicePartUUID)
	if err != nil || len(b) < 4 {
		return "", false
	}
	b = b[4:]
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
	}
	s := string(utf16.Decode(u))
	if len(s) < 36 {
		return "", false
	}
	return normalizeID128(s[:36])
}

// diskPartitions lists the nodes of the disk's partitions, the child
// devices with a "partition" attribute, by partition number.
func diskPartitions(dev *Device) []string {
	sys, err := dev.Sys()
	if err != nil {
		return nil
	}
	entries, err := fs.ReadDir(sys.FS, sys.Path)
	if err != nil {
		return nil
	}
	type part struct {
		n    int
		node string
	}
	var parts []part
	for _, e := range entries {
		child := SysDevice{FS: sys.FS, Path: path.Join(sys.Path, e.Name())}
		num, err := child.Attr("partition")
		if err != nil {
			continue
		}
		n, err := strconv.Atoi(num)
		name := child.Uevent()["DEVNAME"]
		if err != nil || name == "" {
			continue
		}
		parts = append(parts, part{n, "/dev/" + name})
	}
	slices.SortFunc(parts, func(a, b part) int { return a.n - b.n })
	nodes := make([]string, len(parts))
	for i, p := range parts {
		nodes[i] = p.node
	}
	return nodes
}

// strverscmpImproved is systemd's strverscmp_improved on partition
// labels ("" for none): segments of digits or letters, compared
// numerically or as text, with '~' older than anything, '-' older than
// '^' older than '.', other characters separators, and more segments
// newer.
func strverscmpImproved(a, b string) int {
	for {
		a, b = strings.TrimLeftFunc(a, notVersionChar), strings.TrimLeftFunc(b, notVersionChar)
		if r, done := versionPrefix(&a, &b, '~'); done || r != 0 {
			return r
		}
		if a == "" || b == "" {
			return boolCmp(a != "", b != "")
		}
		for _, sep := range []byte{'-', '^', '.'} {
			if r, _ := versionPrefix(&a, &b, sep); r != 0 {
				return r
			}
		}
		if r := versionSegment(&a, &b); r != 0 {
			return r
		}
	}
}

// versionPrefix compares one prefix character: the string with it is
// older. It drops it from both when both have it; done reports a
// difference.
func versionPrefix(a, b *string, c byte) (r int, done bool) {
	ha, hb := strings.HasPrefix(*a, string(c)), strings.HasPrefix(*b, string(c))
	if !ha && !hb {
		return 0, false
	}
	if r := boolCmp(!ha, !hb); r != 0 {
		return r, true
	}
	*a, *b = (*a)[1:], (*b)[1:]
	return 0, false
}

// versionSegment compares the leading numeric (when either has one) or
// alphabetic segments and drops them.
func versionSegment(a, b *string) int {
	isDigit := func(r rune) bool { return r >= '0' && r <= '9' }
	isAlpha := func(r rune) bool { return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' }
	if leading(*a, isDigit) != "" || leading(*b, isDigit) != "" {
		sa, sb := leading(*a, isDigit), leading(*b, isDigit)
		*a, *b = (*a)[len(sa):], (*b)[len(sb):]
		if r := boolCmp(sa != "", sb != ""); r != 0 {
			return r
		}
		sa, sb = strings.TrimLeft(sa, "0"), strings.TrimLeft(sb, "0")
		if r := len(sa) - len(sb); r != 0 {
			return sign(r)
		}
		return strings.Compare(sa, sb)
	}
	sa, sb := leading(*a, isAlpha), leading(*b, isAlpha)
	*a, *b = (*a)[len(sa):], (*b)[len(sb):]
	m := min(len(sa), len(sb))
	if r := strings.Compare(sa[:m], sb[:m]); r != 0 {
		return r
	}
	return sign(len(sa) - len(sb))
}

// leading is the run of s's leading characters that f accepts.
func leading(s string, f func(rune) bool) string {
	i := strings.IndexFunc(s, func(r rune) bool { return !f(r) })
	if i < 0 {
		return s
	}
	return s[:i]
}

// notVersionChar: strverscmp_improved skips everything but ASCII letters,
// digits and "~-^.".
func notVersionChar(r rune) bool {
	return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || strings.ContainsRune("~-^.", r))
}

// boolCmp is systemd's CMP on booleans: false before true.
func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

func sign(n int) int {
	switch {
	case n > 0:
		return 1
	case n < 0:
		return -1
	}
	return 0
}
