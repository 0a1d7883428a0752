// Command sluicebench runs benchmark workloads against a Kafka-protocol
// broker.
//
//	sluicebench [run] -workload W.yaml [-target sluice|sluice-embedded|kfake|blackhole | -brokers HOST:PORT]
//	sluicebench matrix  [-out results] ...   the standard matrix (make bench)
//	sluicebench profile -name NAME ...       profiles of a broker process under a workload (make profile)
//	sluicebench check   -baseline F ...      short matrix + go benchmarks vs a baseline (make bench-check)
//	sluicebench scale   ...                  cost as partitions and connections grow (make bench-scale)
//	sluicebench replication ...              RF=1 vs RF=3 and failover time (make bench-replication)
//	sluicebench goal [-base-bin B] ...       issue 3's produce goal vs the client ceiling, in rounds (make bench-goal)
//	sluicebench report  -in results/F.json   latest.md and charts again from a matrix's JSON
//
// `run` prints kafka-producer-perf-test's summary line, the consumers'
// summary and the correctness verdict. Exit status: 0 passed, 1 a run lost,
// duplicated (with idempotence) or reordered records, or a regression was
// found, 2 nothing could be measured (bad flags, no broker).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

func main() {
	os.Exit(dispatch(os.Args[1:]))
}

func dispatch(args []string) int {
	// The first interrupt ends the current run early (it still drains and
	// checks); stop() then restores the default, so a second one kills.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() { <-ctx.Done(); stop() }()
	defer stop()

	cmd := "run"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "run":
		return runOne(ctx, args)
	case "matrix":
		return runMatrix(ctx, args)
	case "profile":
		return runProfile(ctx, args)
	case "check":
		return runCheck(ctx, args)
	case "scale":
		return runScale(ctx, args)
	case "report":
		return runReport(ctx, args)
	case "replication":
		return runReplication(ctx, args)
	case "goal":
		return runGoal(ctx, args)
	case "help":
		fmt.Println("usage: sluicebench [run|matrix|profile|check|scale|replication|goal|report] -h")
		return 0
	}
	fmt.Fprintf(os.Stderr, "sluicebench: unknown command %q (run, matrix, profile, check, scale, replication, goal, report)\n", cmd)
	return 2
}

// parse parses a subcommand's flags; false means exit 2.
func parse(fs *flag.FlagSet, args []string) bool {
	if err := fs.Parse(args); err != nil {
		return false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "%s: unexpected arguments %q\n", fs.Name(), fs.Args())
		return false
	}
	return true
}

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

// writeReport writes a report's JSON (indented, newline-terminated) and its Markdown into dir,
// creating dir if need be.
func writeReport(dir, jsonName, mdName string, report any, md string) error {
	b, err := json.MarshalIndent(report, "", "  ")
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, jsonName), append(b, '\n'), 0o644)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, mdName), []byte(md), 0o644)
	}
	return err
}
