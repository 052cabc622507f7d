package builtin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakeBlkid returns fixed values and records the request.
func fakeBlkid(values []Prop, err error, got *BlkidRequest) BlkidProbe {
	return func(ctx context.Context, req BlkidRequest) ([]Prop, error) {
		*got = req
		return values, err
	}
}

func TestParseBlkidArgs(t *testing.T) {
	tests := []struct {
		name string
		argv []string
		want BlkidRequest
		err  error
	}{
		{"none", []string{"blkid"}, BlkidRequest{}, nil},
		{"long offset", []string{"blkid", "--offset=512"}, BlkidRequest{Offset: 512}, nil},
		{"long offset next word", []string{"blkid", "--offset", "0x200"}, BlkidRequest{Offset: 512}, nil},
		{"abbreviated", []string{"blkid", "--off=0o10", "--no", "--hi=session_offset=9"}, BlkidRequest{Offset: 8, NoRaid: true, Hint: "session_offset=9"}, nil},
		{"short cluster", []string{"blkid", "-Ro010"}, BlkidRequest{Offset: 8, NoRaid: true}, nil},
		{"short next word", []string{"blkid", "-o", " 0b11", "-H", "x"}, BlkidRequest{Offset: 3, Hint: "x"}, nil},
		{"last wins", []string{"blkid", "-o1", "-o2", "-Ha", "-Hb"}, BlkidRequest{Offset: 2, Hint: "b"}, nil},
		{"unknown and operands ignored", []string{"blkid", "-x", "--bogus", "foo", "-R"}, BlkidRequest{NoRaid: true}, nil},
		{"noraid refuses a value", []string{"blkid", "--noraid=1"}, BlkidRequest{}, nil},
		{"missing argument", []string{"blkid", "--offset"}, BlkidRequest{}, nil},
		{"after --", []string{"blkid", "--", "-R"}, BlkidRequest{}, nil},
		{"not a number", []string{"blkid", "--offset=12k"}, BlkidRequest{}, ErrBlkidOffset},
		{"negative", []string{"blkid", "--offset=-1"}, BlkidRequest{}, ErrBlkidOffset},
		{"overflow", []string{"blkid", "--offset=9223372036854775808"}, BlkidRequest{}, ErrBlkidOffset},
		{"max", []string{"blkid", "--offset=9223372036854775807"}, BlkidRequest{Offset: 1<<63 - 1}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseBlkidArgs(tt.argv)
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestBlkidEncoding(t *testing.T) {
	long := strings.Repeat(" ", 100)
	tests := []struct {
		name, in, safe, enc string
	}{
		{"plain", "root", "root", "root"},
		{"whitespace", "  my \t disk  ", "my_disk", `\x20\x20my\x20\x09\x20disk\x20\x20`},
		{"utf8", "Donn\u00e9es", "Donn\u00e9es", "Donn\u00e9es"},
		{"invalid utf8", "a\xffb\xc3", "a_b_", `a\xffb\xc3`},
		{"control kept by safe", "a\x01b", "a\x01b", `a\x01b`},
		{"backslash", `a\b`, `a\b`, `a\x5cb`},
		{"noncharacter", "\uFDD0\U0001FFFE", "___\U0001FFFE", `\xef\xb7\x90` + "\U0001FFFE"},
		{"surrogate", "\xed\xa0\x80", "___", `\xed\xa0\x80`},
		{"overlong", "\xc0\xaf", "__", `\xc0\xaf`},
		{"stops at nul", "ab\x00cd", "ab", "ab"},
		{"encoding truncated", long, "", strings.Repeat(`\x20`, 64)},
		{"safe truncated", strings.Repeat("x", 300), strings.Repeat("x", 255), strings.Repeat("x", 253)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := blkidSafeString(tt.in); got != tt.safe {
				t.Errorf("safe string %q, want %q", got, tt.safe)
			}
			if got := blkidEncodeString(tt.in); got != tt.enc {
				t.Errorf("encoded %q, want %q", got, tt.enc)
			}
		})
	}
}

func TestBlkid(t *testing.T) {
	disk := []Prop{{"PTUUID", "6a1b"}, {"PTTYPE", "gpt"}}
	part := []Prop{
		{"UUID", "u 1"}, {"UUID_SUB", "s"}, {"LABEL", "my disk"}, {"BLOCK_SIZE", "1024"},
		{"TYPE", "ext4"}, {"SEC_TYPE", "ext2"}, {"USAGE", "filesystem"}, {"VERSION", "1.0"},
		{"FSSIZE", "10"}, {"FSLASTBLOCK", "9"}, {"FSBLOCKSIZE", "1024"},
		{"PART_ENTRY_SCHEME", "gpt"}, {"PART_ENTRY_NAME", "a b"}, {"PART_ENTRY_UUID", "root-1"},
		{"PART_ENTRY_TYPE", "t"}, {"PART_ENTRY_FLAGS", "0x8000000000000000"}, {"PART_ENTRY_NUMBER", "1"},
	}
	iso := []Prop{{"SYSTEM_ID", "LINUX"}, {"PUBLISHER_ID", "x y"}, {"APPLICATION_ID", "a"},
		{"BOOT_SYSTEM_ID", "b"}, {"VOLUME_ID", "v"}, {"LOGICAL_VOLUME_ID", "l"},
		{"VOLUME_SET_ID", "s"}, {"DATA_PREPARER_ID", "d"}, {"TYPE", "iso9660"}}
	tests := []struct {
		name   string
		props  map[string]string
		argv   []string
		values []Prop
		perr   error
		want   []Prop
		req    BlkidRequest
		err    error
	}{
		{name: "disk", values: disk,
			want: []Prop{{"ID_PART_TABLE_UUID", "6a1b"}, {"ID_PART_TABLE_TYPE", "gpt"}}},
		{name: "partition", values: part, want: []Prop{
			{"ID_FS_UUID", "u_1"}, {"ID_FS_UUID_ENC", `u\x201`}, {"ID_FS_UUID_SUB", "s"}, {"ID_FS_UUID_SUB_ENC", "s"},
			{"ID_FS_LABEL", "my_disk"}, {"ID_FS_LABEL_ENC", `my\x20disk`}, {"ID_FS_TYPE", "ext4"},
			{"ID_FS_USAGE", "filesystem"}, {"ID_FS_VERSION", "1.0"},
			{"ID_FS_SIZE", "10"}, {"ID_FS_LASTBLOCK", "9"}, {"ID_FS_BLOCKSIZE", "1024"},
			{"ID_PART_ENTRY_SCHEME", "gpt"}, {"ID_PART_ENTRY_NAME", `a\x20b`}, {"ID_PART_ENTRY_UUID", "root-1"},
			{"ID_PART_ENTRY_TYPE", "t"}, {"ID_PART_ENTRY_FLAGS", "0x8000000000000000"}, {"ID_PART_ENTRY_NUMBER", "1"}}},
		{name: "auto root partition", props: map[string]string{"ID_PART_GPT_AUTO_ROOT_UUID": "root-1"},
			values: []Prop{{"PART_ENTRY_UUID", "root-1"}, {"PART_ENTRY_NUMBER", "2"}},
			want:   []Prop{{"ID_PART_ENTRY_UUID", "root-1"}, {"ID_PART_GPT_AUTO_ROOT", "1"}, {"ID_PART_ENTRY_NUMBER", "2"}}},
		{name: "other root", props: map[string]string{"ID_PART_GPT_AUTO_ROOT_UUID": "root-2"},
			values: []Prop{{"PART_ENTRY_UUID", "root-1"}}, want: []Prop{{"ID_PART_ENTRY_UUID", "root-1"}}},
		{name: "iso ids", values: iso, want: []Prop{{"ID_FS_SYSTEM_ID", "LINUX"}, {"ID_FS_PUBLISHER_ID", `x\x20y`},
			{"ID_FS_APPLICATION_ID", "a"}, {"ID_FS_BOOT_SYSTEM_ID", "b"}, {"ID_FS_VOLUME_ID", "v"},
			{"ID_FS_LOGICAL_VOLUME_ID", "l"}, {"ID_FS_VOLUME_SET_ID", "s"}, {"ID_FS_DATA_PREPARER_ID", "d"},
			{"ID_FS_TYPE", "iso9660"}}},
		{name: "empty label unsets", values: []Prop{{"LABEL", "   "}}, want: []Prop{{"ID_FS_LABEL", ""}, {"ID_FS_LABEL_ENC", `\x20\x20\x20`}}},
		{name: "options", argv: []string{"--noraid", "--offset=4096", "--hint=session_offset=8"},
			req: BlkidRequest{Node: "/dev/sda", Offset: 4096, NoRaid: true, Hint: "session_offset=8"}},
		{name: "relative devname", props: map[string]string{"DEVNAME": "sdb"}, req: BlkidRequest{Node: "/dev/sdb"}},
		{name: "nothing found"},
		{name: "no devname", props: map[string]string{"DEVNAME": ""}, err: ErrNoDevnode},
		{name: "bad offset", argv: []string{"-o", "x"}, err: ErrBlkidOffset},
		{name: "absent", perr: fmt.Errorf("open: %w", syscall.ENXIO)},
		{name: "absent sentinel", perr: ErrBlkidDeviceAbsent},
		{name: "ambivalent", perr: ErrBlkidAmbivalent, err: ErrBlkidAmbivalent},
		{name: "permission", perr: syscall.EACCES, err: syscall.EACCES},
		{name: "character device", props: map[string]string{"SUBSYSTEM": "tty"}, err: ErrBlkidNotBlock},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dev := &Device{Syspath: "devices/virtual/block/sda", Props: map[string]string{"DEVNAME": "/dev/sda", "SUBSYSTEM": "block"}}
			for k, v := range tt.props {
				dev.Props[k] = v
			}
			var req BlkidRequest
			got, err := Blkid(t.Context(), dev, append([]string{"blkid"}, tt.argv...), fakeBlkid(tt.values, tt.perr, &req))
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("properties (-want +got):\n%s", diff)
			}
			if tt.req.Node != "" {
				if diff := cmp.Diff(tt.req, req); diff != "" {
					t.Errorf("request (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestBlkidCommand(t *testing.T) {
	tests := []struct {
		name string
		req  BlkidRequest
		want []string
	}{
		{"plain", BlkidRequest{Node: "/dev/sda"}, []string{"blkid", "-p", "-o", "export", "--", "/dev/sda"}},
		{"all", BlkidRequest{Node: "/dev/sr0", Offset: 512, NoRaid: true, Hint: "session_offset=2"},
			[]string{"blkid", "-p", "-o", "export", "-u", "noraid", "-O", "512", "-H", "session_offset=2", "--", "/dev/sr0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, BlkidCommand(tt.req)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestBlkidResult(t *testing.T) {
	tests := []struct {
		name           string
		stdout, stderr string
		exit           int
		want           []Prop
		err            error
	}{
		{"values", "DEVNAME=/dev/vdb\nPTUUID=x\nPTTYPE=gpt\n", "", 0, []Prop{{"PTUUID", "x"}, {"PTTYPE", "gpt"}}, nil},
		{"escapes", "DEVNAME=/dev/a\nLABEL=a\\ b\\\"\\$M-CM-)\\'^I^?M-^@x\n", "", 0, []Prop{{"LABEL", "a b\"$\u00e9'\t\x7f\x80x"}}, nil},
		{"nothing", "", "", 2, nil, nil},
		{"absent", "", "blkid: error: /dev/sdz: No such device or address\n", 2, nil, ErrBlkidDeviceAbsent},
		{"open failed", "", "blkid: error: /dev/sdz: Permission denied\n", 2, nil, ErrBlkidFailed},
		{"ambivalent", "", "blkid: /dev/sda: ambivalent result\n", 8, nil, ErrBlkidAmbivalent},
		{"usage", "", "blkid: invalid offset argument\n", 4, nil, ErrBlkidFailed},
		{"malformed", "DEVNAME=/dev/a\nnonsense\n", "", 0, nil, ErrBlkidExport},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := BlkidResult([]byte(tt.stdout), []byte(tt.stderr), tt.exit)
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseBlkidExportAmbiguous(t *testing.T) {
	tests := []struct{ name, line, want string }{
		{"literal caret", "V=^a^@", "^a^@"},
		{"caret backslash", `V=^\\\`, "\x1c\\"},
		{"high nul", "V=M-^@", "\x80"},
		{"trailing M-", "V=xM-", "xM-"},
		{"lone backslash", `V=\x`, `\x`},
		{"M- read as high bit", "V=M-a", "\xe1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseBlkidExport([]byte(tt.line))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]Prop{{"V", tt.want}}, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzParseBlkidExport: whatever parses, written back as blkid would
// write it, parses to the same pairs.
func FuzzParseBlkidExport(f *testing.F) {
	for _, s := range []string{
		"DEVNAME=/dev/vda\nLABEL=root\nTYPE=ext4\n",
		"LABEL=a\\ b\\\"\\$M-CM-)\\'^I^?M-^@x\n\nUUID=1\n",
		"V=^\\\\\\\\M-M-a^@M-\\\n", "V=M-", "=x", "V=^",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, out []byte) {
		pairs, err := ParseBlkidExport(out)
		if err != nil {
			return
		}
		again, err := ParseBlkidExport(FormatBlkidExport(pairs))
		if err != nil {
			t.Fatalf("formatted %q does not parse: %v", FormatBlkidExport(pairs), err)
		}
		if diff := cmp.Diff(pairs, again, cmp.Comparer(func(a, b []Prop) bool { return fmt.Sprint(a) == fmt.Sprint(b) })); diff != "" {
			t.Errorf("round trip of %q (-first +again):\n%s", out, diff)
		}
	})
}
