package builtin

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"flag"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// The image the host tests probe: 4 MiB, a GPT whose one partition
// starts at 1 MiB and holds an ext4 with a label that needs escaping.
// `go test -run TestBlkidImage -blkid-regen` rebuilds it with mkfs.ext4.
var blkidRegen = flag.Bool("blkid-regen", false, "rebuild testdata/blkid/gpt-ext4.img.gz with mkfs.ext4")

const (
	imgSector    = 512
	imgSize      = 4 << 20
	imgPartStart = 2048 // LBA: 1 MiB
	imgDiskUUID  = "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"
	imgPartUUID  = "11223344-5566-4778-899a-abbccddeeff0"
	imgFSUUID    = "5d8c1e2a-7b3f-4c6d-9e0a-1f2b3c4d5e6f"
	imgLabel     = "a b\"$\u00e9'x" // space, quote, dollar, UTF-8, apostrophe
	imgPartName  = "gudevd test"
	linuxDataTyp = "0fc63daf-8483-4772-8e79-3d69d8477de4"
)

// imageGUID is a textual GUID in GPT's mixed-endian layout.
func imageGUID(t *testing.T, s string) []byte {
	t.Helper()
	var raw []byte
	for i := 0; i < len(s); i++ {
		if s[i] == '-' {
			continue
		}
		var b byte
		for _, c := range s[i : i+2] {
			b = b<<4 | byte(digitValue(byte(c)))
		}
		raw = append(raw, b)
		i++
	}
	if len(raw) != 16 {
		t.Fatalf("bad GUID %q", s)
	}
	g := append([]byte{}, raw...)
	for _, r := range [][2]int{{0, 4}, {4, 6}, {6, 8}} { // little-endian fields
		for i, j := r[0], r[1]-1; i < j; i, j = i+1, j-1 {
			g[i], g[j] = g[j], g[i]
		}
	}
	return g
}

// gptImage is a disk of imgSize bytes with a protective MBR, both GPT
// headers and one partition from imgPartStart to the last usable LBA.
func gptImage(t *testing.T) []byte {
	t.Helper()
	img := make([]byte, imgSize)
	lastLBA := uint64(imgSize/imgSector - 1)
	table := make([]byte, 128*128)
	copy(table[0:], imageGUID(t, linuxDataTyp))
	copy(table[16:], imageGUID(t, imgPartUUID))
	binary.LittleEndian.PutUint64(table[32:], imgPartStart)
	binary.LittleEndian.PutUint64(table[40:], lastLBA-33)
	for i, r := range imgPartName {
		binary.LittleEndian.PutUint16(table[56+2*i:], uint16(r))
	}
	for _, h := range []struct{ self, other, table uint64 }{{1, lastLBA, 2}, {lastLBA, 1, lastLBA - 32}} {
		hdr := img[h.self*imgSector : h.self*imgSector+92]
		copy(hdr, "EFI PART\x00\x00\x01\x00\x5c\x00\x00\x00")
		le := binary.LittleEndian
		le.PutUint64(hdr[24:], h.self)
		le.PutUint64(hdr[32:], h.other)
		le.PutUint64(hdr[40:], 34)
		le.PutUint64(hdr[48:], lastLBA-33)
		copy(hdr[56:], imageGUID(t, imgDiskUUID))
		le.PutUint64(hdr[72:], h.table)
		le.PutUint32(hdr[80:], 128)
		le.PutUint32(hdr[84:], 128)
		le.PutUint32(hdr[88:], crc32.ChecksumIEEE(table))
		le.PutUint32(hdr[16:], crc32.ChecksumIEEE(hdr))
		copy(img[h.table*imgSector:], table)
	}
	mbr := img[446:]
	mbr[4] = 0xee
	binary.LittleEndian.PutUint32(mbr[8:], 1)
	binary.LittleEndian.PutUint32(mbr[12:], uint32(lastLBA))
	img[510], img[511] = 0x55, 0xaa
	return img
}

// TestBlkidImage checks the committed image is a GPT at least, and with
// -blkid-regen rebuilds it.
func TestBlkidImage(t *testing.T) {
	path := filepath.Join("testdata", "blkid", "gpt-ext4.img.gz")
	if *blkidRegen {
		regenImage(t, path)
	}
	img := blkidImageFile(t)
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != imgSize || string(b[imgSector:imgSector+8]) != "EFI PART" {
		t.Fatalf("%s: not a %d-byte GPT disk", img, imgSize)
	}
}

// regenImage writes the GPT, lets mkfs.ext4 put the file system at the
// partition's offset, and stores the image compressed.
func regenImage(t *testing.T, out string) {
	raw := filepath.Join(t.TempDir(), "img")
	if err := os.WriteFile(raw, gptImage(t), 0o644); err != nil {
		t.Fatal(err)
	}
	blocks := (imgSize - imgPartStart*imgSector - 34*imgSector) / 1024
	cmd := exec.Command("mkfs.ext4", "-q", "-F", "-b", "1024", "-L", imgLabel, "-U", imgFSUUID,
		"-E", "offset=1048576,root_owner=0:0", "-O", "^has_journal", raw, strconv.Itoa(blocks))
	cmd.Env = append(os.Environ(), "PATH=/usr/sbin:/sbin:"+os.Getenv("PATH"), "E2FSPROGS_FAKE_TIME=1700000000")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v: %s", err, b)
	}
	img, err := os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	var z bytes.Buffer
	w, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
	w.Write(img)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, z.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// blkidImageFile unpacks the committed image into the test's directory.
func blkidImageFile(t *testing.T) string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "blkid", "gpt-ext4.img.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := b.ReadFrom(z); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "gpt-ext4.img")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
