package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/sluicemq/sluice/harness"
	"github.com/sluicemq/sluice/netio"
)

// runOne is `sluicebench run`: one workload, one target.
func runOne(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	workload := fs.String("workload", "", "workload YAML file (required)")
	brokers := fs.String("brokers", "", "bootstrap host:port list of an external cluster, comma separated; overrides -target")
	brokerPID := fs.Int("broker-pid", 0, "PID of the external broker, to report its CPU time and memory")
	tf := addTargetFlags(fs)
	assignment := fs.String("consumer-assignment", "", "override the workload's consumerAssignment: group or direct (no consumer group)")
	out := fs.String("out", "", "write the result JSON here")
	keep := fs.Bool("keep-topics", false, "leave the run's topics on the cluster")
	if !parse(fs, args) || *workload == "" {
		if *workload == "" {
			fmt.Fprintln(os.Stderr, "run: -workload is required")
		}
		return 2
	}

	w, err := harness.LoadWorkload(*workload)
	if err == nil && *assignment != "" {
		w.ConsumerAssignment = *assignment
		err = w.Validate()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var t harness.Target
	if *brokers != "" {
		t = &harness.ExternalTarget{Bootstrap: strings.Split(*brokers, ","), ProcessID: *brokerPID}
	} else if t, err = tf.target(tf.name); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}

	res, err := harness.Run(ctx, w, t, harness.Options{
		Progress:   harness.ProgressWriter(os.Stderr),
		Logf:       logf,
		KeepTopics: *keep,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "sluicebench: %v\n", err)
		return 2
	}
	printResult(res)
	if *out != "" {
		if err := res.WriteJSON(*out); err != nil {
			fmt.Fprintf(os.Stderr, "sluicebench: %v\n", err)
			return 2
		}
		fmt.Fprintf(os.Stderr, "wrote %s\n", *out)
	}
	if !res.Sluice.Passed {
		return 1
	}
	return 0
}

func printResult(res *harness.Result) {
	fmt.Println(res.PerfTestLine())
	fmt.Println(res.ConsumeLine())
	fmt.Println(res.CorrectnessLine())
	if b := res.Sluice.Broker; b != nil {
		fmt.Printf("broker pid %d: %.2f CPU-s (%.2f CPU-s/GiB), RSS %d MiB (peak %d MiB)\n",
			b.PID, b.CPUSeconds, b.CPUSecondsPerGiB, b.RSSBytes>>20, b.PeakRSSBytes>>20)
	}
	for _, f := range res.Sluice.Correctness.Failures {
		fmt.Println("  failure:", f)
	}
	for _, x := range res.Sluice.Correctness.Examples {
		fmt.Println("  example:", x)
	}
	for _, n := range res.Sluice.Notes {
		fmt.Println("  note:", n)
	}
}

// targetFlags are the flags that pick and shape a target.
type targetFlags struct {
	name         string
	sluiceBin    string
	serveArgs    string
	fetchPath    string
	kfakeBrokers int
	kfakeDir     string
	kfakeMem     bool
}

func addTargetFlags(fs *flag.FlagSet) *targetFlags {
	tf := &targetFlags{}
	fs.StringVar(&tf.name, "target", harness.TargetSluice, "target when -brokers is empty: sluice (a `sluice serve` process), sluice-embedded (in this process), kfake or blackhole")
	fs.StringVar(&tf.sluiceBin, "sluice-bin", "", "sluice target: a built sluice binary (default: build cmd/sluice into a temporary directory)")
	fs.StringVar(&tf.serveArgs, "serve-args", "", "sluice target: extra `sluice serve` flags, space separated")
	fs.StringVar(&tf.fetchPath, "fetch-path", "", "sluice-embedded target: how fetches send file data, copy or sendfile (default: netio's)")
	fs.IntVar(&tf.kfakeBrokers, "kfake-brokers", 1, "brokers in the in-process kfake cluster")
	fs.StringVar(&tf.kfakeDir, "kfake-dir", "", "directory for kfake's segments (default: a temporary one, removed afterwards)")
	fs.BoolVar(&tf.kfakeMem, "kfake-in-memory", false, "keep kfake's records on the heap instead of in files")
	return tf
}

// target makes a fresh target by name.
func (tf *targetFlags) target(name string) (harness.Target, error) {
	switch name {
	case harness.TargetSluice:
		return &harness.ProcessTarget{Binary: tf.sluiceBin, Args: strings.Fields(tf.serveArgs)}, nil
	case "sluice-embedded":
		return &harness.SluiceTarget{FetchPath: netio.FetchPath(tf.fetchPath)}, nil
	case harness.TargetKfake:
		return &harness.KfakeTarget{Brokers: tf.kfakeBrokers, DataDir: tf.kfakeDir, InMemory: tf.kfakeMem}, nil
	case harness.TargetBlackhole:
		return &harness.KfakeTarget{Brokers: tf.kfakeBrokers, Blackhole: true}, nil
	}
	return nil, fmt.Errorf("unknown target %q: sluice, sluice-embedded, kfake or blackhole (or -brokers for an external cluster)", name)
}

// buildOnce builds the sluice binary for a sequence of runs, unless
// -sluice-bin names one. The returned cleanup removes what it built.
func (tf *targetFlags) buildOnce(ctx context.Context) (cleanup func(), err error) {
	if tf.sluiceBin != "" {
		return func() {}, nil
	}
	dir, err := os.MkdirTemp("", "sluicebench-bin-")
	if err != nil {
		return nil, err
	}
	bin, err := harness.BuildSluice(ctx, dir, false)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	tf.sluiceBin = bin
	return func() { os.RemoveAll(dir) }, nil
}
