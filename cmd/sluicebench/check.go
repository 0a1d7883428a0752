package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/sluicemq/sluice/harness"
)

const module = "github.com/sluicemq/sluice"

// runCheck is `sluicebench check` (make bench-check): the go benchmarks of
// the engine and codec packages, repeated, and a short matrix against a
// `sluice serve` process, compared with a baseline. -record writes a
// baseline instead of comparing.
func runCheck(ctx context.Context, args []string) int {
	spec := harness.StandardMatrix()
	spec.Warmup, spec.Duration = time.Second, 5*time.Second
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	baseline := fs.String("baseline", "results/baseline.json", "baseline to compare with")
	record := fs.String("record", "", "measure and write a baseline here instead of comparing")
	appendTo := fs.Bool("append", false, "with -record: add this sitting's samples to the baseline already there, so its noise band includes the drift between sittings")
	out := fs.String("out", "", "also write this run's samples here (a baseline file another check can compare with)")
	current := fs.String("current", "", "compare the samples in this file (written by -out or -record) instead of measuring")
	pkgs := fs.String("packages", "./engine/record ./engine/log ./engine/broker", "packages whose benchmarks run, space separated")
	bench := fs.String("bench", ".", "go test -bench pattern")
	count := fs.Int("count", 5, "go test -count: samples per benchmark (at least 5 for a 0.05 test)")
	benchtime := fs.String("benchtime", "1s", "go test -benchtime")
	parts := fs.String("partitions", "1,16", "matrix partition counts")
	acks := fs.String("acks", "1,all", "matrix ack modes")
	sizes := fs.String("sizes", "100,1024", "matrix message sizes")
	fs.DurationVar(&spec.Warmup, "warmup", spec.Warmup, "matrix warmup per run")
	fs.DurationVar(&spec.Duration, "duration", spec.Duration, "matrix measured window per run: its per-second throughputs are the samples")
	noMatrix := fs.Bool("no-matrix", false, "skip the matrix")
	noGo := fs.Bool("no-go-bench", false, "skip the go benchmarks")
	sluiceBin := fs.String("sluice-bin", "", "a built sluice binary (default: build cmd/sluice)")
	minDelta := fs.Float64("min-delta", harness.DefaultCompareOptions.MinDelta, "smallest relative change of a go benchmark that fails the check")
	minDeltaMatrix := fs.Float64("min-delta-matrix", harness.DefaultCompareOptions.MinDeltaMatrix, "smallest relative change of a matrix figure that fails the check")
	if !parse(fs, args) {
		return 2
	}
	opt := harness.DefaultCompareOptions
	opt.MinDelta, opt.MinDeltaMatrix = *minDelta, *minDeltaMatrix

	var base *harness.Baseline
	if *record == "" {
		var err error
		if base, err = harness.ReadBaseline(*baseline); err != nil {
			fmt.Fprintf(os.Stderr, "check: %v (make one with: sluicebench check -record %s)\n", err, *baseline)
			return 2
		}
	}

	cur := harness.Samples{}
	commit, dirty := harness.GitCommit()
	b := &harness.Baseline{Created: time.Now().UTC(), Sittings: 1, Commit: commit, Dirty: dirty, Machine: harness.ReadMachine(),
		Command: strings.Join(append([]string{"sluicebench", "check"}, args...), " "), Samples: cur}

	if *current != "" {
		c, err := harness.ReadBaseline(*current)
		if err != nil {
			fmt.Fprintln(os.Stderr, "check:", err)
			return 2
		}
		b, cur = c, c.Samples
		*noGo, *noMatrix = true, true
	}
	if !*noGo {
		goArgs := []string{"test", "-run", "^$", "-bench", *bench, "-benchmem", "-count", fmt.Sprint(*count), "-benchtime", *benchtime}
		goArgs = append(goArgs, strings.Fields(*pkgs)...)
		logf("go %s", strings.Join(goArgs, " "))
		var buf bytes.Buffer
		cmd := exec.CommandContext(ctx, "go", goArgs...)
		cmd.Stdout = io.MultiWriter(&buf, os.Stderr)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "check: go test -bench: %v\n", err)
			return 2
		}
		s, err := harness.ParseGoBench(&buf, module)
		if err != nil {
			fmt.Fprintln(os.Stderr, "check:", err)
			return 2
		}
		cur.Merge(s)
	}

	if !*noMatrix {
		var err error
		if spec.Partitions, err = parseInts(*parts); err == nil {
			spec.Sizes, err = parseInts(*sizes)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "check:", err)
			return 2
		}
		spec.Acks = nil
		for _, a := range strings.Split(*acks, ",") {
			spec.Acks = append(spec.Acks, harness.Acks(strings.TrimSpace(a)))
		}
		tf := &targetFlags{sluiceBin: *sluiceBin}
		cleanup, err := tf.buildOnce(ctx)
		if err != nil {
			fmt.Fprintln(os.Stderr, "check:", err)
			return 2
		}
		defer cleanup()
		mts := []harness.MatrixTarget{{Name: harness.TargetSluice, New: func() harness.Target { t, _ := tf.target(harness.TargetSluice); return t }}}
		suite, err := harness.RunMatrix(ctx, "bench-check", spec, mts, harness.MatrixOptions{
			Run:    harness.Options{Progress: harness.ProgressWriter(os.Stderr)},
			Report: func(done, total int, r *harness.Result) { logf("[%d/%d] %s", done, total, harness.RunLine(r)) },
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, "check: matrix:", err)
			return 2
		}
		for _, r := range suite.Runs {
			if !r.Sluice.Passed {
				fmt.Fprintf(os.Stderr, "check: %s failed the correctness check: %v\n", harness.CellOf(r), r.Sluice.Correctness.Failures)
				return 1
			}
		}
		if len(suite.Failures) > 0 {
			fmt.Fprintf(os.Stderr, "check: %d matrix runs could not run: %s\n", len(suite.Failures), suite.Failures[0].Error)
			return 1
		}
		cur.Merge(harness.MatrixSamples(suite))
	}

	if *record != "" {
		if *appendTo {
			if old, err := harness.ReadBaseline(*record); err == nil {
				old.Samples.Merge(cur)
				old.Sittings = max(old.Sittings, 1) + 1 // files from before the field were one sitting
				old.Created, old.Commit, old.Dirty, old.Machine = b.Created, b.Commit, b.Dirty, b.Machine
				b = old
			} else if !errors.Is(err, os.ErrNotExist) {
				fmt.Fprintln(os.Stderr, "check:", err)
				return 2
			}
		}
		if err := b.Write(*record); err != nil {
			fmt.Fprintln(os.Stderr, "check:", err)
			return 2
		}
		fmt.Printf("wrote baseline %s (%d benchmarks, %d sitting(s))\n", *record, len(b.Samples), b.Sittings)
		return 0
	}
	if *out != "" {
		if err := b.Write(*out); err != nil {
			fmt.Fprintln(os.Stderr, "check:", err)
			return 2
		}
	}
	fmt.Printf("baseline: %s, commit %s, %s\ncurrent:  commit %s, %s\n\n", *baseline, base.Commit, base.Machine, b.Commit, b.Machine)
	cs := harness.Compare(base.Samples, cur, opt)
	regressed := harness.FormatComparisons(os.Stdout, cs)
	fmt.Printf("\nA regression: the U test's p < %.2f and the medians differ by more than both noise bands added (±: the widest sample's distance from its median) and at least %.0f%% (go benchmarks) or %.0f%% (matrix).\n",
		opt.Alpha, 100*opt.MinDelta, 100*opt.MinDeltaMatrix)
	if regressed > 0 {
		fmt.Printf("FAIL: %d metric(s) regressed beyond the measured noise\n", regressed)
		return 1
	}
	fmt.Println("ok: no regression beyond the measured noise")
	return 0
}
