package builtin

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// hostBlkid is the probe as the daemon runs it: util-linux's blkid with
// BlkidCommand's arguments, read by BlkidResult. Missing blkid skips the
// test under -short and fails it otherwise.
func hostBlkid(t *testing.T) BlkidProbe {
	t.Helper()
	if _, err := exec.LookPath("blkid"); err != nil {
		if testing.Short() {
			t.Skip("no blkid on this host")
		}
		t.Fatal(err)
	}
	return func(ctx context.Context, req BlkidRequest) ([]Prop, error) {
		argv := BlkidCommand(req)
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), "LC_ALL=C")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		switch {
		case errors.As(err, &exit):
			return BlkidResult(stdout.Bytes(), stderr.Bytes(), exit.ExitCode())
		case err != nil:
			return nil, err
		}
		return BlkidResult(stdout.Bytes(), stderr.Bytes(), 0)
	}
}

// TestBlkidHost probes image files with the host's blkid through the
// whole builtin: the GPT disk, its ext4 by --offset, an empty file and a
// missing node (both nothing, as in udevd), a hint libblkid takes and one
// it refuses.
func TestBlkidHost(t *testing.T) {
	probe := hostBlkid(t)
	img := blkidImageFile(t)
	zeros := filepath.Join(t.TempDir(), "zeros")
	if err := os.WriteFile(zeros, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		node string
		argv []string
		want []Prop
		err  error
	}{
		{"gpt disk", img, nil, []Prop{
			{"ID_PART_TABLE_UUID", imgDiskUUID}, {"ID_PART_TABLE_TYPE", "gpt"}}, nil},
		{"ext4 at offset", img, []string{"--offset=1048576"}, []Prop{
			{"ID_FS_LABEL", "a_b\"$\u00e9'x"}, {"ID_FS_LABEL_ENC", `a\x20b\x22\x24` + "\u00e9" + `\x27x`},
			{"ID_FS_UUID", imgFSUUID}, {"ID_FS_UUID_ENC", imgFSUUID},
			{"ID_FS_VERSION", "1.0"}, {"ID_FS_TYPE", "ext4"}, {"ID_FS_USAGE", "filesystem"}}, nil},
		{"ext4 noraid hex offset", img, []string{"-R", "-o", "0x100000"}, []Prop{
			{"ID_FS_LABEL", "a_b\"$\u00e9'x"}, {"ID_FS_LABEL_ENC", `a\x20b\x22\x24` + "\u00e9" + `\x27x`},
			{"ID_FS_UUID", imgFSUUID}, {"ID_FS_UUID_ENC", imgFSUUID},
			{"ID_FS_VERSION", "1.0"}, {"ID_FS_TYPE", "ext4"}, {"ID_FS_USAGE", "filesystem"}}, nil},
		{"nothing found", zeros, nil, nil, nil},
		{"missing node", filepath.Join(t.TempDir(), "gone"), nil, nil, nil},
		{"good hint", img, []string{"--hint=session_offset=0"}, []Prop{
			{"ID_PART_TABLE_UUID", imgDiskUUID}, {"ID_PART_TABLE_TYPE", "gpt"}}, nil},
		// libblkid refuses the hint's value, and udevd fails as blkid does.
		{"bad hint", img, []string{"--hint=session_offset=x"}, nil, ErrBlkidFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dev := &Device{Syspath: "devices/virtual/block/test", Props: map[string]string{"DEVNAME": tt.node, "SUBSYSTEM": "block"}}
			got, err := Blkid(t.Context(), dev, append([]string{"blkid"}, tt.argv...), probe)
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestBlkidProbeCost measures what running blkid instead of linking
// libblkid costs: the wall time of one `blkid -p -o export` of the GPT
// image, the median of 100 runs. On the build host (2 shared cores,
// util-linux 2.38.1) it was 1.2 to 1.6 ms; see Blkid's comment.
func TestBlkidProbeCost(t *testing.T) {
	probe := hostBlkid(t)
	req := BlkidRequest{Node: blkidImageFile(t)}
	runs := make([]time.Duration, 100)
	for i := range runs {
		start := time.Now()
		if _, err := probe(t.Context(), req); err != nil {
			t.Fatal(err)
		}
		runs[i] = time.Since(start)
	}
	slices.Sort(runs)
	t.Logf("blkid -p -o export: median %v, min %v, max %v over %d runs", runs[50], runs[0], runs[99], len(runs))
}
