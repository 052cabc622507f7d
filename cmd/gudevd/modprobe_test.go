package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/gudevd/gudevd/cmd/gudevd/internal/modules"
	"github.com/gudevd/gudevd/modalias"
)

func TestParseModprobeArgs(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    modprobeArgs
		wantErr bool
	}{
		{
			// What the kernel's call_modprobe() passes.
			name: "kernel request_module",
			args: []string{"-q", "--", "crypto-aes"},
			want: modprobeArgs{quiet: true, verbosity: logEmerg, names: []string{"crypto-aes"}},
		},
		{
			name: "parameters after the name",
			args: []string{"e1000", "debug=16", "copybreak=0"},
			want: modprobeArgs{verbosity: logWarning, names: []string{"e1000"}, params: []string{"debug=16", "copybreak=0"}},
		},
		{
			name: "all names",
			args: []string{"-a", "-v", "loop", "fuse"},
			want: modprobeArgs{all: true, verbosity: logWarning + 1, names: []string{"loop", "fuse"}},
		},
		{
			name: "combined short flags",
			args: []string{"-qb", "snd-hda-intel"},
			want: modprobeArgs{quiet: true, blacklist: true, verbosity: logEmerg, names: []string{"snd-hda-intel"}},
		},
		{
			name: "a name that looks like a flag after --",
			args: []string{"-q", "--", "-weird"},
			want: modprobeArgs{quiet: true, verbosity: logEmerg, names: []string{"-weird"}},
		},
		{
			name: "query mode with a tree and configurations, arguments every way",
			args: []string{"-D", "-d", "/r", "-S6.1", "-Cone", "--config", "two", "--config=three", "--dirname=/s", "e1000"},
			want: modprobeArgs{show: true, verbosity: logWarning, dirname: "/s", version: "6.1",
				config: []string{"one", "two", "three"}, names: []string{"e1000"}},
		},
		{
			name: "options after the name, as getopt permutes them",
			args: []string{"-n", "unix", "--first-time", "-vv", "--show"},
			want: modprobeArgs{dryRun: true, firstTime: true, verbosity: logWarning + 2, names: []string{"unix"}},
		},
		{
			name: "an option's argument joined to others",
			args: []string{"-bDd/r", "x"},
			want: modprobeArgs{blacklist: true, show: true, verbosity: logWarning, dirname: "/r", names: []string{"x"}},
		},
		{name: "removal is refused", args: []string{"-r", "e1000"}, wantErr: true},
		{name: "resolve-alias is refused", args: []string{"--resolve-alias", "e1000"}, wantErr: true},
		{name: "a missing argument", args: []string{"e1000", "-S"}, wantErr: true},
		{name: "an argument for a flag", args: []string{"--quiet=yes", "e1000"}, wantErr: true},
		{name: "no module", args: []string{"-q", "--"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseModprobeArgs(tt.args)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseModprobeArgs(%q) error = %v, want error %v", tt.args, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(modprobeArgs{}), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("parseModprobeArgs(%q) mismatch (-want +got):\n%s", tt.args, diff)
			}
		})
	}
}

func TestModprobeParams(t *testing.T) {
	tests := []struct {
		name   string
		params []string
		want   string
	}{
		{"plain", []string{"a=1", "flag"}, "a=1 flag"},
		{"a blank gets quotes", []string{"name=a b"}, `name="a b"`},
		{"quoted already", []string{`q="x y"`, "r='s t'"}, `q="x y" r='s t'`},
		{"no value", []string{"k= v"}, `k=" v"`},
		{"none", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := modprobeParams(tt.params); got != tt.want {
				t.Errorf("modprobeParams(%q) = %q, want %q", tt.params, got, tt.want)
			}
		})
	}
}

// showKernels are the trees of modload/testdata/showdepends (see
// modload/testdata/regen-showdepends.sh), which are modalias's test trees.
var showKernels = []string{"6.1.0-47-amd64", "6.12.117+deb12-amd64"}

const showData = "../../modload/testdata/showdepends"

func gunzipFile(t testing.TB, name string) []byte {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return b
}

// showCatalog builds the index regen-showdepends.sh gave modprobe.
func showCatalog(t testing.TB, version string) *modules.Catalog {
	t.Helper()
	mods := fstest.MapFS{}
	for _, f := range []string{"modules.alias", "modules.dep", "modules.builtin", "modules.builtin.modinfo", "modules.softdep", "modules.symbols"} {
		mods[f] = &fstest.MapFile{Data: gunzipFile(t, filepath.Join("../../modalias/testdata", version, f+".gz"))}
	}
	root := fstest.MapFS{}
	confs, err := filepath.Glob(filepath.Join(showData, "modprobe.d", "*.conf"))
	if err != nil || len(confs) == 0 {
		t.Fatalf("no test configuration: %v", err)
	}
	for _, c := range confs {
		b, err := os.ReadFile(c)
		if err != nil {
			t.Fatal(err)
		}
		root["conf/"+filepath.Base(c)] = &fstest.MapFile{Data: b}
	}
	cmdline, err := os.ReadFile(filepath.Join(showData, "cmdline.txt"))
	if err != nil {
		t.Fatal(err)
	}
	ix, err := modalias.Load(modalias.Sources{Modules: mods, Root: root, Config: []string{"conf"}, Cmdline: string(cmdline)})
	if err != nil {
		t.Fatal(err)
	}
	return modules.NewCatalog(ix)
}

// invocation is one section of the golden data: arguments, what modprobe
// wrote and its exit status.
type invocation struct {
	args           []string
	stdout, stderr []string
	rc             int
}

func readInvocations(t testing.TB, version string) []invocation {
	t.Helper()
	var out []invocation
	sc := bufio.NewScanner(bytes.NewReader(gunzipFile(t, filepath.Join(showData, version+".golden.gz"))))
	for sc.Scan() {
		l := sc.Text()
		if h, ok := strings.CutPrefix(l, "== "); ok {
			out = append(out, invocation{args: strings.Split(h, "\t")})
			continue
		}
		if len(out) == 0 {
			t.Fatalf("golden line %q before any section", l)
		}
		v := &out[len(out)-1]
		switch {
		case strings.HasPrefix(l, "1 "):
			v.stdout = append(v.stdout, l[2:])
		case strings.HasPrefix(l, "2 "):
			v.stderr = append(v.stderr, l[2:])
		case l == "rc 0":
		case l == "rc 1":
			v.rc = 1
		default:
			t.Fatalf("golden line %q", l)
		}
	}
	return out
}

// lines splits output into lines, nil for none.
func lines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// TestModprobeMatchesKmod runs every invocation of the golden data (every
// lookup a rich modprobe.d changes, with and without -b, and the cases of
// showdepends/cases.txt: parameters, -a, -q, -n, --first-time, long
// options) through gudevd modprobe's argument parser and printing, on one
// index per tree, and compares stdout, stderr and the exit status with
// Debian's kmod 30.
func TestModprobeMatchesKmod(t *testing.T) {
	live := map[string]bool{}
	b, err := os.ReadFile(filepath.Join(showData, "live.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range strings.Fields(string(b)) {
		live[m] = true
	}
	for _, version := range showKernels {
		t.Run(version, func(t *testing.T) {
			cat := showCatalog(t, version)
			invs := readInvocations(t, version)
			diffs := 0
			for _, inv := range invs {
				a, err := parseModprobeArgs(append([]string{"-d", "/ROOT", "-S", version, "-C", "conf"}, inv.args...))
				if err != nil {
					t.Fatalf("%q: %v", inv.args, err)
				}
				if !a.show && !a.dryRun {
					t.Fatalf("%q loads: the golden data has query modes only", inv.args)
				}
				dir, err := a.dir()
				if err != nil {
					t.Fatal(err)
				}
				var stdout, stderr bytes.Buffer
				e := &env{stdout: &stdout, stderr: &stderr}
				rc := 0
				if err := a.probe(e, cat, dir, func(m string) bool { return live[m] }); errors.Is(err, errQuietFailure) {
					rc = 1
				} else if err != nil {
					t.Fatalf("%q: %v", inv.args, err)
				}
				dOut, dErr := cmp.Diff(inv.stdout, lines(stdout.String())), cmp.Diff(inv.stderr, lines(stderr.String()))
				if dOut != "" || dErr != "" || rc != inv.rc {
					diffs++
					t.Errorf("modprobe %q: exit %d, kmod %d\nstdout (-kmod +gudevd):\n%s\nstderr (-kmod +gudevd):\n%s", inv.args, rc, inv.rc, dOut, dErr)
				}
			}
			t.Logf("%d invocations, %d differ from kmod", len(invs), diffs)
			if len(invs) < 300 {
				t.Errorf("only %d invocations in the golden data", len(invs))
			}
		})
	}
}

// writeTree writes a module tree and configuration to disk under root.
func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// modprobeTree is a small tree on disk for the end-to-end cases: e1000e is
// blacklisted, nic is an alias of it, and sysfs says e1000 is live.
func modprobeTree(t *testing.T) (root, sysfs string) {
	t.Helper()
	root, sysfs = t.TempDir(), t.TempDir()
	writeTree(t, root, map[string]string{
		"lib/modules/9.9/modules.dep":     "kernel/e1000.ko:\nkernel/e1000e.ko: kernel/ptp.ko\nkernel/ptp.ko:\n",
		"lib/modules/9.9/modules.alias":   "alias pci:v8086d10D3* e1000e\n",
		"lib/modules/9.9/modules.builtin": "kernel/unix.ko\n",
		"conf/test.conf":                  "blacklist e1000e\nalias nic e1000e\noptions e1000e x=1\noptions nic y=2\n",
		"single.cfg":                      "options ptp z=3\n",
	})
	writeTree(t, sysfs, map[string]string{"module/e1000/initstate": "live\n"})
	return root, sysfs
}

// runModprobe runs `gudevd modprobe args...` in-process with a kernel
// command line of its own.
func runModprobe(t *testing.T, sysfs string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{
		stdout:  &out,
		stderr:  &errb,
		log:     slog.New(slog.DiscardHandler),
		getenv:  func(string) string { return "" },
		cmdline: func() string { return "ptp.cmd=1 e1000e.c=2" },
		sysfs:   sysfs,
	}
	code = run(context.Background(), append([]string{"gudevd", "modprobe"}, args...), e)
	return code, out.String(), errb.String()
}

// TestModprobeQuery runs the query modes end to end: the tree on disk from
// -d and -S, -C with a directory and a single file, the kernel command
// line, the blacklist with and without -b, and --dry-run against sysfs.
func TestModprobeQuery(t *testing.T) {
	root, sysfs := modprobeTree(t)
	dir := root + "/lib/modules/9.9"
	base := []string{"-d", root, "-S", "9.9", "-C", filepath.Join(root, "conf"), "-C", filepath.Join(root, "single.cfg")}
	tests := []struct {
		name           string
		args           []string
		code           int
		stdout, stderr string
	}{
		{
			name:   "a blacklisted module named directly",
			args:   []string{"-D", "e1000e", "p=1"},
			stdout: "insmod " + dir + "/kernel/ptp.ko z=3 cmd=1 \ninsmod " + dir + "/kernel/e1000e.ko x=1 c=2 p=1\n",
		},
		{name: "the same with -b", args: []string{"-b", "-D", "e1000e"}},
		{name: "through an alias", args: []string{"-D", "nic"}},
		{name: "through the MODALIAS with -b", args: []string{"-bD", "pci:v8086d10D3sv0"}},
		{name: "builtin", args: []string{"--show-depends", "unix"}, stdout: "builtin unix\n"},
		{
			name:   "unknown",
			args:   []string{"-D", "nosuch"},
			code:   1,
			stderr: "modprobe: FATAL: Module nosuch not found in directory " + dir + "\n",
		},
		{name: "dry run of a live module prints nothing", args: []string{"-n", "-v", "e1000"}},
		{
			name:   "dry run of a live module for the first time",
			args:   []string{"-n", "--first-time", "e1000"},
			code:   1,
			stderr: "modprobe: ERROR: could not insert 'e1000': Module already in kernel\n",
		},
		{
			name:   "dry run with -v prints what it would load",
			args:   []string{"-n", "-v", "-a", "e1000", "e1000e"},
			stdout: "insmod " + dir + "/kernel/ptp.ko z=3 cmd=1 \ninsmod " + dir + "/kernel/e1000e.ko x=1 c=2 \n",
		},
		{name: "dry run quietly", args: []string{"-n", "e1000e"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := runModprobe(t, sysfs, append(slices.Clone(base), tt.args...)...)
			if code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.code, errs)
			}
			if d := cmp.Diff(tt.stdout, out); d != "" {
				t.Errorf("stdout (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tt.stderr, errs); d != "" {
				t.Errorf("stderr (-want +got):\n%s", d)
			}
		})
	}
}

// TestModprobeCheck: before a load, -b drops a name whose module is
// blacklisted and found by its name (the daemon would load it), keeps
// aliases (the daemon drops those itself), and --first-time reports each
// module already in the kernel, as modprobe does.
func TestModprobeCheck(t *testing.T) {
	root, sysfs := modprobeTree(t)
	tests := []struct {
		name     string
		args     []string
		keep     []string
		inKernel bool
		stderr   string
	}{
		{name: "-b drops a blacklisted name", args: []string{"-b", "-a", "e1000e", "ptp", "nic"}, keep: []string{"ptp", "nic"}},
		{name: "unknown names go on to fail there", args: []string{"-b", "-a", "nosuch"}, keep: []string{"nosuch"}},
		{
			name:     "--first-time on a live module",
			args:     []string{"--first-time", "-a", "e1000", "unix", "ptp"},
			keep:     []string{"e1000", "unix", "ptp"},
			inKernel: true,
			stderr:   "modprobe: ERROR: could not insert 'e1000': Module already in kernel\nmodprobe: ERROR: could not insert 'unix': Module already in kernel\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := parseModprobeArgs(append([]string{"-d", root, "-S", "9.9", "-C", filepath.Join(root, "conf")}, tt.args...))
			if err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			e := &env{stderr: &stderr, cmdline: func() string { return "" }, sysfs: sysfs}
			keep, inKernel, err := a.check(e)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.keep, keep, cmpopts.EquateEmpty()); d != "" || inKernel != tt.inKernel {
				t.Errorf("check: inKernel %v, want %v; kept (-want +got):\n%s", inKernel, tt.inKernel, d)
			}
			if d := cmp.Diff(tt.stderr, stderr.String()); d != "" {
				t.Errorf("stderr (-want +got):\n%s", d)
			}
		})
	}
}

// TestModprobeVerboseSaysWho: with -v, gudevd modprobe says that the
// daemon did the load (here the daemon next to the helper link, as the
// kernel runs it) and prints each module's result.
func TestModprobeVerboseSaysWho(t *testing.T) {
	dir := t.TempDir()
	h, link := helperDaemon(t, dir)
	var stdout, stderr bytes.Buffer
	e := &env{stdout: &stdout, stderr: &stderr, log: slog.New(slog.DiscardHandler)}
	if code := run(context.Background(), []string{link, "-v", "e1000"}, e); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	if want := "modprobe: loaded by the daemon at " + filepath.Join(dir, "control") + "\n"; stderr.String() != want {
		t.Errorf("stderr %q, want %q", stderr.String(), want)
	}
	if want := "e1000\tloaded\n"; stdout.String() != want {
		t.Errorf("stdout %q, want %q", stdout.String(), want)
	}
	if len(h.got) != 1 {
		t.Errorf("the daemon got %d requests, want 1", len(h.got))
	}
}

// FuzzParseModprobeArgs checks the option parser on arbitrary command
// lines: it never panics, answers the same twice, and on success names at
// least one module, every name and parameter an argument given in order,
// parameters only without -a.
func FuzzParseModprobeArgs(f *testing.F) {
	f.Add("-q\x00--\x00crypto-aes")
	f.Add("-D\x00-d\x00/r\x00-S6.1\x00--config=c\x00e1000\x00debug=1")
	f.Add("-abnv\x00--first-time\x00x\x00y")
	f.Add("-Cd\x00--\x00-x")
	f.Fuzz(func(t *testing.T, s string) {
		args := strings.Split(s, "\x00")
		a, err := parseModprobeArgs(args)
		b, err2 := parseModprobeArgs(args)
		if (err == nil) != (err2 == nil) || !cmp.Equal(a, b, cmp.AllowUnexported(modprobeArgs{})) {
			t.Fatalf("parseModprobeArgs(%q) is not repeatable", args)
		}
		if err != nil {
			return
		}
		if len(a.names) == 0 || (a.all && len(a.params) > 0) {
			t.Fatalf("parseModprobeArgs(%q) = names %q, params %q", args, a.names, a.params)
		}
		rest := args
		for _, w := range slices.Concat(a.names, a.params) {
			i := slices.Index(rest, w)
			if i < 0 {
				t.Fatalf("parseModprobeArgs(%q): %q is not an argument after the previous", args, w)
			}
			rest = rest[i+1:]
		}
	})
}
