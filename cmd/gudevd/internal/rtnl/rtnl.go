package rtnl

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// ErrInvalidName is a name the kernel would refuse as an interface name
// (net/core/dev.c dev_valid_name, as systemd's ifname_valid checks it):
// empty, longer than 15 bytes, ".", "..", or holding '/', ':' or
// whitespace.
var ErrInvalidName = errors.New("invalid interface name")

// ValidName reports whether name can name an interface.
func ValidName(name string) bool {
	if name == "" || len(name) >= unix.IFNAMSIZ || name == "." || name == ".." {
		return false
	}
	return !strings.ContainsAny(name, "/: \t\n\v\f\r")
}

// defaultTimeout bounds a request whose context has no deadline: the
// kernel answers rtnetlink at once, so a silent socket is a bug, not load.
const defaultTimeout = 10 * time.Second

// ErrLostReply is a request on a Conn an earlier request left a reply on:
// one that ended on its deadline or a cancel before the kernel answered.
// The Conn cannot tell that reply from the next one's; dial again.
var ErrLostReply = errors.New("rtnetlink socket holds a lost reply")

// Conn is an rtnetlink socket (CLOEXEC, through mdlayher/netlink). Its
// requests are one at a time.
type Conn struct {
	mu     sync.Mutex
	c      *netlink.Conn
	broken bool // a request ended before its reply came
}

// Dial opens an rtnetlink socket in the network namespace netns names (an
// open /proc/PID/ns/net), or the caller's when netns is 0.
func Dial(netns int) (*Conn, error) {
	c, err := netlink.Dial(unix.NETLINK_ROUTE, &netlink.Config{NetNS: netns, Strict: true})
	if err != nil {
		return nil, fmt.Errorf("open rtnetlink socket: %w", err)
	}
	return &Conn{c: c}, nil
}

// Close closes the socket.
func (c *Conn) Close() error { return c.c.Close() }

// Link is what rtnetlink says of one interface.
type Link struct {
	Index    int
	Name     string
	AltNames []string
	HWAddr   []byte
}

// Link asks for interface ifindex (RTM_GETLINK).
func (c *Conn) Link(ctx context.Context, ifindex int) (Link, error) {
	msgs, err := c.do(ctx, unix.RTM_GETLINK, 0, ifindex, nil)
	if err != nil {
		return Link{}, fmt.Errorf("get interface %d: %w", ifindex, err)
	}
	for _, m := range msgs {
		if m.Header.Type == unix.RTM_NEWLINK && len(m.Data) >= unix.SizeofIfInfomsg {
			return parseLink(m.Data)
		}
	}
	return Link{}, fmt.Errorf("get interface %d: no link in the answer: %w", ifindex, unix.EBADMSG)
}

func parseLink(b []byte) (Link, error) {
	l := Link{Index: int(int32(binary.NativeEndian.Uint32(b[4:8])))}
	ad, err := netlink.NewAttributeDecoder(b[unix.SizeofIfInfomsg:])
	if err != nil {
		return Link{}, fmt.Errorf("parse interface %d: %w", l.Index, err)
	}
	for ad.Next() {
		switch ad.Type() {
		case unix.IFLA_IFNAME:
			l.Name = ad.String()
		case unix.IFLA_ADDRESS:
			l.HWAddr = ad.Bytes()
		case unix.IFLA_PROP_LIST:
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				for nad.Next() {
					if nad.Type() == unix.IFLA_ALT_IFNAME {
						l.AltNames = append(l.AltNames, nad.String())
					}
				}
				return nil
			})
		}
	}
	if err := ad.Err(); err != nil {
		return Link{}, fmt.Errorf("parse interface %d: %w", l.Index, err)
	}
	return l, nil
}

// Rename renames interface ifindex to name as systemd 252's
// rtnl_set_link_name does: an alternative name of the interface equal to
// name is dropped first (the kernel refuses a name already taken, an
// alternative one included, with EEXIST) and put back if the rename fails.
// The kernel refuses to rename an interface that is up (EBUSY).
func (c *Conn) Rename(ctx context.Context, ifindex int, name string) error {
	if !ValidName(name) {
		return fmt.Errorf("rename interface %d to %q: %w", ifindex, name, ErrInvalidName)
	}
	l, err := c.Link(ctx, ifindex)
	if err != nil {
		return fmt.Errorf("rename interface %d to %q: %w", ifindex, name, err)
	}
	dropped := false
	for _, a := range l.AltNames {
		if a == name {
			if err := c.DelAltName(ctx, ifindex, name); err != nil {
				return fmt.Errorf("rename interface %d to %q: %w", ifindex, name, err)
			}
			dropped = true
		}
	}
	err = c.setLink(ctx, ifindex, func(ae *netlink.AttributeEncoder) { ae.String(unix.IFLA_IFNAME, name) })
	if err != nil {
		if dropped {
			// Best effort, as udevd's: the rename's error is the one
			// that matters.
			_ = c.AddAltNames(ctx, ifindex, []string{name})
		}
		return fmt.Errorf("rename interface %d to %q: %w", ifindex, name, err)
	}
	return nil
}

// SetMAC sets interface ifindex's hardware address.
func (c *Conn) SetMAC(ctx context.Context, ifindex int, mac []byte) error {
	err := c.setLink(ctx, ifindex, func(ae *netlink.AttributeEncoder) { ae.Bytes(unix.IFLA_ADDRESS, mac) })
	if err != nil {
		return fmt.Errorf("set MAC address of interface %d: %w", ifindex, err)
	}
	return nil
}

// AddAltNames adds alternative names to interface ifindex in one request
// (RTM_NEWLINKPROP, kernel 5.5 and later), as link_apply_alternative_names
// does with net_setup_link's list.
func (c *Conn) AddAltNames(ctx context.Context, ifindex int, names []string) error {
	if len(names) == 0 {
		return nil
	}
	for _, n := range names {
		if !ValidName(n) {
			// The kernel's limit for alternative names is 127 bytes,
			// but udevd only proposes names it could also rename to.
			return fmt.Errorf("add alternative name %q to interface %d: %w", n, ifindex, ErrInvalidName)
		}
	}
	if err := c.linkProp(ctx, unix.RTM_NEWLINKPROP, unix.NLM_F_CREATE|unix.NLM_F_EXCL, ifindex, names); err != nil {
		return fmt.Errorf("add alternative names %q to interface %d: %w", names, ifindex, err)
	}
	return nil
}

// DelAltName drops one alternative name of interface ifindex.
func (c *Conn) DelAltName(ctx context.Context, ifindex int, name string) error {
	if err := c.linkProp(ctx, unix.RTM_DELLINKPROP, 0, ifindex, []string{name}); err != nil {
		return fmt.Errorf("drop alternative name %q of interface %d: %w", name, ifindex, err)
	}
	return nil
}

func (c *Conn) setLink(ctx context.Context, ifindex int, attrs func(*netlink.AttributeEncoder)) error {
	_, err := c.do(ctx, unix.RTM_SETLINK, 0, ifindex, attrs)
	return err
}

func (c *Conn) linkProp(ctx context.Context, typ uint16, flags netlink.HeaderFlags, ifindex int, names []string) error {
	_, err := c.do(ctx, typ, flags, ifindex, func(ae *netlink.AttributeEncoder) {
		ae.Nested(unix.IFLA_PROP_LIST, func(nae *netlink.AttributeEncoder) error {
			for _, n := range names {
				nae.String(unix.IFLA_ALT_IFNAME, n)
			}
			return nil
		})
	})
	return err
}

// ifinfo is a struct ifinfomsg naming ifindex.
func ifinfo(ifindex int) []byte {
	b := make([]byte, unix.SizeofIfInfomsg)
	b[0] = unix.AF_UNSPEC
	binary.NativeEndian.PutUint32(b[4:], uint32(int32(ifindex)))
	return b
}

// do sends one request about ifindex and waits for its answer. A kernel
// error comes back as a *netlink.OpError wrapping the errno, which
// errors.Is matches (unix.ENODEV, unix.EEXIST, unix.EBUSY...).
func (c *Conn) do(ctx context.Context, typ uint16, flags netlink.HeaderFlags, ifindex int, attrs func(*netlink.AttributeEncoder)) ([]netlink.Message, error) {
	body := ifinfo(ifindex)
	if attrs != nil {
		ae := netlink.NewAttributeEncoder()
		attrs(ae)
		b, err := ae.Encode()
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		body = append(body, b...)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if typ != unix.RTM_GETLINK {
		// A change is answered by an acknowledgement only; a get is
		// answered by the link, and an acknowledgement after it would
		// be read as the next request's answer.
		flags |= netlink.Acknowledge
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken {
		return nil, ErrLostReply
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(defaultTimeout)
	}
	if err := c.c.SetDeadline(deadline); err != nil {
		return nil, fmt.Errorf("set deadline: %w", err)
	}
	// A cancel unblocks the request at once by moving the deadline.
	stop := context.AfterFunc(ctx, func() { c.c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	msgs, err := c.c.Execute(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(typ), Flags: netlink.Request | flags},
		Data:   body,
	})
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.broken = true
		if ctx.Err() != nil {
			err = fmt.Errorf("%w: %w", ctx.Err(), err)
		}
	}
	return msgs, err
}
