package rules

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

func FuzzSubstitute(f *testing.F) {
	for _, s := range []string{"plain", "$kernel-%n", "%c{2+}$attr{[dmi/id]sys_vendor}", "$env{ID_X}%%$$", "$attr{", "%c{0x1}", "\xc3$links$parent"} {
		f.Add(s, uint16(0), false)
	}
	f.Fuzz(func(t *testing.T, in string, sizeSel uint16, ws bool) {
		h := newTestHost()
		e := substEvent(t, h)
		size := []int{NameSize, PathSize, LineSize, 1, 2, 8}[int(sizeSel)%6]
		out, truncated := e.format(in, size, ws)
		if len(out) > size-1 {
			t.Fatalf("format(%q, %d) gave %d bytes", in, size, len(out))
		}
		if !strings.ContainsAny(in, "$%") {
			want := in
			if len(want) > size-1 {
				want = want[:size-1]
			}
			if out != want || truncated != (len(in) > size-1) {
				t.Fatalf("format(%q, %d) = %q, %v; want %q", in, size, out, truncated, want)
			}
		}
		_ = CheckFormat(in)
	})
}

// hostMethods are the methods of Host; FakeHost records each call.
var hostMethods = map[string]bool{
	"SysAttr": true, "Parent": true, "LookupDevice": true, "Stat": true, "ReadDir": true, "Sysctl": true,
	"Program": true, "Builtin": true, "ReadFile": true, "Cmdline": true, "InInitrd": true, "LookupUser": true,
	"LookupGroup": true, "ControlProperty": true, "Arch": true, "Virt": true,
}

var fuzzWords = []string{"", "?*", "sd*", "sda|", "|x", "$kernel", "%c{1}", "$attr{vendor}", "disk/by-id/$env{ID_SERIAL}",
	"[dmi/id]sys_vendor", "../*/vendor", "path_id", "usb_id", "1", "0660", "root", "ID_*", "a b", "$$%%", "x:y"}

// fuzzRules turns bytes into lines: each group of four bytes is a token
// (type, operator, attribute, value); a zero type byte ends a line.
func fuzzRules(data []byte, extra string) *Rules {
	rs := &Rules{Files: []string{"fuzz.rules"}}
	l := Line{File: "fuzz.rules", GotoLine: -1}
	word := func(b byte) string {
		if int(b) == len(fuzzWords) {
			return extra
		}
		return fuzzWords[int(b)%len(fuzzWords)]
	}
	for i := 0; i+3 < len(data); i += 4 {
		if data[i] == 0 {
			l.Number = len(rs.Lines) + 1
			if data[i+1]%3 == 0 {
				l.Goto, l.GotoLine = "L", int(data[i+2])%8
			}
			l.Label = word(data[i+3])
			rs.Lines = append(rs.Lines, l)
			l = Line{File: "fuzz.rules", GotoLine: -1}
			continue
		}
		l.Tokens = append(l.Tokens, Token{
			Type: Type(data[i]) % typeMax, Op: Op(data[i+1]%6 + 1), Attr: word(data[i+2]), Value: word(data[i+3]),
		})
	}
	return rs
}

func FuzzEval(f *testing.F) {
	f.Add([]byte{3, 0, 0, 2, 48, 4, 5, 5, 0, 0, 0, 0}, "x")
	f.Add([]byte{13, 0, 0, 10, 16, 0, 4, 7, 46, 1, 0, 8, 0, 3, 2, 0}, "$id")
	f.Add([]byte{19, 0, 0, 11, 21, 0, 0, 16, 44, 2, 0, 3, 0, 0, 0, 0, 49, 4, 2, 9}, "%c{2+}")
	f.Fuzz(func(t *testing.T, data []byte, extra string) {
		// internal/fnmatch, like glibc's, backtracks exponentially on
		// many '*' against long names; that is not the evaluator's.
		if len(extra) > 64 || strings.Count(extra, "*") > 4 {
			t.Skip()
		}
		rs := fuzzRules(data, extra)
		done := make(chan struct{})
		defer close(done)
		go func() {
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				panic(fmt.Sprintf("Eval hangs on %q %q", data, extra))
			}
		}()
		h := newTestHost()
		h.Programs["/lib/udev/x"] = FakeProgram{Stdout: "A=1\nB b\n"}
		h.Builtins["path_id"] = func(argv []string, _ []Property) ([]Property, error) {
			return []Property{{"ID_PATH", "p"}}, nil
		}
		for _, p := range []string{sataSda, virtioNet, kbdEvent} {
			for _, action := range []string{"add", "remove"} {
				dev := eventDevice(t, h.Sysfs, p, action)
				r, _ := Eval(context.Background(), rs, dev, h)
				if r == nil {
					t.Fatal("no result")
				}
			}
		}
		for _, c := range h.Calls {
			if !hostMethods[c.Method] {
				t.Fatalf("call %q outside Host", c.Method)
			}
		}
	})
}

// FuzzEvalText evaluates whatever ParseFile makes of the text.
func FuzzEvalText(f *testing.F) {
	for _, s := range []string{
		`KERNEL=="sd*", SUBSYSTEMS=="scsi", ATTRS{vendor}=="ATA", SYMLINK+="disk/$id-%n", GOTO="x"` + "\nLABEL=\"x\"",
		`ENV{DEVTYPE}=="partition", IMPORT{parent}="ID_*", TAG+="systemd", RUN{builtin}+="kmod load $env{MODALIAS}"`,
		`PROGRAM=="x %k", RESULT=="?*", NAME="%c{1+}", OPTIONS+="string_escape=replace"`,
		`TEST{0644}=="../*/vendor", ATTR{queue/scheduler}="none", SYSCTL{net.ipv4.$kernel}="1", MODE="0660"`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if len(text) > 4096 || strings.Count(text, "*") > 8 {
			t.Skip() // see FuzzEval
		}
		lines, _ := ParseFile("fuzz.rules", []byte(text), nil)
		rs := &Rules{Files: []string{"fuzz.rules"}, Lines: lines}
		h := newTestHost()
		for _, p := range []string{sataSda, virtioNet} {
			if r, _ := Eval(context.Background(), rs, eventDevice(t, h.Sysfs, p, "add"), h); r == nil {
				t.Fatal("no result")
			}
		}
	})
}
