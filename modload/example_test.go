package modload_test

import (
	"context"
	"fmt"
	"os"
	"testing/fstest"

	"github.com/gudevd/gudevd/modalias"
	"github.com/gudevd/gudevd/modload"
)

// The daemon's flow: plan in the main process, then run the graph, sending
// each step to a worker (here printed instead).
func Example() {
	dep, err := os.ReadFile("testdata/modules.dep")
	if err != nil {
		fmt.Println(err)
		return
	}
	builtin, err := os.ReadFile("testdata/modules.builtin")
	if err != nil {
		fmt.Println(err)
		return
	}
	// The daemon reads os.DirFS("/lib/modules/VERSION") and os.DirFS("/").
	ix, err := modalias.Load(modalias.Sources{
		Modules: fstest.MapFS{
			"modules.dep":     {Data: dep},
			"modules.builtin": {Data: builtin},
			"modules.alias":   {},
		},
		Root: fstest.MapFS{"etc/modprobe.d/kvm.conf": {Data: []byte("options kvm_intel nested=1\n")}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	plan := modload.NewPlanner(ix).Plan([]string{"kvm_intel", "unix", "nosuch"})

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
