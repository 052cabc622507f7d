// Command gudevd is a Linux device manager whose headline is module-load
// deduplication: every kernel module costs exactly one load syscall, however
// many CPUs and duplicate uevents a machine has.
package main

import (
	"context"
	"os"
)

func main() {
	os.Exit(run(context.Background(), os.Args, newEnv()))
}
