package rules

import (
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// Debian's rules files (testdata/eval, copied from systemd 252.39's
// rules.d, 50-udev-default's meson placeholders filled in as Debian
// builds them) evaluated against the test machine.

// debianRules loads the named files as udevd finds them installed in
// /usr/lib/udev/rules.d (Load), failing the test on an Error diagnostic.
func debianRules(t testing.TB, names ...string) *Rules {
	t.Helper()
	fsys := fstest.MapFS{}
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join("testdata", "eval", "rules.d", n))
		if err != nil {
			t.Fatal(err)
		}
		fsys["usr/lib/udev/rules.d/"+n] = &fstest.MapFile{Data: data, Mode: 0o644}
	}
	rs, diags := Load(fsys, &Options{Users: testUsers{}})
	for _, d := range diags {
		if d.Severity == Error {
			t.Errorf("load: %v", d)
		}
	}
	if len(rs.Files) != len(names) {
		t.Fatalf("loaded %v, want %d files", rs.Files, len(names))
	}
	return rs
}

func storageHost() *FakeHost {
	h := newTestHost()
	h.Programs["/lib/udev/ata_id --export /dev/sda"] = FakeProgram{Stdout: "ID_ATA=1\nID_TYPE=disk\nID_BUS=ata\nID_MODEL=QEMU_HARDDISK\n" +
		"ID_MODEL_ENC=QEMU\\x20HARDDISK\\x20\\x20\\x20\nID_REVISION=2.5+\nID_SERIAL=QEMU_HARDDISK_QM00001\nID_SERIAL_SHORT=QM00001\n"}
	h.Builtins["path_id"] = func([]string, []Property) ([]Property, error) {
		return []Property{{"ID_PATH", "pci-0000:00:1f.2-ata-1.0"}, {"ID_PATH_TAG", "pci-0000_00_1f_2-ata-1_0"},
			{"ID_PATH_ATA_COMPAT", "pci-0000:00:1f.2-ata-1"}}, nil
	}
	return h
}

// evalStorage runs 60-persistent-storage for dev with blkid giving
// blkidProps and checks the links and how many programs ran.
func evalStorage(t *testing.T, h *FakeHost, dev string, blkidProps []Property, links []string, programs int) *Result {
	t.Helper()
	h.Builtins["blkid"] = func([]string, []Property) ([]Property, error) { return blkidProps, nil }
	r, err := Eval(t.Context(), debianRules(t, "60-persistent-storage.rules"), eventDevice(t, h.Sysfs, dev, "add"), h)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(links, r.Devlinks); d != "" {
		t.Errorf("links (-want +got):\n%s", d)
	}
	if n := countCalls(h, "Program"); n != programs {
		t.Errorf("%d programs run, want %d", n, programs)
	}
	if len(r.Diagnostics) != 0 {
		t.Errorf("diagnostics: %v", r.Diagnostics)
	}
	return r
}

func TestDebianPersistentStorageDisk(t *testing.T) {
	// ata_id only: scsi_id is skipped once ata_id set ID_SERIAL.
	evalStorage(t, storageHost(), sataSda, []Property{{"ID_PART_TABLE_UUID", "5b1d"}, {"ID_PART_TABLE_TYPE", "gpt"}}, []string{
		"/dev/disk/by-id/ata-QEMU_HARDDISK_QM00001",
		"/dev/disk/by-path/pci-0000:00:1f.2-ata-1.0",
		"/dev/disk/by-path/pci-0000:00:1f.2-ata-1",
		"/dev/disk/by-diskseq/1",
	}, 1)
}

func TestDebianPersistentStoragePartition(t *testing.T) {
	h := storageHost()
	h.DB["/sys/"+sataSda] = &DB{Props: []Property{{"ID_SERIAL", "QEMU_HARDDISK_QM00001"}, {"ID_BUS", "ata"},
		{"ID_PATH", "pci-0000:00:1f.2-ata-1.0"}, {"ID_FS_TYPE", "parent-only"}, {"ID_PART_TABLE_TYPE", "gpt"}}}
	blkid := []Property{{"ID_FS_UUID_ENC", "0f3e-11"}, {"ID_FS_USAGE", "filesystem"}, {"ID_FS_LABEL_ENC", "my\\x20root"},
		{"ID_PART_ENTRY_SCHEME", "gpt"}, {"ID_PART_ENTRY_NAME", "root"}, {"ID_PART_ENTRY_UUID", "a1b2"}}
	r := evalStorage(t, h, sataSda+"/sda1", blkid, []string{
		"/dev/disk/by-id/ata-QEMU_HARDDISK_QM00001-part1",
		"/dev/disk/by-path/pci-0000:00:1f.2-ata-1.0-part1",
		"/dev/disk/by-uuid/0f3e-11",
		"/dev/disk/by-label/my\\x20root",
		"/dev/disk/by-partuuid/a1b2",
		"/dev/disk/by-partlabel/root",
	}, 0)
	if v, ok := r.Property("ID_FS_TYPE"); ok {
		t.Errorf("IMPORT{parent} patterns let the disk's ID_FS_TYPE=%q through", v)
	}
}

func TestDebianPersistentStorageRemove(t *testing.T) {
	h := storageHost()
	r, err := Eval(t.Context(), debianRules(t, "60-persistent-storage.rules"), eventDevice(t, h.Sysfs, sataSda, "remove"), h)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Devlinks) != 0 || countCalls(h, "Program")+countCalls(h, "Builtin") != 0 {
		t.Errorf("remove: links %v, calls %v", r.Devlinks, h.Methods())
	}
}

func TestDebianNetSetupLink(t *testing.T) {
	h := newTestHost()
	h.Builtins["path_id"] = func([]string, []Property) ([]Property, error) {
		return []Property{{"ID_PATH", "pci-0000:00:03.0"}, {"ID_PATH_TAG", "pci-0000_00_03_0"}}, nil
	}
	h.Builtins["net_setup_link"] = func([]string, []Property) ([]Property, error) {
		return []Property{{"ID_NET_LINK_FILE", "/usr/lib/systemd/network/99-default.link"}, {"ID_NET_NAME", "enp0s3"}}, nil
	}
	rs := debianRules(t, "50-udev-default.rules", "80-net-setup-link.rules")
	r, err := Eval(t.Context(), rs, eventDevice(t, h.Sysfs, virtioNet, "add"), h)
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "enp0s3" {
		t.Errorf("name %q, want enp0s3", r.Name)
	}
	if v, _ := r.Property("ID_PATH"); v != "pci-0000:00:03.0" {
		t.Errorf("ID_PATH %q", v)
	}

	h.Calls = nil
	r, err = Eval(t.Context(), rs, eventDevice(t, h.Sysfs, virtioNet, "remove"), h)
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "" || countCalls(h, "Builtin") != 1 {
		t.Errorf("remove: name %q, calls %v (want path_id only)", r.Name, h.Methods())
	}
}

func TestDebianDefaultInput(t *testing.T) {
	h := newTestHost()
	h.Groups["input"] = 101
	rs := debianRules(t, "50-udev-default.rules")
	r, err := Eval(t.Context(), rs, eventDevice(t, h.Sysfs, kbdEvent, "add"), h)
	if err != nil {
		t.Fatal(err)
	}
	if !r.GIDSet || r.GID != 101 || r.ModeSet {
		t.Errorf("gid %d (set %v), mode set %v; want input's gid 101 and the default mode", r.GID, r.GIDSet, r.ModeSet)
	}
	if len(r.Diagnostics) != 0 {
		t.Errorf("diagnostics: %v", r.Diagnostics)
	}
}
