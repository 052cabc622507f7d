package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// cmdCapture binds a NETLINK_KOBJECT_UEVENT socket to one multicast group
// (1: the kernel's own events, 2: what udev daemons rebroadcast in libudev
// format) and writes every datagram, unmodified, to its own file until it
// is signalled.
func cmdCapture(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("capture", flag.ContinueOnError)
	group := fs.Uint("group", 1, "netlink multicast group")
	dir := fs.String("dir", ".", "output directory")
	prefix := fs.String("prefix", "kernel", "file name prefix")
	ready := fs.String("ready", "", "file to create once the socket is bound")
	if err := fs.Parse(args); err != nil {
		return err
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_KOBJECT_UEVENT)
	if err != nil {
		return fmt.Errorf("open uevent socket: %w", err)
	}
	defer unix.Close(fd)
	// A coldplug storm on many CPUs overruns the default buffer; the kernel
	// then drops datagrams with ENOBUFS on the reader.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 64<<20)
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 200000}); err != nil {
		return fmt.Errorf("set receive timeout: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: uint32(*group)}); err != nil {
		return fmt.Errorf("bind group %d: %w", *group, err)
	}
	if *ready != "" {
		if err := os.WriteFile(*ready, nil, 0o644); err != nil {
			return fmt.Errorf("signal readiness: %w", err)
		}
	}
	buf := make([]byte, 1<<16)
	n := 0
	for ctx.Err() == nil {
		m, _, err := unix.Recvfrom(fd, buf, 0)
		switch {
		case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ENOBUFS):
			fmt.Fprintln(os.Stderr, "guesttool capture: receive buffer overrun, datagrams lost")
			continue
		case err != nil:
			return fmt.Errorf("receive: %w", err)
		}
		n++
		name := filepath.Join(*dir, fmt.Sprintf("%s-%05d.bin", *prefix, n))
		if err := os.WriteFile(name, buf[:m], 0o644); err != nil {
			return fmt.Errorf("write datagram: %w", err)
		}
	}
	fmt.Fprintf(stdout, "captured %d datagrams on group %d\n", n, *group)
	return nil
}
