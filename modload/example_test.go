package modload_test

import (
	"context"
	"fmt"
	"os"

	"github.com/gudevd/gudevd/modalias"
	"github.com/gudevd/gudevd/modload"
)

// The daemon's flow: plan in the main process, then run the graph, sending
// each step to a worker (here printed instead).
func Example() {
	modules := os.DirFS("testdata") // /lib/modules/VERSION
	deps, err := modload.LoadDeps(modules)
	if err != nil {
		fmt.Println(err)
		return
	}
	builtin, err := modload.LoadBuiltin(modules)
	if err != nil {
		fmt.Println(err)
		return
	}
	cfg := &modalias.Config{Options: map[string]string{"kvm_intel": "nested=1"}}
	plan := modload.NewPlanner(deps, cfg, builtin.Has).Plan([]string{"kvm_intel", "unix", "nosuch"})

	for _, s := range plan.Steps {
		fmt.Printf("%s %q deps=%v\n", s.Name, s.Options, s.Deps)
	}
	errs := modload.Run(context.Background(), plan, 1, func(ctx context.Context, s modload.Step) error {
		job, err := modload.MarshalStep(s)
		if err != nil {
			return err
		}
		_ = job // the worker calls modload.UnmarshalStep and Loader.Load
		return nil
	})
	for _, name := range []string{"kvm_intel", "unix", "nosuch"} {
		fmt.Printf("%s: %v\n", name, errs[name])
	}
	// Output:
	// irqbypass "" deps=[]
	// kvm "" deps=[irqbypass]
	// kvm_intel "nested=1" deps=[kvm irqbypass]
	// unix "" deps=[]
	// kvm_intel: <nil>
	// unix: <nil>
	// nosuch: load module nosuch: plan: unknown module
}
