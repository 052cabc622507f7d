package qemu

import (
	"encoding/xml"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gudevd/gudevd/test/qemu/internal/report"
)

// realBoot is the stock 6.1 boot the report package's tests read.
func realBoot(t *testing.T) report.BootSummary {
	t.Helper()
	files, err := report.ReadRun(filepath.Join("internal", "report", "testdata", "boot-6.1-004-stock"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := report.SummarizeBoot("stock", "6.1", files)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestWriteBootTable: the row of a real boot carries its systemd-analyze
// phases (the initramfs split from the kernel by /init's start), the loads
// of initramfs and root system, and "none" for no failed unit; rows sort
// by kernel, vCPUs and configuration whatever the input order.
func TestWriteBootTable(t *testing.T) {
	stock := realBoot(t)
	al := stock
	al.Config, al.Failed = string(Alongside), []string{"x.service"}
	var b strings.Builder
	if err := WriteBootTable(&b, []report.BootSummary{al, stock}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	want := []string{
		"| 6.1 | 4 | stock | 9.04 | 9.47 | 22.40 | 40.91 | 15.70 | 3.59 | 17.06 | 40.88 | 150 (60 + 90) | 73 | 73 | none |",
		"| 6.1 | 4 | alongside | 9.04 | 9.47 | 22.40 | 40.91 | 15.70 | 3.59 | 17.06 | 40.88 | 150 (60 + 90) | 73 | 73 | x.service |",
	}
	for i, w := range want {
		if lines[2+i] != w {
			t.Errorf("row %d:\n got %s\nwant %s", i, lines[2+i], w)
		}
	}
	if !strings.Contains(b.String(), "gudevd-boot-settle.service") || !strings.Contains(b.String(), "multi-user.target @15.687s") {
		t.Errorf("boot.md lacks the blame or the critical chain:\n%s", b.String())
	}
}

// TestWriteBootSVG: the plot is well-formed XML with one bar of three
// phases per boot.
func TestWriteBootSVG(t *testing.T) {
	stock := realBoot(t)
	al := stock
	al.Config = string(Alongside)
	var b strings.Builder
	if err := WriteBootSVG(&b, []report.BootSummary{stock, al}); err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(strings.NewReader(b.String()))
	rects := 0
	for {
		tok, err := d.Token()
		if err != nil {
			if err != io.EOF {
				t.Fatalf("boot.svg is not well-formed: %v", err)
			}
			break
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
			rects++
		}
	}
	// A background, 3 phases for each of 2 bars, and 3 legend swatches.
	if rects != 1+3*2+3 {
		t.Errorf("boot.svg has %d rects, want %d", rects, 1+3*2+3)
	}
}
