package rules

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// substEvent is an event for the SATA disk's partition after a parents
// walk that stopped at the SCSI device, with a PROGRAM result and links.
func substEvent(t testing.TB, h *FakeHost) *event {
	t.Helper()
	dev := eventDevice(t, h.Sysfs, sataSda+"/sda1", "add")
	e := newEvent(t.Context(), dev, h)
	e.line = &Line{File: "t.rules", Number: 3}
	p, err := e.parent(dev)
	if err != nil {
		t.Fatal(err)
	}
	if e.devParent, err = e.parent(p); err != nil {
		t.Fatal(err)
	}
	res := "  one two\tthree  "
	e.programResult = &res
	e.devlinks.add("/dev/disk/by-id/a")
	e.devlinks.add("/dev/b")
	e.setProp("ID_X", "has space")
	return e
}

func TestSubstitutions(t *testing.T) {
	cases := []struct {
		name, in, want string
		replaceWS      bool
		size           int
		truncated      bool
	}{
		{name: "kernel", in: "$kernel %k", want: "sda1 sda1"},
		{name: "number", in: "$number %n", want: "1 1"},
		{name: "devpath", in: "%p", want: "/" + sataSda + "/sda1"},
		{name: "id is the walk's device", in: "$id %b", want: "0:0:0:0 0:0:0:0"},
		{name: "driver is the walk's device", in: "$driver %d", want: "sd sd"},
		{name: "attr of device", in: "$attr{partition}", want: "1"},
		{name: "attr falls back to walk's device", in: "%s{vendor}|$attr{model}|", want: "ATA|QEMU HARDDISK|"},
		{name: "attr subsys kernel", in: "$attr{[dmi/id]sys_vendor}", want: "QEMU"},
		{name: "attr subsys unreadable is empty", in: "[$attr{[dmi/id]product_serial}]", want: "[]"},
		{name: "attr missing", in: "[$attr{nope}]", want: "[]"},
		{name: "sysfs alias", in: "$sysfs{partition}", want: "1"},
		{name: "env", in: "$env{ID_X}|%E{DEVTYPE}|$env{NOPE}|", want: "has space|partition||"},
		{name: "env whitespace replaced", in: "$env{ID_X}", want: "has_space", replaceWS: true},
		{name: "major minor", in: "$major:$minor %M:%m", want: "8:1 8:1"},
		{name: "result", in: "%c", want: "  one two\tthree  "},
		{name: "result whitespace kept", in: "%c", want: "  one two\tthree  ", replaceWS: true},
		{name: "result parts", in: "%c{1}-$result{2}-%c{3}-[%c{4}]", want: "one-two-three-[]"},
		{name: "result rest", in: "%c{2+}", want: "two\tthree  "},
		{name: "parent", in: "$parent %P", want: "sda sda"},
		{name: "name", in: "$name %D", want: "sda1 sda1"},
		{name: "links", in: "$links", want: "disk/by-id/a b"},
		{name: "root sys devnode", in: "$root $sys $devnode %N $tempnode", want: "/dev /sys /dev/sda1 /dev/sda1 /dev/sda1"},
		{name: "escapes", in: "100%% $$HOME", want: "100% $HOME"},
		{name: "unknown kept", in: "$foo %z $ %", want: "$foo %z $ %"},
		{name: "longest table prefix", in: "$kernelx $systemd", want: "sda1x /systemd"},
		{name: "unclosed brace stops", in: "a$attr{x", want: "a"},
		{name: "empty attr stops", in: "a$env{}b", want: "a"},
		{name: "attr without name stops", in: "a$attr b", want: "a"},
		{name: "bad result index stops", in: "a%c{x}b", want: "a"},
		{name: "braces on any type", in: "%k{ignored}!", want: "sda1!"},
		{name: "no recursion", in: "$env{LOOP}", want: "$kernel"},
		{name: "truncated literal", in: "abcdef", size: 4, want: "abc", truncated: true},
		{name: "truncated value", in: "x$kernel", size: 4, want: "xsd", truncated: true},
		{name: "fits exactly", in: "abc", size: 4, want: "abc"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newTestHost()
			e := substEvent(t, h)
			e.setProp("LOOP", "$kernel")
			size := c.size
			if size == 0 {
				size = PathSize
			}
			got, truncated := e.format(c.in, size, c.replaceWS)
			if got != c.want || truncated != c.truncated {
				t.Errorf("format(%q) = %q, %v; want %q, %v", c.in, got, truncated, c.want, c.truncated)
			}
		})
	}
}

func TestSubstituteWithoutParent(t *testing.T) {
	h := newTestHost()
	e := newEvent(t.Context(), eventDevice(t, h.Sysfs, "devices/pci0000:00", "add"), h)
	e.line = &Line{}
	got, _ := e.format("[$id][$driver][$parent][%c][$links][$number][%M][$devnode]", PathSize, false)
	if want := "[][][][][][00][0][]"; got != want { // "pci0000:00" ends in "00"
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestAttrValueLimits(t *testing.T) {
	h := newTestHost()
	m := testSysfs()
	m[sataSda+"/long"] = &fstest.MapFile{Data: []byte(strings.Repeat("x", 600) + "\n"), Mode: 0o444}
	m[sataSda+"/odd"] = &fstest.MapFile{Data: []byte("a*b\xff\xc3\xa9 \t\n"), Mode: 0o444}
	h.Sysfs = m
	e := newEvent(t.Context(), eventDevice(t, h.Sysfs, sataSda, "add"), h)
	e.line = &Line{}
	got, truncated := e.format("$attr{long}", PathSize, false)
	if len(got) != NameSize-1 || !truncated {
		t.Errorf("600-byte attribute gave %d bytes, truncated %v; want %d, true", len(got), truncated, NameSize-1)
	}
	if got, _ := e.format("$attr{odd}", PathSize, false); got != "a_b_\xc3\xa9" {
		t.Errorf("odd attribute %q", got)
	}
}

func TestCheckFormat(t *testing.T) {
	cases := []struct {
		in     string
		offset int
		hint   string
	}{
		{in: "plain"},
		{in: "$kernel %k $$ %% $attr{x} %E{Y} %c{1} %c{2+} %c"},
		{in: "a$foo", offset: 2, hint: "invalid substitution type"},
		{in: "%z", offset: 1, hint: "invalid substitution type"},
		{in: "x$", offset: 2, hint: "invalid substitution type"},
		{in: "$attr", offset: 6, hint: "attribute value missing"},
		{in: "%E{}", offset: 1, hint: "invalid substitution type"},
		{in: "$env{X", offset: 1, hint: "invalid substitution type"},
		{in: "%c{x}", offset: 6, hint: "attribute value not a valid number"},
		{in: "%c{-1}", offset: 7, hint: "attribute value not a valid number"},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			err := CheckFormat(c.in)
			if c.hint == "" {
				if err != nil {
					t.Errorf("CheckFormat(%q) = %v", c.in, err)
				}
				return
			}
			var fe *FormatError
			if !errors.As(err, &fe) || !errors.Is(err, ErrInvalidFormat) {
				t.Fatalf("CheckFormat(%q) = %v, want a FormatError", c.in, err)
			}
			if fe.Offset != c.offset || fe.Hint != c.hint {
				t.Errorf("CheckFormat(%q) = %d %q, want %d %q", c.in, fe.Offset, fe.Hint, c.offset, c.hint)
			}
		})
	}
}

func TestSplitCommand(t *testing.T) {
	cases := map[string][]string{
		"":                         nil,
		"  a  b\tc\n":              {"a", "b", "c"},
		`a"b c"d 'e f' ""`:         {"ab cd", "e f", ""},
		`x\ y "un closed`:          {`x\`, "y", "un closed"},
		`ata_id --export $devnode`: {"ata_id", "--export", "$devnode"},
	}
	for in, want := range cases {
		got := SplitCommand(in)
		if strings.Join(got, "|") != strings.Join(want, "|") || len(got) != len(want) {
			t.Errorf("SplitCommand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLookupBuiltin(t *testing.T) {
	cases := []struct {
		name, cmd, want string
	}{
		{"exact", "path_id", "path_id"},
		{"leading blanks and arguments", " hwdb --subsystem=usb", "hwdb"},
		{"prefix", "path", "path_id"},
		{"prefix of two", "net_", "net_id"},
		// udev_builtin_lookup walks its table in enum order, where
		// usb_id comes before uaccess.
		{"u is usb_id", "u", "usb_id"},
		{"ua is uaccess", "ua", "uaccess"},
		{"empty word is the first", "", "blkid"},
		{"unknown", "nope", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := LookupBuiltin(c.cmd)
			if d := cmp.Diff(c.want, got); d != "" || ok != (c.want != "") {
				t.Errorf("LookupBuiltin(%q) = %q, %v (-want +got):\n%s", c.cmd, got, ok, d)
			}
		})
	}
}
