package qemu

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/gudevd/gudevd/test/qemu/internal/report"
)

// ReportFile is the name under which the limit bench keeps a run's report
// (without the raw trace, which is next to it as trace.txt) among the
// guest's files, so a kept run can be analysed again without booting.
const ReportFile = "report.json"

// ModuleDeps returns the dependencies of a module of kernel k as depmod
// wrote them in modules.dep (kmodset.Set.Deps): the whole transitive
// closure of symbol dependencies, deepest first. Soft dependencies
// (modules.softdep, e.g. crc_t10dif's pre: crct10dif) are not in it: the
// kernel does not need them to link a module, and a loader that ignores
// them still loads it.
func (h *Harness) ModuleDeps(ctx context.Context, k Kernel) (func(string) []string, error) {
	_, set, err := h.moduleIndex(ctx, k)
	if err != nil {
		return nil, fmt.Errorf("module dependencies of %s: %w", k.Name, err)
	}
	return set.Deps, nil
}

// NewTimelineRun is the limit bench's record of a run.
func NewTimelineRun(res *Result, deps func(string) []string) TimelineRun {
	return TimelineRun{
		Summary:  res.Summary,
		Timeline: report.Analyze(&res.Report, deps),
		Memory:   res.Memory,
	}
}

// KeptFiles returns the guest's files of a run with its report added as
// ReportFile: what the limit bench keeps in runs/NAME/.
func KeptFiles(res *Result) (map[string][]byte, error) {
	b, err := json.MarshalIndent(res.Report, "", " ")
	if err != nil {
		return nil, fmt.Errorf("keep report: %w", err)
	}
	files := make(map[string][]byte, len(res.Files)+1)
	for name, f := range res.Files {
		files[name] = f
	}
	files[ReportFile] = b
	return files, nil
}

// KeptReport reads a run back from the files KeptFiles kept: the report's
// times and module lists from ReportFile, the calls parsed again from
// trace.txt, so a change to the parser reaches old runs.
func KeptReport(files map[string][]byte) (*report.Report, error) {
	raw, ok := files[ReportFile]
	if !ok {
		return nil, fmt.Errorf("read kept run: no %s", ReportFile)
	}
	var r report.Report
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("read kept run: %w", err)
	}
	trace, ok := files["trace.txt"]
	if !ok {
		return nil, fmt.Errorf("read kept run: no trace.txt")
	}
	calls, loaded, lost, err := report.ParseTrace(bytes.NewReader(trace))
	if err != nil {
		return nil, fmt.Errorf("read kept run: %w", err)
	}
	r.Calls, r.Loaded, r.Lost = calls, loaded, lost
	return &r, nil
}
