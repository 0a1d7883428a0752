package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/sluicemq/sluice/harness"
)

// runScale is `sluicebench scale` (make bench-scale).
func runScale(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	parts := fs.String("partitions", "16,256,1000", "partition counts for the throughput runs")
	idle := fs.String("idle-partitions", "1000,10000", "idle partition counts for the memory readings")
	conns := fs.Int("idle-connections", 10000, "idle connections held while a producer runs")
	warmup := fs.Duration("warmup", 2*time.Second, "warmup per run")
	duration := fs.Duration("duration", 5*time.Second, "measured window per run")
	outDir := fs.String("out", "results", "directory for scale-<date>-<commit>.json and scale.md")
	sluiceBin := fs.String("sluice-bin", "", "a built sluice binary (default: build cmd/sluice)")
	if !parse(fs, args) {
		return 2
	}
	partCounts, err := parseInts(*parts)
	if err == nil {
		_, err = parseInts(*idle)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		return 2
	}
	idleCounts, _ := parseInts(*idle)
	tf := &targetFlags{sluiceBin: *sluiceBin}
	cleanup, err := tf.buildOnce(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		return 2
	}
	defer cleanup()

	rep := &harness.ScaleReport{Start: time.Now(), Machine: harness.ReadMachine(), IdleConns: *conns}
	rep.Commit, rep.Dirty = harness.GitCommit()
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		// Go raises the soft limit to the hard one at start-up; children
		// inherit it.
		rep.NoFileLimit = lim.Cur
	}
	fail := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		rep.Errors = append(rep.Errors, msg)
		logf("%s", msg)
	}
	workload := func(name string, partitions int) *harness.Workload {
		w := &harness.Workload{Name: name, Topics: 1, PartitionsPerTopic: partitions, MessageSize: 1024,
			ProducersPerTopic: 1, ConsumerPerSubscription: 1, ConsumerAssignment: harness.AssignDirect,
			Acks: "1", LingerMs: 1, WarmupDuration: *warmup, TestDuration: *duration}
		if err := w.Validate(); err != nil {
			panic("BUG: " + err.Error())
		}
		return w
	}
	opt := harness.Options{Progress: harness.ProgressWriter(os.Stderr)}

	// 1. The same workload over more and more partitions.
	for _, n := range partCounts {
		res, err := harness.Run(ctx, workload(fmt.Sprintf("scale-partitions-%d", n), n), &harness.ProcessTarget{Binary: tf.sluiceBin}, opt)
		if err != nil {
			fail("%d partitions: %v", n, err)
			continue
		}
		logf("%s", harness.RunLine(res))
		rep.Partitions = append(rep.Partitions, res)
	}

	// 2. Memory of idle partitions, a fresh broker each.
	measureIdle := func(n int) (int64, error) {
		t := &harness.ProcessTarget{Binary: tf.sluiceBin}
		defer t.Stop()
		addrs, err := t.Start(ctx)
		if err != nil {
			return 0, err
		}
		if n == 0 {
			return harness.SettledRSS(ctx, t.PID())
		}
		start := time.Now()
		if err := harness.IdlePartitions(ctx, addrs, n, fmt.Sprintf("idle%d", n)); err != nil {
			return 0, err
		}
		logf("created %d idle partitions in %s", n, time.Since(start).Round(time.Millisecond))
		return harness.SettledRSS(ctx, t.PID())
	}
	if rep.BaseRSSBytes, err = measureIdle(0); err != nil {
		fail("empty broker: %v", err)
	}
	for _, n := range idleCounts {
		rss, err := measureIdle(n)
		i := harness.IdleRSS{Partitions: n, RSSBytes: rss}
		if err != nil {
			i.Error = err.Error()
			fail("%d idle partitions: %v", n, err)
		} else {
			logf("%d idle partitions: broker RSS %d MiB", n, rss>>20)
		}
		rep.IdleRSS = append(rep.IdleRSS, i)
	}

	// 3. A producer with and without idle connections beside it, one broker.
	if *conns > 0 {
		func() {
			t := &harness.ProcessTarget{Binary: tf.sluiceBin}
			defer t.Stop()
			addrs, err := t.Start(ctx)
			if err != nil {
				fail("idle connections: %v", err)
				return
			}
			ext := &harness.ExternalTarget{Bootstrap: addrs, ProcessID: t.PID()}
			w := workload("scale-connections", 16)
			res, err := harness.Run(ctx, w, ext, opt)
			if err != nil {
				fail("idle connections, baseline run: %v", err)
				return
			}
			logf("%s", harness.RunLine(res))
			rep.Connections = append(rep.Connections, res)
			rep.ConnRSS[0], _ = harness.SettledRSS(ctx, t.PID())
			start := time.Now()
			closeConns, err := harness.IdleConnections(ctx, addrs[0], *conns)
			if err != nil {
				fail("idle connections: %v", err)
				return
			}
			defer closeConns()
			logf("holding %d idle connections (opened in %s)", *conns, time.Since(start).Round(time.Millisecond))
			rep.ConnRSS[1], _ = harness.SettledRSS(ctx, t.PID())
			res, err = harness.Run(ctx, w, ext, opt)
			if err != nil {
				fail("idle connections, run: %v", err)
				return
			}
			logf("%s", harness.RunLine(res))
			rep.Connections = append(rep.Connections, res)
		}()
	}

	rep.ElapsedSeconds = time.Since(rep.Start).Seconds()
	jsonName := fmt.Sprintf("scale-%s-%s.json", rep.Start.Format("2006-01-02"), rep.Commit)
	md := rep.Markdown(jsonName)
	if err := writeReport(*outDir, jsonName, "scale.md", rep, md); err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		return 2
	}
	fmt.Print(md)
	if len(rep.Errors) > 0 {
		return 1
	}
	return 0
}
