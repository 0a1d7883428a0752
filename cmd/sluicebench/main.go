// Command sluicebench runs one benchmark workload against a Kafka-protocol
// broker and prints kafka-producer-perf-test's summary line, the consumers'
// summary and the correctness verdict.
//
//	sluicebench -workload harness/workloads/1-topic-4-partitions-1kb.yaml
//	sluicebench -workload w.yaml -target blackhole
//	sluicebench -workload w.yaml -brokers 127.0.0.1:9092 -broker-pid 1234 -out results/x.json
//
// Exit status: 0 passed, 1 the run lost, duplicated (with idempotence) or
// reordered records, 2 the run could not be carried out.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sluicemq/sluice/harness"
	"github.com/sluicemq/sluice/netio"
)

func main() {
	os.Exit(run())
}

func run() int {
	workload := flag.String("workload", "", "workload YAML file (required)")
	brokers := flag.String("brokers", "", "bootstrap host:port list of an external cluster, comma separated; overrides -target")
	brokerPID := flag.Int("broker-pid", 0, "PID of the external broker, to report its CPU time and memory")
	target := flag.String("target", "kfake", "in-process target when -brokers is empty: sluice, kfake or blackhole")
	fetchPath := flag.String("fetch-path", "", "sluice target: how fetches send file data, copy or sendfile (default: netio's)")
	kfakeBrokers := flag.Int("kfake-brokers", 1, "brokers in the in-process kfake cluster")
	kfakeDir := flag.String("kfake-dir", "", "directory for kfake's segments (default: a temporary one, removed afterwards)")
	kfakeMem := flag.Bool("kfake-in-memory", false, "keep kfake's records on the heap instead of in files")
	out := flag.String("out", "", "write the result JSON here")
	keep := flag.Bool("keep-topics", false, "leave the run's topics on the cluster")
	flag.Parse()
	if *workload == "" || flag.NArg() > 0 {
		flag.Usage()
		return 2
	}

	w, err := harness.LoadWorkload(*workload)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var t harness.Target
	switch {
	case *brokers != "":
		t = &harness.ExternalTarget{Bootstrap: strings.Split(*brokers, ","), ProcessID: *brokerPID}
	case *target == "sluice":
		t = &harness.SluiceTarget{FetchPath: netio.FetchPath(*fetchPath)}
	case *target == "kfake":
		t = &harness.KfakeTarget{Brokers: *kfakeBrokers, DataDir: *kfakeDir, InMemory: *kfakeMem}
	case *target == "blackhole":
		t = &harness.KfakeTarget{Brokers: *kfakeBrokers, Blackhole: true}
	default:
		fmt.Fprintf(os.Stderr, "unknown -target %q: sluice, kfake or blackhole (or -brokers for an external cluster)\n", *target)
		return 2
	}

	// The first interrupt ends the run early (it still drains and checks);
	// stop() then restores the default, so a second one kills.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() { <-ctx.Done(); stop() }()
	defer stop()

	res, err := harness.Run(ctx, w, t, harness.Options{
		Progress:   harness.ProgressWriter(os.Stderr),
		Logf:       func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) },
		KeepTopics: *keep,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "sluicebench: %v\n", err)
		return 2
	}
	fmt.Println(res.PerfTestLine())
	fmt.Println(res.ConsumeLine())
	fmt.Println(res.CorrectnessLine())
	for _, f := range res.Sluice.Correctness.Failures {
		fmt.Println("  failure:", f)
	}
	for _, x := range res.Sluice.Correctness.Examples {
		fmt.Println("  example:", x)
	}
	for _, n := range res.Sluice.Notes {
		fmt.Println("  note:", n)
	}
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
