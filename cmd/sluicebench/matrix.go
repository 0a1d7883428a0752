package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicemq/sluice/harness"
)

// runMatrix is `sluicebench matrix` (make bench).
func runMatrix(ctx context.Context, args []string) int {
	spec := harness.StandardMatrix()
	fs := flag.NewFlagSet("matrix", flag.ContinueOnError)
	tf := addTargetFlags(fs)
	targets := fs.String("targets", "sluice,kfake,blackhole", "targets, comma separated, run interleaved cell by cell")
	parts := fs.String("partitions", joinInts(spec.Partitions), "partition counts")
	acks := fs.String("acks", "0,1,all", "ack modes")
	sizes := fs.String("sizes", joinInts(spec.Sizes), "message sizes in bytes")
	kfakeOnly := fs.String("kfake-partitions", "1,16,64", "run kfake only at these partition counts (a representative subset keeps make bench near five minutes); empty: every cell")
	fs.DurationVar(&spec.Warmup, "warmup", spec.Warmup, "warmup per run")
	fs.DurationVar(&spec.Duration, "duration", spec.Duration, "measured window per run")
	fs.IntVar(&spec.Consumers, "consumers", spec.Consumers, "consumers per cell (0: produce only)")
	fs.StringVar(&spec.ConsumerAssignment, "consumer-assignment", spec.ConsumerAssignment, "group or direct")
	reference := fs.Bool("reference", true, "measure disk and loopback bandwidth first")
	diskBytes := fs.Int64("disk-bytes", 1<<30, "bytes the disk reference writes")
	outDir := fs.String("out", "results", "directory for the JSON, Markdown and plots")
	jsonName := fs.String("json", "", "results file name (default: <date>-<commit>.json)")
	mdName := fs.String("md", "latest.md", "Markdown file name; charts go to the directory of the same name")
	command := fs.String("command", "", "the command line to record (default: this one)")
	if !parse(fs, args) {
		return 2
	}
	var err error
	if spec.Partitions, err = parseInts(*parts); err == nil {
		spec.Sizes, err = parseInts(*sizes)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "matrix:", err)
		return 2
	}
	spec.Acks = nil
	for _, a := range strings.Split(*acks, ",") {
		spec.Acks = append(spec.Acks, harness.Acks(strings.TrimSpace(a)))
	}
	var only func(harness.Cell) bool
	if *kfakeOnly != "" {
		ps, err := parseInts(*kfakeOnly)
		if err != nil {
			fmt.Fprintln(os.Stderr, "matrix:", err)
			return 2
		}
		only = func(c harness.Cell) bool { return slices.Contains(ps, c.Partitions) }
	}

	var mts []harness.MatrixTarget
	for _, name := range strings.Split(*targets, ",") {
		name = strings.TrimSpace(name)
		if _, err := tf.target(name); err != nil {
			fmt.Fprintln(os.Stderr, "matrix:", err)
			return 2
		}
		mt := harness.MatrixTarget{Name: name, New: func() harness.Target { t, _ := tf.target(name); return t }}
		if name == harness.TargetKfake {
			mt.Only = only
		}
		mts = append(mts, mt)
	}
	if slices.ContainsFunc(mts, func(m harness.MatrixTarget) bool { return m.Name == harness.TargetSluice }) {
		cleanup, err := tf.buildOnce(ctx)
		if err != nil {
			fmt.Fprintln(os.Stderr, "matrix:", err)
			return 2
		}
		defer cleanup()
	}

	opt := harness.MatrixOptions{
		Run: harness.Options{Progress: harness.ProgressWriter(os.Stderr)},
		Report: func(done, total int, r *harness.Result) {
			fmt.Fprintf(os.Stderr, "[%2d/%d] %s\n", done, total, harness.RunLine(r))
		},
	}
	if *reference {
		opt.Reference = &harness.ReferenceSpec{DiskBytes: *diskBytes}
		logf("measuring this machine's disk and loopback bandwidth")
	}
	start := time.Now()
	suite, err := harness.RunMatrix(ctx, "bench", spec, mts, opt)
	if suite == nil {
		fmt.Fprintln(os.Stderr, "matrix:", err)
		return 2
	}
	suite.Command = *command
	if suite.Command == "" {
		suite.Command = strings.Join(append([]string{"sluicebench", "matrix"}, args...), " ")
	}
	fmt.Print(suite.Table())
	for _, h := range suite.Headlines() {
		a := string(h.Acks)
		if a == "" {
			a = "every cell"
		} else {
			a = "acks=" + a
		}
		fmt.Printf("%-10s sluice ÷ ceiling %.2f, ÷ kfake %.2f (geomeans), broker %.2f CPU-s/GiB (median), best %.1f MiB/s\n",
			a, h.VsCeiling, h.VsKfake, h.BrokerCPUMedian, h.BestMiBPerSec)
	}
	if ref := suite.Reference; ref != nil {
		fmt.Printf("reference: disk write %.0f MiB/s (%.0f with fsync), loopback %.0f MiB/s\n",
			ref.DiskWriteMiBPerSec, ref.DiskWriteFsyncMiBPerSec, ref.LoopbackMiBPerSec)
	}
	path, werr := suite.WriteReport(*outDir, *jsonName, *mdName)
	if werr != nil {
		fmt.Fprintln(os.Stderr, "matrix:", werr)
		return 2
	}
	fmt.Printf("wrote %s and %s/%s in %s\n", path, *outDir, *mdName, time.Since(start).Round(time.Second))
	if err != nil { // interrupted: what ran is written, but say so
		fmt.Fprintln(os.Stderr, "matrix:", err)
		return 2
	}
	for _, r := range suite.Runs {
		if !r.Sluice.Passed {
			return 1
		}
	}
	if len(suite.Failures) > 0 {
		return 1
	}
	return 0
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q: want positive integers, comma separated", s)
		}
		out = append(out, n)
	}
	return out, nil
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

// runReport is `sluicebench report`: the Markdown and charts again from a
// suite's JSON (after a change to the report, or to write the analysis).
func runReport(_ context.Context, args []string) int {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	in := fs.String("in", "", "suite JSON written by sluicebench matrix (required)")
	mdName := fs.String("md", "latest.md", "Markdown file name, written beside the JSON")
	if !parse(fs, args) || *in == "" {
		return 2
	}
	s, err := harness.ReadSuite(*in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		return 2
	}
	if _, err := s.WriteReport(filepath.Dir(*in), filepath.Base(*in), *mdName); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		return 2
	}
	fmt.Print(s.Table())
	return 0
}
