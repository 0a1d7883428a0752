package harness

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// clusterArgs shorten the cluster's liveness timings so a failover takes
// seconds in a test (the defaults are Kafka's: a 9 s session timeout).
var clusterArgs = []string{"--broker.session.timeout.ms=2000", "--broker.heartbeat.interval.ms=300", "--log.level=warn"}

// A three-process cluster starts with every broker registered, reports its
// three PIDs, survives a kill -9 and a restart of one node, and leaves no
// data behind when stopped.
func TestClusterTargetKillRestart(t *testing.T) {
	ct := &ClusterTarget{Binary: builtSluice(t), Args: clusterArgs}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	defer ct.Stop()
	addrs, err := ct.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(addrs) != 3 || len(ct.PIDs()) != 3 {
		t.Fatalf("addrs %v, PIDs %v: want three of each", addrs, ct.PIDs())
	}
	if got := brokerPIDs(ct); !slices.Equal(got, ct.PIDs()) {
		t.Fatalf("a run would sample PIDs %v, want the cluster's %v", got, ct.PIDs())
	}
	dataDir := ct.dataDir
	victim := ct.Node(2).PID()
	if err := ct.Node(2).Kill(); err != nil {
		t.Fatal(err)
	}
	if ps := ct.PIDs(); len(ps) != 2 || slices.Contains(ps, victim) {
		t.Fatalf("after killing node 2 (pid %d): PIDs %v", victim, ps)
	}
	if _, err := ct.Node(2).Start(ctx); err != nil {
		t.Fatalf("restart node 2: %v", err)
	}
	if err := ct.waitRegistered(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ct.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Fatalf("data directory %s still there after Stop: %v", dataDir, err)
	}
}

// MeasureFailover against a real cluster: one kill, a new leader that is
// not the victim, the victim back in the ISR, and every acknowledged record
// read back exactly once.
func TestMeasureFailover(t *testing.T) {
	ct := &ClusterTarget{Binary: builtSluice(t), Args: clusterArgs}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	defer ct.Stop()
	if _, err := ct.Start(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := MeasureFailover(ctx, ct, FailoverSpec{Kills: 1, Partitions: 1, Interval: 5 * time.Millisecond, Settle: time.Second}, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Samples) != 1 {
		t.Fatalf("samples %+v, want one", rep.Samples)
	}
	s := rep.Samples[0]
	if s.NewLeader == s.Victim || s.NewLeader < 1 || s.NewLeaderMs <= 0 || s.WriteStallMs <= 0 {
		t.Fatalf("sample %+v: want another leader and positive times", s)
	}
	if rep.Acknowledged == 0 || rep.Lost != 0 || rep.Duplicates != 0 {
		t.Fatalf("read back: %d acknowledged, %d lost, %d duplicates", rep.Acknowledged, rep.Lost, rep.Duplicates)
	}
	if rep.NewLeaderMs.P50 != s.NewLeaderMs || rep.NewLeaderMs.Max != s.NewLeaderMs {
		t.Fatalf("spread %+v of one sample %v", rep.NewLeaderMs, s.NewLeaderMs)
	}
}

func TestSpreadOf(t *testing.T) {
	if got := spreadOf([]float64{30, 10, 20, 50, 40}); got != (Spread{P50: 30, Max: 50}) {
		t.Fatalf("spreadOf = %+v, want p50 30 max 50", got)
	}
	if got := spreadOf(nil); got != (Spread{}) {
		t.Fatalf("spreadOf(nil) = %+v", got)
	}
}

// The report takes medians over repetitions per target and cell, divides
// the cluster's by the single node's, and says when a run failed its check.
func TestReplicationReportMarkdown(t *testing.T) {
	c := Cell{Partitions: 1, Acks: "all", MessageSize: 1024}
	run := func(target string, mib float64, passed bool) *Result {
		r := &Result{Partitions: 1, MessageSize: 1024}
		r.Sluice.Target = target
		r.Sluice.Settings.Acks = "all"
		r.Sluice.PublishMBPerSec = mib
		r.Sluice.Passed = passed
		return r
	}
	var suites []*Suite
	for i, single := range []float64{100, 300, 200} {
		suites = append(suites, &Suite{Runs: []*Result{run(TargetSluice, single, true), run(TargetCluster, single/4, i != 1)}})
	}
	rep := &ReplicationReport{Spec: MatrixSpec{Partitions: []int{1}, Acks: []Acks{"all"}, Sizes: []int{1024}}, Suites: suites}
	cells := rep.cells()
	if len(cells) != 1 || cells[0].cell != c {
		t.Fatalf("cells %+v", cells)
	}
	if !rep.Failed() {
		t.Fatal("a failed cluster run must fail the report")
	}
	md := rep.Markdown()
	for _, want := range []string{"| 1 | all |", "**1 runs FAILED**", "| 0.25 |"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}
