package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gudevd/gudevd/test/qemu/internal/report"
)

// fakeProc writes a /proc with two device managers' families side by side
// and the processes that must not count.
func fakeProc(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	write := func(p, s string) {
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("meminfo", "MemTotal:        2014420 kB\nVmallocTotal:   34359738367 kB\nVmallocUsed:       12348 kB\n")
	write("vmallocinfo", "0xffffc90000000000-0xffffc90000005000   20480 irq_init_percpu_irqstack+0x176/0x1c0 vmap\n"+
		"0xffffc90000300000-0xffffc90000302000    8192 unpurged vm_area\n")
	proc := func(pid, comm string, argv []string, pss, rss int) {
		write(pid+"/comm", comm+"\n")
		write(pid+"/cmdline", strings.Join(argv, "\x00")+"\x00")
		if rss >= 0 {
			write(pid+"/status", "Name:\t"+comm+"\nPPid:\t1\nVmRSS:\t    "+strconv.Itoa(rss)+" kB\nThreads:\t1\n")
			write(pid+"/smaps_rollup", "55d0c9a1e000-7ffd5b3f2000 ---p 00000000 00:00 0 [rollup]\n"+
				"Rss: "+strconv.Itoa(rss)+" kB\nPss: "+strconv.Itoa(pss)+" kB\n")
		}
	}
	proc("1", "sh", []string{"/bin/sh", "/init"}, 100, 200)
	proc("10", "gudevd", []string{"gudevd", "daemon", "--coldplug"}, 5000, 9000)
	proc("11", "gudevd", []string{"/usr/sbin/gudevd", "worker", "--modules-dir", "/lib/modules/x"}, 3000, 7000)
	proc("12", "gudevd", []string{"gudevd", "settle", "--timeout=160s"}, 2000, 6000)
	proc("13", "systemd-udevd", []string{"/lib/systemd/systemd-udevd", "--daemon"}, 1500, 4000)
	proc("14", "(udev-worker)", []string{"(udev-worker)", ""}, 300, 3900)
	proc("15", "gudevd", nil, 0, -1) // exited: no smaps_rollup to read
	write("2/comm", "kthreadd\n")
	write("2/cmdline", "")      // a kernel thread
	write("3/comm", "gudevd\n") // a kernel thread that had the family's comm
	write("3/cmdline", "")
	write("3/smaps_rollup", "Rss: 1 kB\nPss: 1 kB\n")
	write("self/comm", "guesttool\n")
	return root
}

func TestSample(t *testing.T) {
	root := fakeProc(t)
	tests := []struct {
		name    string
		comms   string
		skip    string
		vmap    bool
		pss     bool
		want    report.MemorySample
		members []string
	}{
		{
			name:  "gudevd: daemon and worker, not the settle client",
			comms: "gudevd", skip: "settle,stats", vmap: true, pss: true,
			want:    report.MemorySample{VmallocUsed: 12348 << 10, Vmap: 20480, PSS: 8000 << 10, RSS: 16000 << 10, HasPSS: true, Procs: 2},
			members: []string{"10 gudevd daemon", "11 gudevd worker"},
		},
		{
			name:  "udevd: the daemon and its renamed worker, whose RSS is mostly shared",
			comms: "systemd-udevd,(udev-worker)", skip: "settle,stats", pss: true,
			want:    report.MemorySample{VmallocUsed: 12348 << 10, PSS: 1800 << 10, RSS: 7900 << 10, HasPSS: true, Procs: 2},
			members: []string{"13 systemd-udevd --daemon", "14 (udev-worker) "},
		},
		{
			name:  "nothing skipped: the client counts",
			comms: "gudevd", pss: true,
			want:    report.MemorySample{VmallocUsed: 12348 << 10, PSS: 10000 << 10, RSS: 22000 << 10, HasPSS: true, Procs: 3},
			members: []string{"10 gudevd daemon", "11 gudevd worker", "12 gudevd settle"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &sampler{proc: root, comms: splitSet(tt.comms), skip: splitSet(tt.skip), vmap: tt.vmap, seen: map[int]string{}, kthread: map[int]bool{}}
			got := s.sample(tt.pss)
			if got.Time <= 0 {
				t.Errorf("sample time %v, want the uptime", got.Time)
			}
			got.Time = 0
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("sample (-want +got):\n%s", diff)
			}
			s.sample(false) // the same family again: no new members
			if diff := cmp.Diff(tt.members, s.members); diff != "" {
				t.Errorf("members (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStatusField(t *testing.T) {
	status := "Name:\tgudevd\nUmask:\t0022\nState:\tS (sleeping)\nPPid:\t2\nVmRSS:\t    9880 kB\n"
	tests := []struct {
		name, key, want string
		ok              bool
	}{
		{name: "a number", key: "PPid", want: "2", ok: true},
		{name: "a value with spaces", key: "State", want: "S (sleeping)", ok: true},
		{name: "a key that is a prefix of none", key: "PPi", ok: false},
		{name: "no such key", key: "Kthread", ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := statusField([]byte(status), tt.key)
			if got != tt.want || ok != tt.ok {
				t.Errorf("statusField(%q) = %q, %v; want %q, %v", tt.key, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func FuzzStatusField(f *testing.F) {
	f.Add("Name:\tgudevd\nPPid:\t2\n", "PPid")
	f.Add("PPid 2\n:x\n", "")
	f.Fuzz(func(t *testing.T, in, key string) {
		v, ok := statusField([]byte(in), key)
		if !ok {
			if v != "" {
				t.Fatalf("no field but value %q", v)
			}
			return
		}
		if !strings.Contains(in, key+":") || strings.ContainsAny(v, "\n") || v != strings.TrimSpace(v) {
			t.Fatalf("statusField(%q, %q) = %q", in, key, v)
		}
		if !strings.Contains(in, v) {
			t.Fatalf("value %q not in the input", v)
		}
	})
}
