package qemu

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

//go:embed guest/boot/gudevd-udev-capture
var udevCaptureScript []byte

//go:embed guest/boot/gudevd-udev-capture.service
var udevCaptureUnit []byte

// conformanceDevices are what the udev conformance guest has beyond the
// fixed set: a virtio disk with a GPT partition table and an ext4
// partition (blkid, by-id, by-path, by-partuuid links), and a USB keyboard
// (input_id, hwdb's keyboard entries, usb_id on a HID interface). The
// fixed set already has two network cards (e1000, virtio-net).
func conformanceDevices(disk string) []string {
	return []string{
		"-drive", "if=none,id=data,format=raw,snapshot=on,file=" + disk,
		"-device", "virtio-blk-pci,drive=data,serial=gudevd-data",
		"-device", "usb-kbd,bus=xhci.0",
	}
}

// CaptureUdev boots the stock bookworm image (systemd-udevd 252) with
// kernel k and the conformance devices, and writes what udevd computed,
// the reference the rules engine and the builtins are compared with:
//
//   - rules/builtin/testdata/guest/sys.tar.gz: the guest's sysfs;
//   - rules/builtin/testdata/guest/NAME/DEV.txt: `udevadm test-builtin
//     NAME` for every device with a node or an interface;
//   - rules/builtin/testdata/guest/blkid-raw/DEV.txt: `blkid -p -o export`
//     of every block device, what libblkid found before the builtin;
//   - rules/testdata/guest/export-db.txt and test/DEV.txt: udevd's
//     database after the coldplug and `udevadm test --action=add`;
//   - rules/testdata/guest/gudevd-test/DEV.txt and times.txt: `gudevd
//     test` of the same devices on the same guest, and each run's time;
//   - rules/testdata/guest/nodes.txt, rules.tar.gz and etc/: the nodes'
//     owners, groups and modes, the rules udevd ran, and the users and
//     groups they named.
func (h *Harness) CaptureUdev(ctx context.Context, k Kernel, repo string) error {
	root, err := h.captureRoot(ctx)
	if err != nil {
		return err
	}
	img, err := h.rootImage(ctx, root)
	if err != nil {
		return err
	}
	disk := filepath.Join(h.Cache, "boot", "conformance-data.img")
	if err := dataDisk(ctx, disk); err != nil {
		return err
	}
	vm := &VM{
		Kernel:    filepath.Join(root, "boot", "vmlinuz-"+k.Release),
		Initramfs: filepath.Join(root, "boot", "initrd.img-"+k.Release),
		RootDisk:  img,
		CPUs:      4,
		Cmdline:   "root=/dev/vda ro " + bootTrace(4),
		Timeout:   3 * BootTimeout(4),
		Extra:     conformanceDevices(disk),
		Status:    h.Progress,
	}
	h.progress("booting bookworm (stock, udev capture) with %s at 4 vCPUs", k.Name)
	b, err := vm.Run(ctx)
	if err != nil {
		return fmt.Errorf("capture udev on %s: %w", k.Name, err)
	}
	if err := writeUdevCapture(repo, b.Files); err != nil {
		return err
	}
	return copyGuestUsers(root, filepath.Join(repo, "rules", "testdata", "guest"))
}

// copyGuestUsers copies the guest's /etc/passwd and /etc/group, which the
// rules' OWNER and GROUP resolved with and nodes.txt names, beside the
// capture (dir/etc).
func copyGuestUsers(root, dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
		return fmt.Errorf("capture udev: %w", err)
	}
	for _, f := range []string{"passwd", "group"} {
		b, err := os.ReadFile(filepath.Join(root, "etc", f))
		if err != nil {
			return fmt.Errorf("capture udev: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, "etc", f), b, 0o644); err != nil {
			return fmt.Errorf("capture udev: %w", err)
		}
	}
	return nil
}

// writeUdevCapture puts the guest's udev/ files where the tests read them.
func writeUdevCapture(repo string, files map[string][]byte) error {
	if len(files["udev/export-db.txt"]) == 0 || len(files["udev/sys.tar.gz"]) == 0 {
		return fmt.Errorf("capture udev: the guest sent no database or no sysfs snapshot (snapshot: %s)", files["udev/snapshot.txt"])
	}
	builtins := filepath.Join(repo, "rules", "builtin", "testdata", "guest")
	rules := filepath.Join(repo, "rules", "testdata", "guest")
	for _, d := range []string{builtins, rules} {
		if err := clearCapture(d); err != nil {
			return fmt.Errorf("capture udev: %w", err)
		}
	}
	for name, b := range files {
		rel, ok := strings.CutPrefix(name, "udev/")
		if !ok || rel == "snapshot.txt" {
			continue
		}
		dst := filepath.Join(rules, rel)
		if rel == "sys.tar.gz" || strings.HasPrefix(rel, "builtin/") || strings.HasPrefix(rel, "blkid-raw/") {
			dst = filepath.Join(builtins, strings.TrimPrefix(rel, "builtin/"))
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("capture udev: %w", err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			return fmt.Errorf("capture udev: %w", err)
		}
	}
	return nil
}

// clearCapture removes an earlier capture from dir, all but its README.
func clearCapture(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.Name() != "README" {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// captureRoot is a copy of the stock root with guesttool and the capture
// unit installed and enabled, keyed by what it adds.
func (h *Harness) captureRoot(ctx context.Context) (string, error) {
	base, err := h.bootRoot(ctx)
	if err != nil {
		return "", err
	}
	tool := filepath.Join(h.Cache, "bin", "guesttool")
	if err := h.buildStatic(ctx, "./internal/guesttool", tool); err != nil {
		return "", err
	}
	bin, err := os.ReadFile(tool)
	if err != nil {
		return "", fmt.Errorf("read guesttool: %w", err)
	}
	// gudevd, whose `gudevd test` runs beside `udevadm test` on the same
	// devices: the same rules, hwdb and programs, and the time each takes.
	g := filepath.Join(h.Cache, "bin", "gudevd")
	if err := h.buildStatic(ctx, "../../cmd/gudevd", g); err != nil {
		return "", err
	}
	gbin, err := os.ReadFile(g)
	if err != nil {
		return "", fmt.Errorf("read gudevd: %w", err)
	}
	sum := sha256.New()
	for _, b := range [][]byte{udevCaptureScript, udevCaptureUnit, bin, gbin} {
		sum.Write(b)
	}
	dir := filepath.Join(h.Cache, "boot", "capture-"+filepath.Base(base)+"-"+hex.EncodeToString(sum.Sum(nil)[:6]))
	if _, err := os.Stat(filepath.Join(dir, ".gudevd-done")); err == nil {
		return dir, nil
	}
	if err := copyRoot(ctx, base, dir, "capture-*"); err != nil {
		return "", err
	}
	if err := installCapture(dir, bin, gbin); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, ".gudevd-done"), nil, 0o644); err != nil {
		return "", fmt.Errorf("mark capture root built: %w", err)
	}
	return dir, nil
}

// installCapture adds guesttool, gudevd, the script and its unit, enabled
// as systemctl enable would (a link in multi-user.target.wants).
func installCapture(root string, guesttool, gudevd []byte) error {
	files := []rootFile{
		{"usr/local/sbin/guesttool", guesttool, 0o755},
		{"usr/local/sbin/gudevd", gudevd, 0o755},
		{"usr/local/sbin/gudevd-udev-capture", udevCaptureScript, 0o755},
		{"etc/systemd/system/gudevd-udev-capture.service", udevCaptureUnit, 0o644},
	}
	if err := writeRootFiles(root, files); err != nil {
		return fmt.Errorf("install capture: %w", err)
	}
	wants := filepath.Join(root, "etc/systemd/system/multi-user.target.wants")
	if err := os.MkdirAll(wants, 0o755); err != nil {
		return fmt.Errorf("install capture: %w", err)
	}
	link := filepath.Join(wants, "gudevd-udev-capture.service")
	os.Remove(link)
	if err := os.Symlink("/etc/systemd/system/gudevd-udev-capture.service", link); err != nil {
		return fmt.Errorf("enable capture: %w", err)
	}
	return nil
}

// dataDiskSize is the conformance disk: a GPT and one ext4 partition.
const (
	dataDiskSize = 64 << 20
	sector       = 512
	partStart    = 2048 // sectors: 1 MiB, as partitioning tools align
)

// dataDisk writes the conformance data disk once: a GPT with one Linux
// filesystem partition spanning the disk, formatted ext4 in place with
// mkfs.ext4 -E offset (no loop device, no partitioning tool on the host).
func dataDisk(ctx context.Context, path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	tmp := path + ".tmp"
	if err := writeGPT(tmp, dataDiskSize); err != nil {
		return err
	}
	end := dataDiskSize/sector - 34 // the backup entries and header
	size := (end - partStart) * sector
	if err := runTool(ctx, "", "mkfs.ext4", "-q", "-F", "-L", "gudevd-data", "-U", "3e1e7c54-6c02-4a27-9f5b-6d1f1b0e3c11",
		"-E", fmt.Sprintf("offset=%d", partStart*sector), tmp, fmt.Sprintf("%dk", size/1024)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("format data disk: %w", err)
	}
	return os.Rename(tmp, path)
}

// Fixed GUIDs, so that a capture is reproducible: the disk's, the
// partition's, and the Linux filesystem data type (in GPT's mixed-endian
// byte order).
var (
	diskGUID  = guid("6a1b3f7e-2c4d-4e5f-8a9b-0c1d2e3f4a5b")
	partGUID  = guid("9f8e7d6c-5b4a-4321-8fed-cba987654321")
	linuxData = guid("0fc63daf-8483-4772-8e79-3d69d8477de4")
)

// guid encodes a textual GUID as GPT stores it: the first three fields
// little-endian, the rest as written.
func guid(s string) [16]byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(b) != 16 {
		panic("bad GUID " + s)
	}
	var g [16]byte
	g[0], g[1], g[2], g[3] = b[3], b[2], b[1], b[0]
	g[4], g[5] = b[5], b[4]
	g[6], g[7] = b[7], b[6]
	copy(g[8:], b[8:])
	return g
}

// writeGPT writes a protective MBR, the primary GPT header and entries,
// and their backup at the end of a sparse file of size bytes.
func writeGPT(path string, size int64) error {
	last := size/sector - 1
	entries := make([]byte, 128*128)
	e := entries[:128]
	copy(e[0:], linuxData[:])
	copy(e[16:], partGUID[:])
	binary.LittleEndian.PutUint64(e[32:], partStart)
	binary.LittleEndian.PutUint64(e[40:], uint64(last-33-1))
	for i, r := range "gudevd-data" {
		binary.LittleEndian.PutUint16(e[56+2*i:], uint16(r))
	}
	ecrc := crc32.ChecksumIEEE(entries)
	header := func(self, alt, entryLBA int64) []byte {
		h := make([]byte, sector)
		copy(h, "EFI PART")
		binary.LittleEndian.PutUint32(h[8:], 0x00010000)
		binary.LittleEndian.PutUint32(h[12:], 92)
		binary.LittleEndian.PutUint64(h[24:], uint64(self))
		binary.LittleEndian.PutUint64(h[32:], uint64(alt))
		binary.LittleEndian.PutUint64(h[40:], 34)
		binary.LittleEndian.PutUint64(h[48:], uint64(last-33))
		copy(h[56:], diskGUID[:])
		binary.LittleEndian.PutUint64(h[72:], uint64(entryLBA))
		binary.LittleEndian.PutUint32(h[80:], 128)
		binary.LittleEndian.PutUint32(h[84:], 128)
		binary.LittleEndian.PutUint32(h[88:], ecrc)
		binary.LittleEndian.PutUint32(h[16:], crc32.ChecksumIEEE(h[:92]))
		return h
	}
	mbr := make([]byte, sector)
	p := mbr[446:]
	p[4] = 0xee // GPT protective
	binary.LittleEndian.PutUint32(p[8:], 1)
	n := last
	if n > 0xffffffff {
		n = 0xffffffff
	}
	binary.LittleEndian.PutUint32(p[12:], uint32(n))
	mbr[510], mbr[511] = 0x55, 0xaa

	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write GPT: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("write GPT: %w", err)
	}
	writes := []struct {
		lba  int64
		data []byte
	}{
		{0, mbr}, {1, header(1, last, 2)}, {2, entries},
		{last - 32, entries}, {last, header(last, 1, last-32)},
	}
	for _, w := range writes {
		if _, err := f.WriteAt(w.data, w.lba*sector); err != nil {
			return fmt.Errorf("write GPT: %w", err)
		}
	}
	return f.Close()
}
