package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Forge is what guesttool forge did: the host reads it from /out/forge.json.
type Forge struct {
	// Port is the daemon's uevent socket's netlink port id, found through
	// /proc/PID/fd and /proc/net/netlink.
	Port uint32 `json:"port"`
	// Mode is the unprivileged process against the control socket as the
	// daemon made it (mode 0600): every connect must fail with EACCES.
	Mode ForgeChild `json:"mode"`
	// Peercred is the same process once the socket was opened to everyone
	// (0666, its directory 0755): the daemon's own SO_PEERCRED check is all
	// that stands, and the uevents sent then. The kernel refuses every
	// unprivileged send but to its own port 0 (netlink_sendmsg wants
	// NL_CFG_F_NONROOT_SEND, which the uevent family does not set, for any
	// other port or group).
	Peercred ForgeChild `json:"peercred"`
	// Root are the same uevents sent by root from a port of its own, which
	// the kernel delivers: the daemon's own check (kernel-group datagrams
	// only from port 0, no unicast) must drop each. Root's messages to
	// port 0 are left out: the kernel turns them into real uevents, as it
	// does writes to a uevent file.
	Root []ForgeUevent `json:"root"`
	// Canaries are the modules the forged messages ask for, none of which
	// any device of the guest loads: one loaded at the end is a forged
	// message accepted.
	Canaries []string `json:"canaries"`
}

// ForgeChild is one run of the unprivileged process.
type ForgeChild struct {
	UID     int            `json:"uid"`
	Control []ForgeControl `json:"control"`
	Uevents []ForgeUevent  `json:"uevents,omitempty"`
}

// ForgeControl is one forged control request.
type ForgeControl struct {
	Request string `json:"request"`
	// Connect is "ok" or the errno connect(2) failed with.
	Connect string `json:"connect"`
	// Reply is the daemon's reply line, if any.
	Reply string `json:"reply,omitempty"`
	// Refused is set when the reply is the daemon's non-root refusal.
	Refused bool `json:"refused"`
}

// ForgeUevent counts forged uevent datagrams sent one way.
type ForgeUevent struct {
	// Channel: unicast to the daemon's port, multicast to group 1 or 2,
	// unicast with forged uid-0 credentials, or to the kernel's port 0.
	Channel string `json:"channel"`
	Tried   int    `json:"tried"`
	// Sent were accepted by sendmsg(2); for the daemon's port they are
	// delivered to its socket, where it must drop them.
	Sent int `json:"sent"`
	// Refused counts sendmsg's errors by errno: the kernel's refusals.
	Refused map[string]int `json:"refused,omitempty"`
	// Acks counts the kernel's netlink error acks by errno (port 0 only).
	Acks map[string]int `json:"acks,omitempty"`
}

// The forged messages' targets: module names and aliases the guest's image
// holds (the request storm's) that no device asks for.
const (
	canaryUnicast   = "fs-minix"          // minix
	canaryMulticast = "net-pf-29"         // can
	canaryUdev      = "net-pf-29-proto-1" // can_raw
)

// forgeRequests are the forged control requests, one connection each: a
// load of a canary module, the kernel helper's and a script's loads, the
// daemon's exit, a reload, a log level, and bytes that are no request.
var forgeRequests = []string{
	`{"op":"load","modules":["md4"]}`,
	`{"op":"modprobe","modules":["af_alg"]}`,
	`{"op":"probe","modules":["algif_hash"]}`,
	`{"op":"exit"}`,
	`{"op":"reload"}`,
	`{"op":"log-level","log_level":"debug"}`,
	`not a request`,
}

// notRootReply is the daemon's refusal (control.ErrNotRoot) as it crosses
// the wire.
const notRootReply = "refuse control connection from a non-root peer"

// cmdForge runs forge-child as an unprivileged uid twice, against the
// control socket as the daemon made it and opened to everyone, and writes
// what the child sent and what the kernel and the daemon said.
func cmdForge(ctx context.Context, args []string, stdout io.Writer) error {
	fl := flag.NewFlagSet("forge", flag.ContinueOnError)
	pid := fl.Int("pid", 0, "the daemon's pid")
	control := fl.String("control", "/run/gudevd/control", "the daemon's control socket")
	uid := fl.Int("uid", 65534, "unprivileged uid and gid to forge as")
	n := fl.Int("n", 8, "datagrams per uevent channel")
	out := fl.String("out", "", "file for the JSON result (default stdout)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	port, err := netlinkPort("/proc", *pid)
	if err != nil {
		return err
	}
	res := Forge{Port: port, Canaries: []string{"minix", "can", "can_raw", "md4", "af_alg", "algif_hash"}}
	child := func(phase string) (ForgeChild, error) {
		return runForgeChild(ctx, *uid, "-phase", phase, "-port", strconv.FormatUint(uint64(port), 10), "-control", *control, "-n", strconv.Itoa(*n))
	}
	if res.Mode, err = child("mode"); err != nil {
		return err
	}
	restore, err := openToAll(*control)
	if err != nil {
		return err
	}
	res.Peercred, err = child("peercred")
	if rerr := restore(); err == nil {
		err = rerr
	}
	if err != nil {
		return err
	}
	if res.Root, err = forgeUevents(port, *n, false); err != nil {
		return err
	}
	return writeResult(*out, stdout, res)
}

// openToAll makes the control socket connectable by anyone (the socket
// 0666, its directory searchable) and returns what puts the modes back.
func openToAll(path string) (func() error, error) {
	dir := filepath.Dir(path)
	var modes []fs.FileMode
	for _, p := range []string{dir, path} {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("open control socket to all: %w", err)
		}
		modes = append(modes, fi.Mode().Perm())
	}
	restore := func() error {
		return errors.Join(os.Chmod(path, modes[1]), os.Chmod(dir, modes[0]))
	}
	if err := errors.Join(os.Chmod(dir, 0o755), os.Chmod(path, 0o666)); err != nil {
		return nil, errors.Join(fmt.Errorf("open control socket to all: %w", err), restore())
	}
	return restore, nil
}

// runForgeChild runs `guesttool forge-child ARGS` as uid (and gid uid, no
// supplementary groups: setuid from root drops every capability) and
// decodes its result.
func runForgeChild(ctx context.Context, uid int, args ...string) (ForgeChild, error) {
	self, err := os.Executable()
	if err != nil {
		return ForgeChild{}, fmt.Errorf("find own executable: %w", err)
	}
	cmd := exec.CommandContext(ctx, self, append([]string{"forge-child"}, args...)...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	b, err := cmd.Output()
	if err != nil {
		return ForgeChild{}, fmt.Errorf("run forge-child as uid %d: %w", uid, err)
	}
	var c ForgeChild
	if err := json.Unmarshal(b, &c); err != nil {
		return ForgeChild{}, fmt.Errorf("decode forge-child result: %w", err)
	}
	return c, nil
}

// cmdForgeChild is the unprivileged process. It refuses to run as root: its
// results would prove nothing.
func cmdForgeChild(ctx context.Context, args []string, stdout io.Writer) error {
	fl := flag.NewFlagSet("forge-child", flag.ContinueOnError)
	phase := fl.String("phase", "mode", "mode: control requests only; peercred: control requests and uevents")
	port := fl.Uint("port", 0, "the daemon's uevent socket's netlink port id")
	control := fl.String("control", "/run/gudevd/control", "control socket")
	n := fl.Int("n", 8, "datagrams per uevent channel")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if os.Geteuid() == 0 {
		return errors.New("forge-child runs as root: a forgery by root proves nothing")
	}
	res := ForgeChild{UID: os.Geteuid()}
	for _, r := range forgeRequests {
		res.Control = append(res.Control, forgeControl(ctx, *control, r))
	}
	if *phase == "peercred" {
		var err error
		if res.Uevents, err = forgeUevents(uint32(*port), *n, true); err != nil {
			return err
		}
	}
	return json.NewEncoder(stdout).Encode(res)
}

// forgeControl sends one request on its own connection and reads the reply.
func forgeControl(ctx context.Context, path, req string) ForgeControl {
	fc := ForgeControl{Request: req, Connect: "ok"}
	var d net.Dialer
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		fc.Connect = errnoName(err)
		return fc
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req+"\n"); err != nil {
		fc.Reply = "write: " + errnoName(err)
		return fc
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil && line == "" {
		fc.Reply = "read: " + errnoName(err)
		return fc
	}
	fc.Reply = strings.TrimSpace(line)
	var rep struct {
		Error string `json:"error"`
	}
	fc.Refused = json.Unmarshal([]byte(fc.Reply), &rep) == nil && rep.Error == notRootReply
	return fc
}

// forgeUevents sends n forged kernel-format uevents down every channel,
// and to the kernel's port 0 too when toKernel is set.
func forgeUevents(port uint32, n int, toKernel bool) ([]ForgeUevent, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_KOBJECT_UEVENT)
	if err != nil {
		return nil, fmt.Errorf("open uevent socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("bind uevent socket: %w", err)
	}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 300000}); err != nil {
		return nil, fmt.Errorf("set receive timeout: %w", err)
	}
	// Forged uid-0 credentials: the kernel checks SCM_CREDENTIALS against
	// the sender (scm_check_creds), so only root may claim uid 0.
	root := unix.UnixCredentials(&unix.Ucred{Pid: int32(os.Getpid()), Uid: 0, Gid: 0})
	chans := []struct {
		name  string
		to    unix.SockaddrNetlink
		alias string
		oob   []byte
	}{
		{"unicast-daemon", unix.SockaddrNetlink{Family: unix.AF_NETLINK, Pid: port}, canaryUnicast, nil},
		{"multicast-kernel-group", unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1}, canaryMulticast, nil},
		{"multicast-udev-group", unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 2}, canaryUdev, nil},
		{"forged-uid0-credentials", unix.SockaddrNetlink{Family: unix.AF_NETLINK, Pid: port}, canaryUnicast, root},
	}
	var out []ForgeUevent
	for _, c := range chans {
		u := ForgeUevent{Channel: c.name, Refused: map[string]int{}}
		for i := range n {
			u.Tried++
			err := unix.Sendmsg(fd, forgedUevent(c.name, i, c.alias), c.oob, &c.to, 0)
			if err != nil {
				u.Refused[errnoName(err)]++
				continue
			}
			u.Sent++
		}
		out = append(out, u)
	}
	if toKernel {
		out = append(out, forgeToKernel(fd, n))
	}
	return out, nil
}

// forgeToKernel sends netlink messages to the kernel's own end of the
// uevent socket (port 0), which turns a privileged sender's message into a
// uevent it broadcasts itself (uevent_net_rcv_skb); it checks CAP_SYS_ADMIN
// first and acks an error to everyone else. netlink_rcv_skb skips control
// types below NLMSG_MIN_TYPE, so the message has type 0x10.
func forgeToKernel(fd int, n int) ForgeUevent {
	u := ForgeUevent{Channel: "kernel-port-0", Refused: map[string]int{}, Acks: map[string]int{}}
	to := &unix.SockaddrNetlink{Family: unix.AF_NETLINK}
	buf := make([]byte, 4096)
	for i := range n {
		u.Tried++
		body := forgedUevent("kernel", i, canaryUnicast)
		msg := make([]byte, unix.NLMSG_HDRLEN, unix.NLMSG_HDRLEN+len(body))
		binary.NativeEndian.PutUint32(msg[0:], uint32(unix.NLMSG_HDRLEN+len(body)))
		binary.NativeEndian.PutUint16(msg[4:], unix.NLMSG_MIN_TYPE)
		binary.NativeEndian.PutUint16(msg[6:], unix.NLM_F_REQUEST|unix.NLM_F_ACK)
		binary.NativeEndian.PutUint32(msg[8:], uint32(i+1))
		msg = append(msg, body...)
		if err := unix.Sendto(fd, msg, 0, to); err != nil {
			u.Refused[errnoName(err)]++
			continue
		}
		u.Sent++
		m, _, err := unix.Recvfrom(fd, buf, 0)
		switch {
		case err != nil:
			u.Acks["none:"+errnoName(err)]++
		case m >= unix.NLMSG_HDRLEN+4 && binary.NativeEndian.Uint16(buf[4:]) == unix.NLMSG_ERROR:
			code := int32(binary.NativeEndian.Uint32(buf[unix.NLMSG_HDRLEN:]))
			if code == 0 {
				u.Acks["ok"]++
			} else {
				u.Acks[errnoName(unix.Errno(-code))]++
			}
		default:
			u.Acks["other"]++
		}
	}
	return u
}

// forgedUevent is a kernel-format uevent ("ACTION@DEVPATH" and KEY=VALUE
// lines, NUL-separated) for a device that does not exist, whose MODALIAS
// names a canary.
func forgedUevent(channel string, i int, alias string) []byte {
	dev := fmt.Sprintf("/devices/virtual/forged/%s%d", channel, i)
	fields := []string{
		"add@" + dev,
		"ACTION=add",
		"DEVPATH=" + dev,
		"SUBSYSTEM=forged",
		"MODALIAS=" + alias,
		"SEQNUM=" + strconv.Itoa(900000+i),
	}
	return []byte(strings.Join(fields, "\x00") + "\x00")
}

// netlinkPort finds the port id of pid's NETLINK_KOBJECT_UEVENT socket: the
// inodes of its socket fds, matched against /proc/net/netlink's rows.
func netlinkPort(proc string, pid int) (uint32, error) {
	fds, err := os.ReadDir(filepath.Join(proc, strconv.Itoa(pid), "fd"))
	if err != nil {
		return 0, fmt.Errorf("find the daemon's netlink port: %w", err)
	}
	inodes := map[string]bool{}
	for _, e := range fds {
		l, err := os.Readlink(filepath.Join(proc, strconv.Itoa(pid), "fd", e.Name()))
		if ino, ok := strings.CutPrefix(l, "socket:["); err == nil && ok {
			inodes[strings.TrimSuffix(ino, "]")] = true
		}
	}
	b, err := os.ReadFile(filepath.Join(proc, "net", "netlink"))
	if err != nil {
		return 0, fmt.Errorf("find the daemon's netlink port: %w", err)
	}
	return parseNetlinkPort(string(b), inodes)
}

// errNoUeventSocket: the daemon holds no NETLINK_KOBJECT_UEVENT socket.
var errNoUeventSocket = errors.New("no uevent socket among the process's fds")

// parseNetlinkPort reads /proc/net/netlink ("sk Eth Pid Groups Rmem Wmem
// Dump Locks Drops Inode", Eth the protocol, 15 for
// NETLINK_KOBJECT_UEVENT) for the port of a socket whose inode is given.
func parseNetlinkPort(table string, inodes map[string]bool) (uint32, error) {
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) == 0 {
		return 0, errNoUeventSocket
	}
	col := map[string]int{}
	for i, h := range strings.Fields(lines[0]) {
		col[h] = i
	}
	eth, okE := col["Eth"]
	pidc, okP := col["Pid"]
	ino, okI := col["Inode"]
	if !okE || !okP || !okI {
		return 0, fmt.Errorf("parse /proc/net/netlink: header %q lacks Eth, Pid or Inode", lines[0])
	}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) <= max(eth, pidc, ino) || f[eth] != strconv.Itoa(unix.NETLINK_KOBJECT_UEVENT) || !inodes[f[ino]] {
			continue
		}
		p, err := strconv.ParseUint(f[pidc], 10, 32)
		if err != nil {
			return 0, fmt.Errorf("parse /proc/net/netlink port %q: %w", f[pidc], err)
		}
		return uint32(p), nil
	}
	return 0, errNoUeventSocket
}

// errnoName names the errno inside err ("EACCES"), or gives err's text.
func errnoName(err error) string {
	var en unix.Errno
	if errors.As(err, &en) {
		if n := unix.ErrnoName(en); n != "" {
			return n
		}
	}
	return err.Error()
}
