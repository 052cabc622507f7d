package rules

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNodePermissions(t *testing.T) {
	kernel := func(kv ...string) *Device {
		d := &Device{}
		for i := 0; i < len(kv); i += 2 {
			d.Props = append(d.Props, Property{kv[i], kv[i+1]})
		}
		return d
	}
	tests := []struct {
		name string
		res  Result
		dev  *Device
		want NodePermissions
	}{
		{"nothing: the node keeps its own", Result{}, kernel(), NodePermissions{}},
		{"the driver's mode", Result{}, kernel("DEVMODE", "0666"), NodePermissions{Mode: 0o666, ModeSet: true}},
		{"a group upgrades the mode", Result{GID: 6, GIDSet: true}, kernel(), NodePermissions{GID: 6, GIDSet: true, Mode: 0o660, ModeSet: true}},
		{"group root does not", Result{GID: 0, GIDSet: true}, kernel(), NodePermissions{GIDSet: true}},
		{"the driver's mode wins over the upgrade", Result{GID: 5, GIDSet: true}, kernel("DEVMODE", "0620"),
			NodePermissions{GID: 5, GIDSet: true, Mode: 0o620, ModeSet: true}},
		{"the rules' mode over the driver's", Result{Mode: 0o600, ModeSet: true}, kernel("DEVMODE", "0666"), NodePermissions{Mode: 0o600, ModeSet: true}},
		{"the kernel's owner and group", Result{}, kernel("DEVUID", "100", "DEVGID", "101"),
			NodePermissions{UID: 100, UIDSet: true, GID: 101, GIDSet: true, Mode: 0o660, ModeSet: true}},
		{"the rules' owner over the kernel's", Result{UID: 7, UIDSet: true}, kernel("DEVUID", "100"), NodePermissions{UID: 7, UIDSet: true}},
		{"a bad DEVMODE is none", Result{}, kernel("DEVMODE", "0999"), NodePermissions{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.res.NodePermissions(tt.dev)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
