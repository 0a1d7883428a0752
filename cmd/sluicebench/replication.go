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

// runReplication is `sluicebench replication` (make bench-replication):
// issue 6's RF=3 benchmark. The same small matrix (partitions × acks, 1 KiB
// records) against a single `sluice serve` (RF=1) and a three-process
// cluster (RF=3, min.insync.replicas=2), interleaved cell by cell and
// repeated, so the table reads as medians and cluster ÷ single-node ratios
// measured in one sitting; then the failover measurement (kill -9 a
// partition leader under an acks=all producer, repeatedly).
func runReplication(ctx context.Context, args []string) int {
	spec := harness.StandardMatrix()
	spec.Duration = 3 * time.Second
	fs := flag.NewFlagSet("replication", flag.ContinueOnError)
	bin := fs.String("sluice-bin", "", "a built sluice binary (default: build cmd/sluice into a temporary directory)")
	parts := fs.String("partitions", "1,16", "partition counts")
	acks := fs.String("acks", "1,all", "ack modes")
	size := fs.Int("size", 1024, "message size in bytes")
	reps := fs.Int("reps", 3, "repetitions of the matrix (medians are quoted)")
	fs.DurationVar(&spec.Warmup, "warmup", spec.Warmup, "warmup per run")
	fs.DurationVar(&spec.Duration, "duration", spec.Duration, "measured window per run")
	kills := fs.Int("kills", 5, "leader kills in the failover measurement (0: skip it)")
	outDir := fs.String("out", "results", "directory for the JSON and Markdown")
	mdName := fs.String("md", "replication.md", "Markdown file name")
	command := fs.String("command", "", "the command line to record (default: this one)")
	serveArgs := fs.String("serve-args", "", "extra `sluice serve` flags for every broker, single node and cluster alike, space separated")
	if !parse(fs, args) {
		return 2
	}
	var err error
	if spec.Partitions, err = parseInts(*parts); err != nil {
		fmt.Fprintln(os.Stderr, "replication:", err)
		return 2
	}
	spec.Sizes = []int{*size}
	spec.Acks = nil
	for _, a := range strings.Split(*acks, ",") {
		spec.Acks = append(spec.Acks, harness.Acks(strings.TrimSpace(a)))
	}
	if *command == "" {
		*command = strings.Join(append([]string{"sluicebench", "replication"}, args...), " ")
	}
	tf := &targetFlags{sluiceBin: *bin}
	cleanup, err := tf.buildOnce(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "replication:", err)
		return 2
	}
	defer cleanup()
	*bin = tf.sluiceBin
	targets := []harness.MatrixTarget{
		{Name: harness.TargetSluice, New: func() harness.Target {
			return &harness.ProcessTarget{Binary: *bin, Args: strings.Fields(*serveArgs)}
		}},
		{Name: harness.TargetCluster, New: func() harness.Target {
			return &harness.ClusterTarget{Binary: *bin, Args: strings.Fields(*serveArgs)}
		}},
	}
	start := time.Now()
	rep := &harness.ReplicationReport{Command: *command, Spec: spec}
	for i := range *reps {
		logf("matrix %d of %d", i+1, *reps)
		s, err := harness.RunMatrix(ctx, "replication", spec, targets, harness.MatrixOptions{
			Report: func(done, total int, r *harness.Result) {
				fmt.Fprintf(os.Stderr, "[%2d/%d] %s\n", done, total, harness.RunLine(r))
			},
		})
		if s != nil {
			rep.Suites = append(rep.Suites, s)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "replication:", err)
			return 2
		}
	}
	if *kills > 0 {
		logf("failover: %d leader kills under an acks=all producer", *kills)
		ct := &harness.ClusterTarget{Binary: *bin, Args: strings.Fields(*serveArgs)}
		if _, err := ct.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "replication:", err)
			_ = ct.Stop()
			return 2
		}
		fo, err := harness.MeasureFailover(ctx, ct, harness.FailoverSpec{Kills: *kills, Partitions: 1,
			Interval: 5 * time.Millisecond, Settle: 2 * time.Second}, logf)
		if serr := ct.Stop(); serr != nil {
			logf("stopping the failover cluster: %v", serr)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "replication:", err)
			return 2
		}
		rep.Failover = fo
	}
	rep.ElapsedSeconds = time.Since(start).Seconds()
	md := rep.Markdown()
	fmt.Print(md)
	commit, _ := harness.GitCommit()
	jsonPath := filepath.Join(*outDir, fmt.Sprintf("replication-%s-%s.json", start.Format("2006-01-02"), commit))
	err = writeReport(*outDir, filepath.Base(jsonPath), *mdName, rep, md)
	if err != nil {
		fmt.Fprintln(os.Stderr, "replication:", err)
		return 2
	}
	fmt.Printf("wrote %s and %s in %s\n", jsonPath, filepath.Join(*outDir, *mdName), time.Since(start).Round(time.Second))
	if rep.Failed() {
		return 1
	}
	return 0
}
