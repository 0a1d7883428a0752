package harness

import (
	"math"
	"strings"
	"testing"
)

// TestGoalReport: each round's ratio divides by that round's ceiling, medians are over rounds, and
// a failed run is a dash that neither the medians nor the passed count take in.
func TestGoalReport(t *testing.T) {
	spec := ProduceGoalMatrix()
	spec.Partitions = []int{1}
	c := spec.Cells()[0]
	round := func(ceiling, sluice, cpu float64, passed bool) *Suite {
		r := fakeRun(TargetSluice, c, sluice, cpu)
		r.Sluice.Passed = passed
		return &Suite{Runs: []*Result{fakeRun(TargetBlackhole, c, ceiling, 0), r},
			Machine: Machine{Model: "Test CPU 9000", NProc: 2, Kernel: "6.18.0", Load1: "0.50"}}
	}
	g := &GoalReport{Command: "sluicebench goal", Spec: spec, Targets: []string{TargetSluice},
		Rounds: []*Suite{round(100, 90, 0.6, true), round(200, 100, 0.8, true), round(300, 30, 9, false)}}
	g.Summarize()
	if len(g.Cells) != 1 {
		t.Fatalf("%d cells, want 1", len(g.Cells))
	}
	f := g.Cells[0]
	if f.Ratio[0] != 0.9 || f.Ratio[1] != 0.5 || !math.IsNaN(f.Ratio[2]) {
		t.Errorf("per-round ratios %v, want [0.9 0.5 NaN]", f.Ratio)
	}
	if math.Abs(f.MedianRatio-0.7) > 1e-9 || math.Abs(f.MedianCPU-0.7) > 1e-9 || f.MedianMB != 95 || f.RoundsPassed != 2 {
		t.Errorf("medians: ratio %v, CPU %v, MB/s %v; passed %d; want 0.7, 0.7, 95; 2", f.MedianRatio, f.MedianCPU, f.MedianMB, f.RoundsPassed)
	}
	md := g.Markdown()
	for _, want := range []string{"Machine: Test CPU 9000, 2 CPUs, kernel 6.18.0, load 0.50 at the start.",
		"| partitions=1/acks=1/size=1KiB | sluice | **0.70** | **0.70** | 95 | 0.90 0.50 – | 0.60 0.80 – | 100 200 300 | 2/3 |"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}
