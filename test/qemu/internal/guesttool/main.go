package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

type command struct {
	name string
	run  func(ctx context.Context, args []string, stdout io.Writer) error
}

var commands = []command{
	{"capture", cmdCapture},
	{"modaliases", cmdModaliases},
	{"loadall", cmdLoadAll},
	{"trigger", cmdTrigger},
	{"report", cmdReport},
	{"storm", cmdStorm},
	{"storm-child", cmdStormChild},
	{"oracle", cmdOracle},
	{"sample", cmdSample},
	{"chaos", cmdChaos},
	{"forge", cmdForge},
	{"forge-child", cmdForgeChild},
	{"snapshot", cmdSnapshot},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: guesttool capture|modaliases|loadall|trigger|report|storm|oracle|sample [ARGS]")
		os.Exit(2)
	}
	for _, c := range commands {
		if c.name == os.Args[1] {
			if err := c.run(ctx, os.Args[2:], os.Stdout); err != nil {
				fmt.Fprintf(os.Stderr, "guesttool %s: %v\n", c.name, err)
				os.Exit(1)
			}
			return
		}
	}
	fmt.Fprintf(os.Stderr, "guesttool: unknown command %q\n", os.Args[1])
	os.Exit(2)
}
