package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
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
			want: modprobeArgs{quiet: true, names: []string{"crypto-aes"}},
		},
		{
			name: "parameters after the name",
			args: []string{"e1000", "debug=16", "copybreak=0"},
			want: modprobeArgs{names: []string{"e1000"}, params: []string{"debug=16", "copybreak=0"}},
		},
		{
			name: "all names",
			args: []string{"-a", "-v", "loop", "fuse"},
			want: modprobeArgs{all: true, verbose: true, names: []string{"loop", "fuse"}},
		},
		{
			name: "combined short flags",
			args: []string{"-qb", "snd-hda-intel"},
			want: modprobeArgs{quiet: true, names: []string{"snd-hda-intel"}},
		},
		{
			name: "a name that looks like a flag after --",
			args: []string{"-q", "--", "-weird"},
			want: modprobeArgs{quiet: true, names: []string{"-weird"}},
		},
		{name: "removal is refused", args: []string{"-r", "e1000"}, wantErr: true},
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
