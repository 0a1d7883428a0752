package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluicemq/sluice/harness"
)

// runGoal is `sluicebench goal` (make bench-goal): issue 3's produce goal measured the way the
// issue states it (harness.ProduceGoalMatrix), in rounds: per cell the client ceiling, then
// -base-bin if given, then the Sluice binary; the report quotes each round's ratio to its own
// ceiling and the medians.
func runGoal(ctx context.Context, args []string) int {
	spec := harness.ProduceGoalMatrix()
	fs := flag.NewFlagSet("goal", flag.ContinueOnError)
	bin := fs.String("sluice-bin", "", "the sluice binary to measure (default: build cmd/sluice into a temporary directory)")
	baseBin := fs.String("base-bin", "", "another sluice binary (e.g. the previous commit's) measured in the same rounds")
	serveArgs := fs.String("serve-args", "", "extra `sluice serve` flags for both binaries, space separated")
	parts := fs.String("partitions", "1,12", "partition counts")
	rounds := fs.Int("rounds", 4, "rounds (medians are quoted)")
	fs.DurationVar(&spec.Warmup, "warmup", spec.Warmup, "warmup per run")
	fs.DurationVar(&spec.Duration, "duration", spec.Duration, "measured window per run")
	outDir := fs.String("out", "results", "directory for the JSON and Markdown")
	mdName := fs.String("md", "produce-goal.md", "Markdown file name")
	command := fs.String("command", "", "the command line to record (default: this one)")
	if !parse(fs, args) {
		return 2
	}
	var err error
	if spec.Partitions, err = parseInts(*parts); err != nil || *rounds < 1 {
		fmt.Fprintln(os.Stderr, "goal: -partitions wants positive integers and -rounds at least 1")
		return 2
	}
	if *command == "" {
		*command = strings.Join(append([]string{"sluicebench", "goal"}, args...), " ")
	}
	tf := &targetFlags{sluiceBin: *bin}
	cleanup, err := tf.buildOnce(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "goal:", err)
		return 2
	}
	defer cleanup()
	*bin = tf.sluiceBin
	process := func(b string) func() harness.Target {
		return func() harness.Target { return &harness.ProcessTarget{Binary: b, Args: strings.Fields(*serveArgs)} }
	}
	targets := []harness.MatrixTarget{{Name: harness.TargetBlackhole, New: func() harness.Target {
		return &harness.KfakeTarget{Brokers: 1, Blackhole: true}
	}}}
	rep := &harness.GoalReport{Command: *command, Spec: spec}
	if *baseBin != "" {
		targets = append(targets, harness.MatrixTarget{Name: "sluice-base", New: process(*baseBin)})
		rep.Targets = append(rep.Targets, "sluice-base")
	}
	targets = append(targets, harness.MatrixTarget{Name: harness.TargetSluice, New: process(*bin)})
	rep.Targets = append(rep.Targets, harness.TargetSluice)

	start := time.Now()
	for i := range *rounds {
		logf("round %d of %d", i+1, *rounds)
		s, err := harness.RunMatrix(ctx, "produce-goal", spec, targets, harness.MatrixOptions{
			Report: func(done, total int, r *harness.Result) {
				fmt.Fprintf(os.Stderr, "[%2d/%d] %s\n", done, total, harness.RunLine(r))
			},
		})
		if s != nil {
			rep.Rounds = append(rep.Rounds, s)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "goal:", err)
			return 2
		}
	}
	rep.ElapsedSeconds = time.Since(start).Seconds()
	rep.Summarize()
	md := rep.Markdown()
	fmt.Print(md)
	commit, _ := harness.GitCommit()
	jsonPath := filepath.Join(*outDir, fmt.Sprintf("produce-goal-%s-%s.json", start.Format("2006-01-02"), commit))
	err = writeReport(*outDir, filepath.Base(jsonPath), *mdName, rep, md)
	if err != nil {
		fmt.Fprintln(os.Stderr, "goal:", err)
		return 2
	}
	fmt.Printf("wrote %s and %s in %s\n", jsonPath, filepath.Join(*outDir, *mdName), time.Since(start).Round(time.Second))
	for _, f := range rep.Cells {
		if f.RoundsPassed < len(rep.Rounds) {
			return 1 // a run lost, duplicated or reordered records, or failed
		}
	}
	return 0
}
