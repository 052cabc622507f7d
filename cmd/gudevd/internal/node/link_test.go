package node

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// TestLayout compares /dev and /run/udev/links after one add and after its
// remove with what udevd 252 leaves: relative links, the stack directory
// named by the escaped path with a .lock and one "<prio>:<devnode>"
// symlink per claimant, and on remove the links and their emptied parents
// gone, the stack directory and its .lock kept.
func TestLayout(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sda := e.disk(t, "sda", 0)
	usb := Device{ID: "c189:1", Devnode: "/dev/bus/usb/001/002", Major: 189, Minor: 1}
	e.mknod(t, usb.Devnode, unix.S_IFCHR|0o664, 189, 1)
	if err := e.n.Update(ctx, sda, Perms{}, []string{"/dev/disk/by-id/ata-X", "/dev/cdrom"}, -10, nil); err != nil {
		t.Fatalf("Update: %v", err)
	}
	if err := e.n.Update(ctx, usb, Perms{}, nil, 0, nil); err != nil {
		t.Fatalf("Update: %v", err)
	}
	wantDev := map[string]string{
		"sda": "device", "bus": "dir", "bus/usb": "dir", "bus/usb/001": "dir", "bus/usb/001/002": "device",
		"block": "dir", "block/8:0": "-> ../sda",
		"char": "dir", "char/189:1": "-> ../bus/usb/001/002",
		"disk": "dir", "disk/by-id": "dir", "disk/by-id/ata-X": "-> ../../sda",
		"cdrom": "-> sda",
	}
	if diff := cmp.Diff(wantDev, tree(t, e.dev)); diff != "" {
		t.Errorf("dev after add (-want +got):\n%s", diff)
	}
	wantLinks := map[string]string{
		`disk\x2fby-id\x2fata-X`:       "dir",
		`disk\x2fby-id\x2fata-X/.lock`: "file",
		`disk\x2fby-id\x2fata-X/b8:0`:  "-> -10:/dev/sda",
		`cdrom`:                        "dir",
		`cdrom/.lock`:                  "file",
		`cdrom/b8:0`:                   "-> -10:/dev/sda",
	}
	if diff := cmp.Diff(wantLinks, tree(t, e.links)); diff != "" {
		t.Errorf("links after add (-want +got):\n%s", diff)
	}
	if err := e.n.Remove(ctx, sda, []string{"/dev/disk/by-id/ata-X", "/dev/cdrom"}); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	for _, k := range []string{"block/8:0", "disk", "disk/by-id", "disk/by-id/ata-X", "cdrom"} {
		delete(wantDev, k)
	}
	if diff := cmp.Diff(wantDev, tree(t, e.dev)); diff != "" {
		t.Errorf("dev after remove (-want +got):\n%s", diff)
	}
	delete(wantLinks, `disk\x2fby-id\x2fata-X/b8:0`)
	delete(wantLinks, `cdrom/b8:0`)
	if diff := cmp.Diff(wantLinks, tree(t, e.links)); diff != "" {
		t.Errorf("links after remove (-want +got):\n%s", diff)
	}
}

// event is one step of a claimants scenario.
type event struct {
	dev    string // "sda" or "sdb"
	remove bool
	prio   int
	want   string // the link's target after the step, "" for none
}

// TestClaimants runs two disks claiming one link through add, change and
// remove: the higher priority wins; on add a tie goes to the device of
// the event; the loser's removal leaves the link, the winner's hands it
// over; the last removal removes it and its emptied parents.
func TestClaimants(t *testing.T) {
	const link = "/dev/disk/by-label/root"
	tests := []struct {
		name   string
		events []event
	}{
		{"higher priority wins, loser removed", []event{
			{dev: "sda", prio: 0, want: "../../sda"},
			{dev: "sdb", prio: 10, want: "../../sdb"},
			{dev: "sda", prio: 0, want: "../../sdb"}, // change of the loser
			{dev: "sda", remove: true, want: "../../sdb"},
			{dev: "sdb", remove: true, want: ""},
		}},
		{"winner removed hands the link over", []event{
			{dev: "sdb", prio: 10, want: "../../sdb"},
			{dev: "sda", prio: 0, want: "../../sdb"},
			{dev: "sdb", remove: true, want: "../../sda"},
			{dev: "sda", remove: true, want: ""},
		}},
		{"tie goes to the event's device on add", []event{
			{dev: "sda", prio: 5, want: "../../sda"},
			{dev: "sdb", prio: 5, want: "../../sdb"},
			{dev: "sda", prio: 5, want: "../../sda"},
		}},
		{"priority lowered on change", []event{
			{dev: "sda", prio: 10, want: "../../sda"},
			{dev: "sdb", prio: 5, want: "../../sda"},
			{dev: "sda", prio: -1, want: "../../sdb"},
		}},
		{"negative priorities on remove", []event{
			{dev: "sda", prio: -5, want: "../../sda"},
			{dev: "sdb", prio: -7, want: "../../sda"},
			{dev: "sda", remove: true, want: "../../sdb"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			devs := map[string]Device{"sda": e.disk(t, "sda", 0), "sdb": e.disk(t, "sdb", 16)}
			for i, ev := range tt.events {
				var err error
				if ev.remove {
					err = e.n.Remove(context.Background(), devs[ev.dev], []string{link})
				} else {
					err = e.n.Update(context.Background(), devs[ev.dev], Perms{}, []string{link}, ev.prio, nil)
				}
				if err != nil {
					t.Fatalf("event %d: %v", i, err)
				}
				if got := e.readlink(link); got != ev.want {
					t.Errorf("event %d (%+v): link -> %q, want %q", i, ev, got, ev.want)
				}
			}
			if tt.events[len(tt.events)-1].want == "" {
				if _, err := os.Lstat(e.path("/dev/disk")); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("/dev/disk left behind: %v", err)
				}
			}
			if diff := cmp.Diff(Stats{}, e.n.Stats()); diff != "" {
				t.Errorf("Stats (-want +got):\n%s", diff)
			}
		})
	}
}

// TestClaimantNodeGone: a claimant whose node is gone (its remove event
// not yet handled) is passed over, as udevd's access() check does.
func TestClaimantNodeGone(t *testing.T) {
	const link = "/dev/disk/by-label/root"
	e := newEnv(t)
	ctx := context.Background()
	sda, sdb := e.disk(t, "sda", 0), e.disk(t, "sdb", 16)
	for _, d := range []struct {
		dev  Device
		prio int
	}{{sdb, 10}, {sda, 0}} {
		if err := e.n.Update(ctx, d.dev, Perms{}, []string{link}, d.prio, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(e.path(sdb.Devnode)); err != nil {
		t.Fatal(err)
	}
	if err := e.n.Update(ctx, sda, Perms{}, []string{link}, 0, nil); err != nil {
		t.Fatal(err)
	}
	if got := e.readlink(link); got != "../../sda" {
		t.Errorf("link -> %q, want ../../sda", got)
	}
}

// TestOldLinks: a link of the previous event that the rules no longer
// give is released on change, its empty parents removed; the kept link
// stays.
func TestOldLinks(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sda := e.disk(t, "sda", 0)
	old := []string{"/dev/disk/by-label/old", "/dev/disk/by-uuid/1234"}
	if err := e.n.Update(ctx, sda, Perms{}, old, 0, nil); err != nil {
		t.Fatal(err)
	}
	links := []string{"/dev/disk/by-uuid/1234"}
	if err := e.n.Update(ctx, sda, Perms{}, links, 0, []string{"/dev//disk/by-label/old/", "/dev/disk/by-uuid/1234"}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"sda": "device", "block": "dir", "block/8:0": "-> ../sda",
		"disk": "dir", "disk/by-uuid": "dir", "disk/by-uuid/1234": "-> ../../sda",
	}
	if diff := cmp.Diff(want, tree(t, e.dev)); diff != "" {
		t.Errorf("dev (-want +got):\n%s", diff)
	}
	if _, err := os.Lstat(e.links + `/disk\x2fby-label\x2fold/b8:0`); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("old stack entry left: %v", err)
	}
}

// TestEmptyDirsKept: only the parents the link leaves empty go; a
// directory holding anything else stays.
func TestEmptyDirsKept(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sda := e.disk(t, "sda", 0)
	links := []string{"/dev/disk/by-id/a", "/dev/disk/by-path/b"}
	if err := e.n.Update(ctx, sda, Perms{}, links, 0, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.n.Update(ctx, sda, Perms{}, links[1:], 0, links); err != nil {
		t.Fatal(err)
	}
	got := tree(t, e.path("/dev/disk"))
	want := map[string]string{"by-path": "dir", "by-path/b": "-> ../../sda"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("/dev/disk (-want +got):\n%s", diff)
	}
}

// TestRefusals: links udevd does not make. Update goes on with the other
// links, logs and counts the failure; the inode in the way is untouched,
// also by the remove that follows.
func TestRefusals(t *testing.T) {
	tests := []struct {
		name string
		link string
		make func(t *testing.T, e *env)
		want error
	}{
		{name: "outside dev", link: "/tmp/evil", want: ErrInvalidPath},
		{name: "dot dot", link: "/dev/../etc/passwd", want: ErrInvalidPath},
		{name: "dev itself", link: "/dev", want: ErrInvalidPath},
		{name: "regular file", link: "/dev/disk/by-id/x", want: ErrConflict, make: func(t *testing.T, e *env) {
			if err := os.MkdirAll(e.path("/dev/disk/by-id"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(e.path("/dev/disk/by-id/x"), []byte("keep"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "directory", link: "/dev/disk/by-id/x", want: ErrConflict, make: func(t *testing.T, e *env) {
			if err := os.MkdirAll(e.path("/dev/disk/by-id/x"), 0o755); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			sda := e.disk(t, "sda", 0)
			if tt.make != nil {
				tt.make(t, e)
			}
			before := tree(t, e.dev)
			err := e.n.linkUpdate(ctx, e.n.log, sda, tt.link, 0, true)
			if !errors.Is(err, tt.want) {
				t.Errorf("linkUpdate error = %v, want %v", err, tt.want)
			}
			links := []string{tt.link, "/dev/ok"}
			if err := e.n.Update(ctx, sda, Perms{}, links, 0, nil); err != nil {
				t.Fatalf("Update: %v", err)
			}
			if diff := cmp.Diff(Stats{LinkFailures: 1}, e.n.Stats()); diff != "" {
				t.Errorf("Stats (-want +got):\n%s", diff)
			}
			if !strings.Contains(e.log.String(), "level=WARN") {
				t.Errorf("no warning logged:\n%s", e.log)
			}
			if err := e.n.Remove(ctx, sda, links); err != nil {
				t.Fatalf("Remove: %v", err)
			}
			before["block"] = "dir" // udevd leaves /dev/block, as Remove does
			if diff := cmp.Diff(before, tree(t, e.dev)); diff != "" {
				t.Errorf("dev after remove (-before +after):\n%s", diff)
			}
		})
	}
}

// TestDiskseq: /dev/disk/by-diskseq/<DISKSEQ> of a block device is made
// directly, with no stack directory; one naming another sequence number
// goes through the stack.
func TestDiskseq(t *testing.T) {
	tests := []struct {
		name      string
		partition bool
		link      string
		stack     bool
	}{
		{name: "disk", link: "/dev/disk/by-diskseq/7"},
		{name: "partition", partition: true, link: "/dev/disk/by-diskseq/7-part1"},
		{name: "other sequence", link: "/dev/disk/by-diskseq/8", stack: true},
		{name: "partition without suffix", partition: true, link: "/dev/disk/by-diskseq/7", stack: true},
		{name: "not digits", link: "/dev/disk/by-diskseq/x7", stack: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			d := e.disk(t, "sda1", 1)
			d.DiskSeq, d.Partition, d.Sysnum = "7", tt.partition, "1"
			if err := e.n.Update(ctx, d, Perms{}, []string{tt.link}, 0, nil); err != nil {
				t.Fatal(err)
			}
			if got := e.readlink(tt.link); got != "../../sda1" {
				t.Errorf("link -> %q, want ../../sda1", got)
			}
			_, err := os.Stat(e.links)
			if gotStack := err == nil; gotStack != tt.stack {
				t.Errorf("stack directory made: %v, want %v", gotStack, tt.stack)
			}
			if err := e.n.Remove(ctx, d, []string{tt.link}); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Lstat(e.path("/dev/disk")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("/dev/disk left behind: %v", err)
			}
		})
	}
}

// TestEntryRewrite: udevd rewrites a stack entry only when its priority
// or node changed, so that an unchanged claim leaves the entry (and the
// inotify watchers of /run/udev/links) alone.
func TestEntryRewrite(t *testing.T) {
	const link = "/dev/disk/by-id/x"
	entry := `disk\x2fby-id\x2fx/b8:0`
	tests := []struct {
		name     string
		prio     int
		same     bool
		wantData string
	}{
		{"same claim kept", 3, true, "-> 3:/dev/sda"},
		{"new priority rewritten", 4, false, "-> 4:/dev/sda"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			sda := e.disk(t, "sda", 0)
			if err := e.n.Update(ctx, sda, Perms{}, []string{link}, 3, nil); err != nil {
				t.Fatal(err)
			}
			before := identity(t, e.links+"/"+entry)
			time.Sleep(20 * time.Millisecond) // past tmpfs's coarse ctime
			if err := e.n.Update(ctx, sda, Perms{}, []string{link}, tt.prio, []string{link}); err != nil {
				t.Fatal(err)
			}
			if got := identity(t, e.links+"/"+entry) == before; got != tt.same {
				t.Errorf("entry untouched: %v, want %v", got, tt.same)
			}
			if got := tree(t, e.links)[entry]; got != tt.wantData {
				t.Errorf("entry %s, want %s", got, tt.wantData)
			}
		})
	}
}

// identity tells an inode from the one that replaced it: the number may
// be reused, the change time not.
func identity(t *testing.T, path string) [3]int64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return [3]int64{int64(st.Ino), st.Ctim.Sec, st.Ctim.Nsec}
}
