package kmodset

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// loadTestdata reads the real Debian 6.1 depmod output (see testdata/README).
func loadTestdata(t testing.TB) fstest.MapFS {
	t.Helper()
	f, err := os.Open("testdata/6.1.0-47-amd64.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return fsys
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		fsys[h.Name] = &fstest.MapFile{Data: b}
	}
}

// TestClosureMatchesKmod resolves every modalias of the 6.1 guest and
// compares with what kmod's modprobe --show-depends loads for them.
func TestClosureMatchesKmod(t *testing.T) {
	s, err := Load(loadTestdata(t))
	if err != nil {
		t.Fatal(err)
	}
	aliases, err := os.ReadFile("../../../../modalias/testdata/guest/6.1.txt")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("testdata/kmod-closure-6.1.txt")
	if err != nil {
		t.Fatal(err)
	}
	got := s.Closure(strings.Split(strings.TrimSpace(string(aliases)), "\n"))
	if diff := cmp.Diff(strings.Fields(string(want)), got); diff != "" {
		t.Errorf("Closure differs from kmod (-kmod +kmodset):\n%s", diff)
	}
}

func TestLookups(t *testing.T) {
	s, err := Load(loadTestdata(t))
	if err != nil {
		t.Fatal(err)
	}
	dmi, err := Load(fstest.MapFS{
		"modules.dep":     {Data: []byte("kernel/qemu_fw_cfg.ko:\n")},
		"modules.alias":   {Data: []byte("alias dmi:*:svnQEMU:* qemu_fw_cfg\n")},
		"modules.softdep": {},
		"modules.builtin": {},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"virtio-net PCI device", s.Match("virtio:d00000001v00001AF4"), []string{"virtio_net"}},
		{"module name as alias", s.Match("e1000"), []string{"e1000"}},
		{"builtin modules are not loadable", s.Match("platform:serial8250"), []string{}},
		{"deps deepest first", s.Deps("virtio_net"), []string{"virtio", "virtio_ring", "failover", "net_failover"}},
		{"dash and underscore", Name("kernel/drivers/usb/host/xhci-pci.ko.xz"), "xhci_pci"},
		{"builtin", s.Builtin("virtio_blk") || s.Builtin("unix"), true},
		{"glob star spans a slash as in fnmatch", dmi.Match("dmi:bvnSeaBIOS:bvr1.16:bd04/01/2014:svnQEMU:pnStandardPC:"), []string{"qemu_fw_cfg"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	valid := map[string]string{
		"modules.dep":     "kernel/a.ko: kernel/b.ko\nkernel/b.ko:\n",
		"modules.alias":   "# comment\nalias pci:v*d* a\n",
		"modules.softdep": "softdep a pre: b\n",
		"modules.builtin": "kernel/c.ko\n",
	}
	fsys := func(override map[string]string) fstest.MapFS {
		m := fstest.MapFS{}
		for k, v := range valid {
			m[k] = &fstest.MapFile{Data: []byte(v)}
		}
		for k, v := range override {
			if v == "" {
				delete(m, k)
				continue
			}
			m[k] = &fstest.MapFile{Data: []byte(v)}
		}
		return m
	}
	if _, err := Load(fsys(nil)); err != nil {
		t.Fatalf("Load(valid) = %v", err)
	}
	for name, override := range map[string]map[string]string{
		"no modules.dep":     {"modules.dep": ""},
		"dep without colon":  {"modules.dep": "kernel/a.ko\n"},
		"alias with 2 words": {"modules.alias": "alias only-two\n"},
		"not an alias":       {"modules.alias": "options a b c\n"},
		"bad softdep":        {"modules.softdep": "softdep\n"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Load(fsys(override)); err == nil {
				t.Error("Load succeeded, want an error")
			}
		})
	}
}

// TestPre: modules.softdep's pre: names, apart from post:, in either order.
func TestPre(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string][]string
		wantErr bool
	}{
		{
			name: "6.1's staged tree",
			in:   "# Soft dependencies extracted from modules themselves.\nsoftdep crc_t10dif pre: crct10dif\nsoftdep crc64_rocksoft pre: crc64\n",
			want: map[string][]string{"crc_t10dif": {"crct10dif"}, "crc64_rocksoft": {"crc64"}},
		},
		{
			name: "post: names are not pre, in either order",
			in:   "softdep a-b post: x pre: y z\nsoftdep c pre: p post: q\nsoftdep d post: only\n",
			want: map[string][]string{"a_b": {"y", "z"}, "c": {"p"}},
		},
		{name: "not a softdep line", in: "options a x=1\n", wantErr: true},
		{name: "no module", in: "softdep pre: x\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := softdepSet(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			got := map[string][]string{}
			for _, m := range []string{"crc_t10dif", "crc64_rocksoft", "a_b", "c", "d"} {
				if p := s.Pre(m); len(p) > 0 {
					got[m] = p
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("pre softdeps (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzSoftdep(f *testing.F) {
	f.Add("softdep crc_t10dif pre: crct10dif\n")
	f.Add("softdep a-b post: x pre: y z\n# c\n\n")
	f.Fuzz(func(t *testing.T, in string) {
		s, err := softdepSet(in)
		if err != nil {
			return
		}
		for _, m := range []map[string][]string{s.pre, s.post} {
			for mod, names := range m {
				if mod == "" || strings.ContainsAny(mod, "- \t") || mod == "pre:" || mod == "post:" {
					t.Fatalf("module name %q", mod)
				}
				if len(names) == 0 {
					t.Fatalf("module %q with an empty softdep list", mod)
				}
				for _, p := range names {
					if p == "" || p == "pre:" || p == "post:" || strings.ContainsAny(p, " \t\n") {
						t.Fatalf("module %q: softdep name %q", mod, p)
					}
					if !strings.Contains(in, p) {
						t.Fatalf("softdep name %q not in the input", p)
					}
				}
			}
		}
	})
}

// softdepSet loads a tree whose only content is modules.softdep in.
func softdepSet(in string) (*Set, error) {
	return Load(fstest.MapFS{
		"modules.dep":     {Data: nil},
		"modules.alias":   {Data: nil},
		"modules.builtin": {Data: nil},
		"modules.softdep": {Data: []byte(in)},
	})
}
