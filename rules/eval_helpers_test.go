package rules

import (
	"io/fs"
	"regexp"
	"sort"
	"strings"
	"testing"
	"testing/fstest"
)

// This file builds rule lines from rule text for the evaluator's tests,
// standing in for the parser: only what the tests use, with udevd's
// operator corrections and token order.

var tokenRE = regexp.MustCompile(`([A-Z]+)(?:\{([^}]*)\})?(==|!=|\+=|-=|:=|=)"((?:[^"\\]|\\.)*)"`)

type keyTypes struct{ match, assign Type }

var testKeys = map[string]keyTypes{
	"ACTION": {TypeMAction, 0}, "DEVPATH": {TypeMDevpath, 0}, "KERNEL": {TypeMKernel, 0},
	"SYMLINK": {TypeMDevlink, TypeADevlink}, "NAME": {TypeMName, TypeAName},
	"ENV": {TypeMEnv, TypeAEnv}, "CONST": {TypeMConst, 0}, "TAG": {TypeMTag, TypeATag},
	"SUBSYSTEM": {TypeMSubsystem, 0}, "DRIVER": {TypeMDriver, 0}, "ATTR": {TypeMAttr, TypeAAttr},
	"SYSCTL": {TypeMSysctl, TypeASysctl}, "KERNELS": {TypeMParentsKernel, 0},
	"SUBSYSTEMS": {TypeMParentsSubsystem, 0}, "DRIVERS": {TypeMParentsDriver, 0},
	"ATTRS": {TypeMParentsAttr, 0}, "TAGS": {TypeMParentsTag, 0}, "TEST": {TypeMTest, 0},
	"PROGRAM": {TypeMProgram, TypeMProgram}, "RESULT": {TypeMResult, 0},
	"SECLABEL": {0, TypeASeclabel},
}

// parseTestLine turns one rule line into a Line (Goto unresolved).
func parseTestLine(t testing.TB, text string) Line {
	t.Helper()
	var l Line
	l.GotoLine = -1
	for _, m := range tokenRE.FindAllStringSubmatch(text, -1) {
		key, attr, opText, value := m[1], m[2], m[3], strings.ReplaceAll(m[4], `\"`, `"`)
		op := map[string]Op{"==": OpMatch, "!=": OpNomatch, "+=": OpAdd, "-=": OpRemove, "=": OpAssign, ":=": OpAssignFinal}[opText]
		switch key {
		case "GOTO":
			l.Goto = value
			continue
		case "LABEL":
			l.Label = value
			continue
		}
		l.Tokens = append(l.Tokens, testToken(t, key, attr, op, value))
	}
	sort.SliceStable(l.Tokens, func(i, j int) bool { return l.Tokens[i].Type < l.Tokens[j].Type })
	return l
}

func testToken(t testing.TB, key, attr string, op Op, value string) Token {
	t.Helper()
	isMatch := op == OpMatch || op == OpNomatch
	tok := Token{Op: op, Attr: attr, Value: value}
	switch key {
	case "IMPORT":
		tok.Type = map[string]Type{"file": TypeMImportFile, "program": TypeMImportProgram, "builtin": TypeMImportBuiltin,
			"db": TypeMImportDB, "cmdline": TypeMImportCmdline, "parent": TypeMImportParent}[attr]
		if _, ok := LookupBuiltin(value); ok && attr == "program" {
			tok.Type = TypeMImportBuiltin
		}
		tok.Attr = ""
	case "RUN":
		tok.Type = TypeARunProgram
		if attr == "builtin" {
			tok.Type = TypeARunBuiltin
		}
		tok.Attr = ""
	case "OPTIONS":
		tok = optionsToken(t, op, value)
	case "OWNER", "GROUP", "MODE":
		tok = permToken(key, op, value)
	default:
		kt, ok := testKeys[key]
		if !ok {
			t.Fatalf("test parser: unknown key %s", key)
		}
		tok.Type = kt.assign
		if isMatch {
			tok.Type = kt.match
		}
	}
	return fixOp(key, tok)
}

// fixOp applies udevd's operator corrections.
func fixOp(key string, tok Token) Token {
	switch {
	case key == "NAME" && tok.Op == OpAdd,
		(key == "ENV" || key == "TAG" || key == "SECLABEL") && tok.Op == OpAssignFinal,
		(key == "ATTR" || key == "SYSCTL") && (tok.Op == OpAdd || tok.Op == OpAssignFinal):
		tok.Op = OpAssign
	case (key == "PROGRAM" || key == "IMPORT") && tok.Op != OpNomatch:
		tok.Op = OpMatch
	}
	return tok
}

func optionsToken(t testing.TB, op Op, v string) Token {
	if op == OpAdd {
		op = OpAssign
	}
	tok := Token{Op: op}
	switch {
	case v == "string_escape=none":
		tok.Type = TypeAOptionsStringEscapeNone
	case v == "string_escape=replace":
		tok.Type = TypeAOptionsStringEscapeReplace
	case v == "db_persist":
		tok.Type = TypeAOptionsDBPersist
	case v == "watch" || v == "nowatch":
		tok.Type, tok.Value = TypeAOptionsInotifyWatch, map[bool]string{true: "1", false: "0"}[v == "watch"]
	case strings.HasPrefix(v, "link_priority="):
		tok.Type, tok.Value = TypeAOptionsDevlinkPriority, strings.TrimPrefix(v, "link_priority=")
	case strings.HasPrefix(v, "log_level="):
		tok.Type, tok.Value = TypeAOptionsLogLevel, strings.TrimPrefix(v, "log_level=")
	case strings.HasPrefix(v, "static_node="):
		tok.Type, tok.Value = TypeAOptionsStaticNode, strings.TrimPrefix(v, "static_node=")
	default:
		t.Fatalf("test parser: OPTIONS %q", v)
	}
	return tok
}

func permToken(key string, op Op, v string) Token {
	if op == OpAdd {
		op = OpAssign
	}
	if key == "MODE" {
		if _, err := parseMode(v); err == nil {
			return Token{Type: TypeAModeID, Op: op, Value: v}
		}
		return Token{Type: TypeAMode, Op: op, Value: v}
	}
	id, isID := parseID(v)
	if v == "root" {
		id, isID = 0, true
	}
	typ := map[string][2]Type{"OWNER": {TypeAOwner, TypeAOwnerID}, "GROUP": {TypeAGroup, TypeAGroupID}}[key]
	if isID {
		return Token{Type: typ[1], Op: op, Value: itoa(id)}
	}
	return Token{Type: typ[0], Op: op, Value: v}
}

func itoa(v uint32) string {
	if v == 0 {
		return "0"
	}
	var b []byte
	for ; v > 0; v /= 10 {
		b = append([]byte{byte('0' + v%10)}, b...)
	}
	return string(b)
}

// testRules builds a rule set of one file from lines of rule text
// (comments and blank lines skipped, numbered from 1), GOTOs resolved.
func testRules(t testing.TB, text string) *Rules {
	t.Helper()
	return testRulesFile(t, "test.rules", text)
}

// testRulesFile is testRules for a named file; a line ending in '\'
// continues on the next.
func testRulesFile(t testing.TB, name, text string) *Rules {
	t.Helper()
	rs := &Rules{Files: []string{name}}
	joined := ""
	for i, s := range strings.Split(text, "\n") {
		s = strings.TrimSpace(s)
		if cont, ok := strings.CutSuffix(s, "\\"); ok {
			joined += cont
			continue
		}
		s, joined = joined+s, ""
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		l := parseTestLine(t, s)
		l.File, l.Number = name, i+1
		rs.Lines = append(rs.Lines, l)
	}
	resolveTestGotos(rs)
	return rs
}

func resolveTestGotos(rs *Rules) {
	for i := range rs.Lines {
		l := &rs.Lines[i]
		if l.Goto == "" {
			continue
		}
		for j := i + 1; j < len(rs.Lines); j++ {
			if rs.Lines[j].Label == l.Goto {
				l.GotoLine = j
				break
			}
		}
		if l.GotoLine < 0 {
			l.Goto = ""
		}
	}
}

// sysTree builds a sysfs MapFS from files (path: content) and links
// (path: absolute target below /sys, made relative as sysfs has them).
type sysTree fstest.MapFS

func (s sysTree) file(p, data string) { s[p] = &fstest.MapFile{Data: []byte(data), Mode: 0o444} }

func (s sysTree) link(p, target string) {
	up := strings.Repeat("../", strings.Count(p, "/"))
	s[p] = &fstest.MapFile{Data: []byte(up + target), Mode: fs.ModeSymlink | 0o777}
}

// dev adds a device directory with its uevent, subsystem and driver.
func (s sysTree) dev(p, subsystem, driver, uevent string) {
	s.file(p+"/uevent", uevent)
	if subsystem != "" {
		s.link(p+"/subsystem", subsystem)
	}
	if driver != "" {
		s.link(p+"/driver", driver)
	}
}

const (
	sataPCI   = "devices/pci0000:00/0000:00:1f.2"
	sataSdev  = sataPCI + "/ata1/host0/target0:0:0/0:0:0:0"
	sataSda   = sataSdev + "/block/sda"
	virtioNet = "devices/pci0000:00/0000:00:03.0/virtio0/net/eth0"
	kbdEvent  = "devices/platform/i8042/serio0/input/input1/event0"
)

// testSysfs is a machine with a SATA disk and its partition, a virtio
// network interface and a PS/2 keyboard's event device.
func testSysfs() fstest.MapFS {
	s := sysTree{}
	s.dev("devices/pci0000:00", "", "", "")
	s.dev(sataPCI, "bus/pci", "bus/pci/drivers/ahci", "DRIVER=ahci\nPCI_CLASS=10601\nPCI_ID=8086:2922\n")
	s.file(sataPCI+"/vendor", "0x8086\n")
	s.file(sataPCI+"/device", "0x2922\n")
	s.dev(sataPCI+"/ata1", "", "", "")
	s.dev(sataPCI+"/ata1/host0", "bus/scsi", "", "DEVTYPE=scsi_host\n")
	s.dev(sataPCI+"/ata1/host0/target0:0:0", "bus/scsi", "", "DEVTYPE=scsi_target\n")
	s.dev(sataSdev, "bus/scsi", "bus/scsi/drivers/sd", "DEVTYPE=scsi_device\nDRIVER=sd\nMODALIAS=scsi:t-0x00\n")
	s.file(sataSdev+"/vendor", "ATA     \n")
	s.file(sataSdev+"/model", "QEMU HARDDISK   \n")
	s.file(sataSdev+"/type", "0\n")
	s.dev(sataSda, "class/block", "", "MAJOR=8\nMINOR=0\nDEVNAME=sda\nDEVTYPE=disk\nDISKSEQ=1\n")
	s.file(sataSda+"/size", "16777216\n")
	s.file(sataSda+"/removable", "0\n")
	s.file(sataSda+"/queue/rotational", "1\n")
	s.link(sataSda+"/device", sataSdev)
	s.dev(sataSda+"/sda1", "class/block", "", "MAJOR=8\nMINOR=1\nDEVNAME=sda1\nDEVTYPE=partition\nPARTN=1\n")
	s.file(sataSda+"/sda1/partition", "1\n")
	s.link("class/block/sda", sataSda)
	s.file("bus/scsi/drivers/sd/uevent", "")
	s.file("bus/pci/drivers/ahci/uevent", "")

	s.dev("devices/pci0000:00/0000:00:03.0", "bus/pci", "bus/pci/drivers/virtio-pci", "DRIVER=virtio-pci\n")
	s.dev("devices/pci0000:00/0000:00:03.0/virtio0", "bus/virtio", "bus/virtio/drivers/virtio_net", "DRIVER=virtio_net\nMODALIAS=virtio:d00000001v00001AF4\n")
	s.dev(virtioNet, "class/net", "", "INTERFACE=eth0\nIFINDEX=2\n")
	s.file(virtioNet+"/address", "52:54:00:12:34:56\n")
	s.file(virtioNet+"/type", "1\n")
	s.file(virtioNet+"/addr_assign_type", "0\n")
	s.link("class/net/eth0", virtioNet)

	s.dev("devices/platform/i8042", "bus/platform", "bus/platform/drivers/i8042", "DRIVER=i8042\n")
	s.dev("devices/platform/i8042/serio0", "bus/serio", "bus/serio/drivers/atkbd", "DRIVER=atkbd\nSERIO_TYPE=06\n")
	s.dev("devices/platform/i8042/serio0/input/input1", "class/input", "", "PRODUCT=11/1/1/ab41\nNAME=\"AT Translated Set 2 keyboard\"\n")
	s.file("devices/platform/i8042/serio0/input/input1/name", "AT Translated Set 2 keyboard\n")
	s.dev(kbdEvent, "class/input", "", "MAJOR=13\nMINOR=64\nDEVNAME=input/event0\n")

	s.dev("devices/virtual/dmi/id", "class/dmi", "", "MODALIAS=dmi:bvnSeaBIOS:\n")
	s.file("devices/virtual/dmi/id/sys_vendor", "QEMU\n")
	s.file("devices/virtual/dmi/id/product_serial", "secret\n")
	s["devices/virtual/dmi/id/product_serial"].Mode = 0o200
	s.link("class/dmi/id", "devices/virtual/dmi/id")
	return fstest.MapFS(s)
}

// eventDevice is the device of a uevent for the tree's device at p.
func eventDevice(t testing.TB, fsys fs.FS, p, action string) *Device {
	t.Helper()
	d, err := DeviceFromFS(fsys, "/sys/"+p)
	if err != nil {
		t.Fatalf("device %s: %v", p, err)
	}
	d.Action, d.Seqnum = action, 1234
	d.Props = append([]Property{{"ACTION", action}}, d.Props...)
	d.Props = append(d.Props, Property{"SEQNUM", "1234"})
	return d
}

func newTestHost() *FakeHost {
	return &FakeHost{
		Sysfs: testSysfs(), DB: map[string]*DB{}, Files: map[string]string{}, Sysctls: map[string]string{},
		Programs: map[string]FakeProgram{}, Users: map[string]uint32{}, Groups: map[string]uint32{},
		Builtins: map[string]func([]string, []Property) ([]Property, error){},
		ArchName: "x86-64", VirtName: "kvm",
	}
}
