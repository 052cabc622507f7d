// Command genlookups prints lookup strings for the hwdb conformance test,
// derived from the match patterns of a hwdb.d directory: for a sample of
// every file's patterns, strings each glob matches in a different way
// (a '*' empty and filled, a bracket's first and last member or a byte
// outside a negated one), the pattern itself taken literally, and the
// matching string cut short by a byte. regen.sh runs it on Debian
// bookworm's hwdb.d and feeds the strings to systemd-hwdb query.
//
//	go run ./rules/builtin/testdata/hwdb/genlookups DIR
package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: genlookups HWDB.D-DIR")
		os.Exit(2)
	}
	files, err := filepath.Glob(filepath.Join(os.Args[1], "*.hwdb"))
	if err != nil || len(files) == 0 {
		fmt.Fprintln(os.Stderr, "genlookups: no .hwdb files in", os.Args[1])
		os.Exit(1)
	}
	sort.Strings(files)
	seen := map[string]bool{}
	w := bufio.NewWriter(os.Stdout)
	for _, f := range files {
		pats, err := matches(f)
		if err != nil {
			fmt.Fprintln(os.Stderr, "genlookups:", err)
			os.Exit(1)
		}
		for _, p := range sample(pats) {
			for _, s := range variants(p) {
				if s != "" && !seen[s] {
					seen[s] = true
					fmt.Fprintln(w, s)
				}
			}
		}
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "genlookups:", err)
		os.Exit(1)
	}
}

// matches returns a file's match lines as systemd-hwdb reads them: not
// indented, a '#' ending the line, trailing blanks dropped.
func matches(file string) ([]string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimRight(line, " \t\r")
		if line != "" && line[0] != ' ' {
			out = append(out, line)
		}
	}
	return out, nil
}

// sample keeps every pattern of a small file and an even spread of a
// large one, 40 plus one in a hundred.
func sample(pats []string) []string {
	n := 40 + len(pats)/100
	if len(pats) <= n {
		return pats
	}
	out := make([]string, 0, n)
	for i := range n {
		out = append(out, pats[i*len(pats)/n])
	}
	return out
}

// variants returns the strings to look up for one pattern.
func variants(p string) []string {
	short := expand(p, "", false)
	long := expand(p, "Zq9:", true)
	out := []string{short, long, p}
	if len(short) > 1 {
		out = append(out, short[:len(short)-1])
	}
	return out
}

// expand fills the pattern's globs: '*' with star, '?' with a byte, a
// bracket with its first member (last when last is set), or a byte it
// excludes when it is negated.
func expand(p, star string, last bool) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '*':
			b.WriteString(star)
		case '?':
			b.WriteByte("0A"[boolIndex(last)])
		case '\\':
			if i+1 < len(p) {
				i++
				b.WriteByte(p[i])
			}
		case '[':
			j, member := bracket(p, i, last)
			if j < 0 {
				b.WriteByte(c)
				continue
			}
			b.WriteByte(member)
			i = j
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}

// bracket returns the index of the ']' closing the bracket at i and a
// byte it matches, or -1 when the bracket does not close.
func bracket(p string, i int, last bool) (int, byte) {
	j := i + 1
	neg := j < len(p) && (p[j] == '!' || p[j] == '^')
	if neg {
		j++
	}
	start := j
	if j < len(p) && p[j] == ']' {
		j++
	}
	for j < len(p) && p[j] != ']' {
		j++
	}
	if j >= len(p) {
		return -1, 0
	}
	set := p[start:j]
	if neg {
		for _, c := range []byte("_Zz0.") {
			if !strings.ContainsRune(set, rune(c)) {
				return j, c
			}
		}
	}
	if last {
		return j, set[len(set)-1]
	}
	return j, set[0]
}
