package builtin

import (
	"strings"

	"github.com/gudevd/gudevd/internal/fnmatch"
)

// LinkHost is what the conditions of [Match] test, as udevd learns it
// at start: gethostname, /etc/machine-id, detect_virtualization,
// /proc/cmdline and uname's architecture (systemd's names: "x86-64",
// "arm64"...).
type LinkHost struct {
	Hostname          string
	MachineID         string // 32 hex digits
	Virtualization    string // systemd's id ("kvm", "docker"), "none" or ""
	KernelCommandLine string
	Architecture      string
}

// virtualizationContainers are systemd 252's container ids; any other
// id but "none" is a virtual machine.
var virtualizationContainers = map[string]bool{
	"systemd-nspawn": true, "lxc-libvirt": true, "lxc": true, "openvz": true, "docker": true,
	"podman": true, "rkt": true, "wsl": true, "proot": true, "pouch": true, "container-other": true,
}

// Test is a ConditionTest over the host, as condition.c tests Host=,
// KernelCommandLine=, Virtualization= and Architecture=. KernelVersion=,
// Credential= and Firmware= are not known here and fail (a file that has
// them is skipped), as does Virtualization=private-users.
func (h LinkHost) Test(c LinkCondition) bool {
	switch c.Kind {
	case "Host":
		if id, ok := normalizeID128(c.Value); ok {
			mine, _ := normalizeID128(h.MachineID)
			return id == mine
		}
		// FNM_CASEFOLD, by folding both sides.
		return fnmatch.Match(strings.ToLower(c.Value), strings.ToLower(h.Hostname))
	case "KernelCommandLine":
		return cmdlineHas(h.KernelCommandLine, c.Value)
	case "Virtualization":
		return h.virtualizationIs(c.Value)
	case "Architecture":
		return c.Value == h.Architecture || (c.Value == "native" && h.Architecture != "")
	}
	return false
}

// cmdlineHas: a "key=value" parameter must be a word of the command line;
// a bare "key" matches "key" and any "key=...".
func cmdlineHas(cmdline, param string) bool {
	for _, w := range splitWords(cmdline, wordUnquote) {
		if strings.Contains(param, "=") {
			if w == param {
				return true
			}
		} else if rest, ok := strings.CutPrefix(w, param); ok && (rest == "" || rest[0] == '=') {
			return true
		}
	}
	return false
}

// virtualizationIs: a boolean asks whether there is any virtualization,
// "vm" and "container" for a kind, else the id itself.
func (h LinkHost) virtualizationIs(want string) bool {
	v := h.Virtualization
	if v == "" {
		v = "none"
	}
	if b, ok := parseBoolean(want); ok {
		return b == (v != "none")
	}
	switch want {
	case "private-users":
		return false
	case "vm":
		return v != "none" && !virtualizationContainers[v]
	case "container":
		return virtualizationContainers[v]
	}
	return v != "none" && v == want
}

// parseBoolean is systemd's parse_boolean.
func parseBoolean(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "1", "yes", "y", "true", "t", "on":
		return true, true
	case "0", "no", "n", "false", "f", "off":
		return false, true
	}
	return false, false
}

// normalizeID128 reads an ID as sd_id128_from_string does, 32 hex digits
// or the UUID form with dashes, as lowercase hex.
func normalizeID128(s string) (string, bool) {
	if len(s) == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-' {
		s = strings.ReplaceAll(s, "-", "")
	}
	if len(s) != 32 {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if digitValue(s[i]) >= 16 {
			return "", false
		}
	}
	return strings.ToLower(s), true
}
