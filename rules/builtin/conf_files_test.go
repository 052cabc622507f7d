package builtin

import (
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

func TestConfFiles(t *testing.T) {
	file := &fstest.MapFile{Data: []byte("x"), Mode: 0o644}
	root := fstest.MapFS{
		"etc/d/b.rules":       file,
		"etc/d/.hidden.rules": file,
		"etc/d/c.txt":         file,
		"lib/d/a.rules":       file,
		"lib/d/b.rules":       file,
		"notdir":              file,
	}
	cases := []struct {
		name     string
		dirs     []string
		want     []string
		wantErrs []string
	}{
		{name: "earlier dir hides, sorted by name", dirs: []string{"/etc/d", "/lib/d"},
			want: []string{"/lib/d/a.rules", "/etc/d/b.rules"}},
		{name: "relative dirs", dirs: []string{"lib/d", "etc/d"},
			want: []string{"/lib/d/a.rules", "/lib/d/b.rules"}},
		{name: "missing dir adds nothing", dirs: []string{"/run/d", "/etc/d"},
			want: []string{"/etc/d/b.rules"}},
		{name: "unreadable dir is an error", dirs: []string{"/notdir", "/etc/d"},
			want: []string{"/etc/d/b.rules"}, wantErrs: []string{"/notdir"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, errs := ConfFiles(root, c.dirs, ".rules")
			if d := cmp.Diff(c.want, got); d != "" {
				t.Errorf("files (-want +got):\n%s", d)
			}
			var dirs []string
			for _, e := range errs {
				dirs = append(dirs, e.Dir)
			}
			if d := cmp.Diff(c.wantErrs, dirs); d != "" {
				t.Errorf("errors %v (-want +got):\n%s", errs, d)
			}
		})
	}
}
