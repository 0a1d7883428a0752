package harness

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// ProduceGoalMatrix is issue 3's produce goal as the issue states it: 1 KiB records, acks=1, one
// franz-go producer (not idempotent), no consumer, 1 and 12 partitions, as fast as the client
// goes; 2 s warm-up, 8 s measured (the harness/workloads/produce-*p-1kb-acks1.yaml workloads).
func ProduceGoalMatrix() MatrixSpec {
	return MatrixSpec{
		Partitions:         []int{1, 12},
		Acks:               []Acks{"1"},
		Sizes:              []int{1024},
		Warmup:             2 * time.Second,
		Duration:           8 * time.Second,
		Producers:          1,
		Consumers:          0,
		ConsumerAssignment: AssignDirect,
		LingerMs:           1,
		DrainTimeout:       20 * time.Second,
	}
}

// GoalReport is `sluicebench goal`: rounds of the produce goal matrix, each against the client
// ceiling (TargetBlackhole) and one or more Sluice binaries, cell by cell, so that every ratio
// compares runs taken minutes apart. On a machine that moves ±30 % from run to run, the report
// quotes each round's ratio to its own ceiling and the medians over rounds, never one run.
type GoalReport struct {
	Command        string        `json:"command"`
	Spec           MatrixSpec    `json:"spec"`
	Targets        []string      `json:"targets"` // besides the ceiling, in run order
	Rounds         []*Suite      `json:"rounds"`
	ElapsedSeconds float64       `json:"elapsedSeconds"`
	Cells          []GoalFigures `json:"-"` // Summarize derives them from Rounds (NaN has no JSON)
}

// GoalFigures are one cell's figures for one target over the rounds.
type GoalFigures struct {
	Cell   Cell   `json:"cell"`
	Target string `json:"target"`
	// Per round (NaN where the run or its ceiling failed): MiB/s, ÷ that round's ceiling, broker
	// CPU-s/GiB.
	MBPerSec     []float64 `json:"mbPerSec"`
	Ratio        []float64 `json:"ratioToCeiling"`
	BrokerCPU    []float64 `json:"brokerCpuSecondsPerGiB"`
	CeilingMB    []float64 `json:"ceilingMBPerSec"`
	MedianRatio  float64   `json:"medianRatioToCeiling"`
	MedianCPU    float64   `json:"medianBrokerCpuSecondsPerGiB"`
	MedianMB     float64   `json:"medianMBPerSec"`
	RoundsPassed int       `json:"roundsPassed"` // runs that passed the checker
}

// Summarize fills Cells from Rounds.
func (g *GoalReport) Summarize() {
	g.Cells = nil
	for _, c := range g.Spec.Cells() {
		for _, target := range g.Targets {
			f := GoalFigures{Cell: c, Target: target}
			for _, s := range g.Rounds {
				ceiling, run := goalRun(s, TargetBlackhole, c), goalRun(s, target, c)
				mb, ceil, cpu := math.NaN(), math.NaN(), math.NaN()
				if ceiling != nil && ceiling.Sluice.Passed {
					ceil = ceiling.Sluice.PublishMBPerSec
				}
				if run != nil && run.Sluice.Passed {
					f.RoundsPassed++
					mb = run.Sluice.PublishMBPerSec
					if b := run.Sluice.Broker; b != nil {
						cpu = b.CPUSecondsPerGiB
					}
				}
				f.MBPerSec, f.CeilingMB, f.BrokerCPU = append(f.MBPerSec, mb), append(f.CeilingMB, ceil), append(f.BrokerCPU, cpu)
				f.Ratio = append(f.Ratio, mb/ceil)
			}
			f.MedianRatio, f.MedianCPU, f.MedianMB = median(f.Ratio), median(f.BrokerCPU), median(f.MBPerSec)
			g.Cells = append(g.Cells, f)
		}
	}
}

// goalRun finds target's run of cell c in s, or nil.
func goalRun(s *Suite, target string, c Cell) *Result {
	for _, r := range s.Runs {
		if r.Sluice.Target == target && r.Partitions == c.Partitions && r.MessageSize == c.MessageSize && Acks(r.Sluice.Settings.Acks) == c.Acks {
			return r
		}
	}
	return nil
}

// Markdown renders the report (call Summarize first).
func (g *GoalReport) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Issue 3's produce goal: Sluice against the client ceiling\n\n")
	fmt.Fprintf(&b, "`%s`, %d round(s), %s. ", g.Command, len(g.Rounds), time.Duration(g.ElapsedSeconds*float64(time.Second)).Round(time.Second))
	if len(g.Rounds) > 0 {
		s := g.Rounds[0]
		fmt.Fprintf(&b, "Commit %s, started %s UTC.", s.Commit, s.Start.UTC().Format("2006-01-02 15:04"))
		// The figures differ by machine (results/broker.md, twelfth pass: an Intel machine
		// measured higher than the AMD one before it), so the report says which it was.
		m := s.Machine
		fmt.Fprintf(&b, " Machine: %s, %d CPUs, kernel %s, load %s at the start.", m.Model, m.NProc, m.Kernel, m.Load1)
	}
	fmt.Fprintf(&b, "\n\n**Workload:** %d B records, acks=%s, one franz-go producer (linger %d ms), no consumer, %s warm-up and %s measured per run. "+
		"Each round runs, cell by cell, the ceiling (franz-go's kfake acknowledging Produce without storing, in the client's process) and then each target; "+
		"a ratio divides a target's MiB/s by the ceiling's in the same round. Goals: ≥ 0.9 of the ceiling, ≤ 0.5 broker CPU-s/GiB.\n\n",
		g.Spec.Sizes[0], g.Spec.Acks[0], g.Spec.LingerMs, g.Spec.Warmup, g.Spec.Duration)
	b.WriteString("| cell | target | ÷ ceiling, median | broker CPU-s/GiB, median | MiB/s, median | per round: ÷ ceiling | per round: CPU-s/GiB | ceiling MiB/s per round | passed |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	for _, c := range g.Cells {
		fmt.Fprintf(&b, "| %s | %s | **%s** | **%s** | %s | %s | %s | %s | %d/%d |\n", c.Cell, c.Target,
			f(c.MedianRatio, 2), f(c.MedianCPU, 2), f(c.MedianMB, 0),
			figs(c.Ratio, 2), figs(c.BrokerCPU, 2), figs(c.CeilingMB, 0), c.RoundsPassed, len(c.Ratio))
	}
	b.WriteString("\nA dash is a run that failed or did not pass the checker (its ceiling's, for a ratio).\n")
	return b.String()
}

// figs formats each of xs as f does, space separated.
func figs(xs []float64, prec int) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = f(x, prec)
	}
	return strings.Join(parts, " ")
}
