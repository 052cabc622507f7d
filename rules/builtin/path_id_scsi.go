package builtin

import (
	"fmt"
	"slices"
	"strings"
)

// scsi names a SCSI device (devtype scsi_device; the host and target
// above it add nothing) by its transport. sysfs has no subsystem for SCSI
// transports, so path_id tells them by the directories in the syspath:
// rport- is Fibre Channel, end_device- SAS, session iSCSI, ata libata,
// vmbus_ or VMBUS Hyper-V; anything else gets the host:bus:target:lun
// numbers. A transport that cannot be read ends the walk.
func (w *pathWalk) scsi(p SysDevice) (SysDevice, bool, error) {
	if p.Devtype() != "scsi_device" {
		return p, true, nil
	}
	if id, err := p.Attr("ieee1394_id"); err == nil {
		w.prepend("ieee1394-0x" + id)
		w.supportedParent = true
		return skipSubsystem(p, "scsi"), true, nil
	}
	syspath := "/sys/" + p.Path
	var next SysDevice
	var ok bool
	switch {
	case strings.Contains(syspath, "/rport-"):
		w.supportedParent = true
		next, ok = w.scsiFibreChannel(p)
	case strings.Contains(syspath, "/end_device-"):
		w.supportedParent = true
		next, ok = w.scsiSAS(p)
	case strings.Contains(syspath, "/session"):
		w.supportedParent = true
		next, ok = w.scsiISCSI(p)
	case strings.Contains(syspath, "/ata"):
		next, ok = w.scsiATA(p)
	case strings.Contains(syspath, "/vmbus_"):
		next, ok = w.scsiHyperV(p, 37)
	case strings.Contains(syspath, "/VMBUS"):
		next, ok = w.scsiHyperV(p, 38)
	default:
		next, ok = w.scsiDefault(p)
	}
	return next, ok, nil
}

// lunName is the LUN element from the SCSI device's sysnum (the last
// number of h:b:t:l). Linux LUNs are 32 bits; below 256 they are plain
// (peripheral addressing, bus 0), others keep the kernel's two 16-bit
// halves swapped as the SCSI LUN format has them (scsilun_to_int). With no
// number udevd formats a NULL string, which glibc prints as "(null)".
func lunName(dev SysDevice) string {
	lun, ok := safeAtou(dev.Sysnum(), 10, 64)
	if !ok {
		return "(null)"
	}
	if lun < 256 {
		return fmt.Sprintf("lun-%d", lun)
	}
	return fmt.Sprintf("lun-0x%04x%04x00000000", lun&0xffff, (lun>>16)&0xffff)
}

// scsiFibreChannel: fc-<port_name of the target's fc_transport>-lun-N.
func (w *pathWalk) scsiFibreChannel(p SysDevice) (SysDevice, bool) {
	target, ok := p.ParentWith("scsi", "scsi_target")
	if !ok {
		return p, false
	}
	fc, err := LookupSysDevice(p.FS, "fc_transport", target.Sysname())
	if err != nil {
		return p, false
	}
	port, err := fc.Attr("port_name")
	if err != nil {
		return p, false
	}
	w.prepend("fc-" + port + "-" + lunName(p))
	return p, true
}

// sasEndDevice finds the SCSI target of a SAS disk and the target's
// parent, the end device (end_device-H:N) whose sas_device holds its
// address and phy.
func sasEndDevice(p SysDevice) (target, end SysDevice, ok bool) {
	target, ok = p.ParentWith("scsi", "scsi_target")
	if !ok {
		return p, p, false
	}
	end, ok = target.Parent()
	return target, end, ok
}

// scsiSASWidePort: a port of several phys is named by the disk's SAS
// address: sas-<sas_address>-lun-N.
func (w *pathWalk) scsiSASWidePort(p SysDevice) (SysDevice, bool) {
	_, end, ok := sasEndDevice(p)
	if !ok {
		return p, false
	}
	sas, err := LookupSysDevice(p.FS, "sas_device", end.Sysname())
	if err != nil {
		return p, false
	}
	addr, err := sas.Attr("sas_address")
	if err != nil {
		return p, false
	}
	w.prepend("sas-" + addr + "-" + lunName(p))
	return p, true
}

// scsiSAS: a disk on a port of one phy is named by that phy and, behind
// an expander, the expander's address: sas-exp<addr>-phy<N>-lun-M or
// sas-phy<N>-lun-M; wide ports go to scsiSASWidePort.
func (w *pathWalk) scsiSAS(p SysDevice) (SysDevice, bool) {
	_, end, ok := sasEndDevice(p)
	if !ok {
		return p, false
	}
	endSAS, err := LookupSysDevice(p.FS, "sas_device", end.Sysname())
	if err != nil {
		return p, false
	}
	port, ok := end.Parent()
	if !ok {
		return p, false
	}
	portSAS, err := LookupSysDevice(p.FS, "sas_port", port.Sysname())
	if err != nil {
		return p, false
	}
	phys, err := portSAS.Attr("num_phys")
	if err != nil {
		return p, false
	}
	if phys != "1" {
		return w.scsiSASWidePort(p)
	}
	phy, err := endSAS.Attr("phy_identifier")
	if err != nil {
		return p, false
	}
	expander, ok := port.Parent() // an expander or the HBA
	if !ok {
		return p, false
	}
	elem := "sas-phy" + phy + "-" + lunName(p)
	if exp, err := LookupSysDevice(p.FS, "sas_device", expander.Sysname()); err == nil {
		addr, err := exp.Attr("sas_address")
		if err != nil {
			return p, false
		}
		elem = "sas-exp" + addr + "-phy" + phy + "-" + lunName(p)
	}
	w.prepend(elem)
	return p, true
}

// scsiISCSI: ip-<address>:<port>-iscsi-<target name>-lun-N from the
// session above the device and its connection 0.
func (w *pathWalk) scsiISCSI(p SysDevice) (SysDevice, bool) {
	session, ok := p.Parent()
	for ; ok && !strings.HasPrefix(session.Sysname(), "session"); session, ok = session.Parent() {
	}
	if !ok {
		return p, false
	}
	sess, err := LookupSysDevice(p.FS, "iscsi_session", session.Sysname())
	if err != nil {
		return p, false
	}
	target, err := sess.Attr("targetname")
	if err != nil || session.Sysnum() == "" {
		return p, false
	}
	conn, err := LookupSysDevice(p.FS, "iscsi_connection", "connection"+session.Sysnum()+":0")
	if err != nil {
		return p, false
	}
	addr, err := conn.Attr("persistent_address")
	if err != nil {
		return p, false
	}
	port, err := conn.Attr("persistent_port")
	if err != nil {
		return p, false
	}
	w.prepend("ip-" + addr + ":" + port + "-iscsi-" + target + "-" + lunName(p))
	return p, true
}

// scsiATA: libata's port number from the ata_port device named as the
// SCSI host's parent (ataN), with the target (master 0, slave 1), or
// behind a port multiplier the bus: ata-<port>.<target> or
// ata-<port>.<bus>.0. It also starts the compat path, ata-<port>, which
// udev before 252 used (and which collides for master and slave).
func (w *pathWalk) scsiATA(p SysDevice) (SysDevice, bool) {
	hbtl := scanInts(p.Sysname(), ':', 4)
	if len(hbtl) != 4 {
		return p, false
	}
	host, ok := p.ParentWith("scsi", "scsi_host")
	if !ok {
		return p, false
	}
	port, ok := host.Parent()
	if !ok {
		return p, false
	}
	ata, err := LookupSysDevice(p.FS, "ata_port", port.Sysname())
	if err != nil {
		return p, false
	}
	no, err := ata.Attr("port_no")
	if err != nil {
		return p, false
	}
	bus, target := uint32(hbtl[1]), uint32(hbtl[2])
	if bus != 0 {
		w.prepend(fmt.Sprintf("ata-%s.%d.0", no, bus))
	} else {
		w.prepend(fmt.Sprintf("ata-%s.%d", no, target))
	}
	w.compat = append([]string{"ata-" + no}, w.compat...)
	return p, true
}

// scsiDefault: scsi-<host>:<bus>:<target>:<lun>, the host number rebased
// to the lowest hostN beside the host under its parent, so that it counts
// from 0 for each controller. udevd itself calls this racy: host numbers
// are global and given out in probe order. The walk goes on from the host.
func (w *pathWalk) scsiDefault(p SysDevice) (SysDevice, bool) {
	host, ok := p.ParentWith("scsi", "scsi_host")
	if !ok {
		return p, false
	}
	hbtl := scanInts(p.Sysname(), ':', 4)
	if len(hbtl) != 4 {
		return p, false
	}
	hosts := hostNumbers(p.FS, parentPath(host.Path))
	if len(hosts) == 0 {
		return host, true
	}
	rebased := int32(hbtl[0]) - int32(slices.Min(hosts))
	w.prepend(fmt.Sprintf("scsi-%d:%d:%d:%d", rebased, int32(hbtl[1]), int32(hbtl[2]), int32(hbtl[3])))
	return host, true
}

// scsiHyperV: vmbus-<device_id of the VMBus device, a braced GUID, without
// its braces and dashes>-lun-N; guidLen is where udevd expects the closing
// brace: 38 below VMBUS devices, 37 below the older vmbus_ ones.
func (w *pathWalk) scsiHyperV(p SysDevice, guidLen int) (SysDevice, bool) {
	host, ok := p.ParentWith("scsi", "scsi_host")
	if !ok {
		return p, false
	}
	vmbus, ok := host.Parent()
	if !ok {
		return p, false
	}
	guid, err := vmbus.Attr("device_id")
	if err != nil || len(guid) < guidLen || guid[0] != '{' || guid[guidLen-1] != '}' {
		return p, false
	}
	w.prepend("vmbus-" + strings.ReplaceAll(guid[1:guidLen-1], "-", "") + "-" + lunName(p))
	return p, true
}
