package harness

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestStandardMatrixCells(t *testing.T) {
	m := StandardMatrix()
	cs := m.Cells()
	if len(cs) != 4*3*2 {
		t.Fatalf("%d cells, want 24", len(cs))
	}
	if cs[0] != (Cell{Partitions: 1, Acks: "0", MessageSize: 100}) || cs[23] != (Cell{Partitions: 64, Acks: "all", MessageSize: 1024}) {
		t.Errorf("order: first %v, last %v", cs[0], cs[23])
	}
	for _, c := range cs {
		w, err := m.Workload(c)
		if err != nil {
			t.Fatal(err)
		}
		if *w.Idempotence != (c.Acks == "all") || w.ConsumerAssignment != AssignDirect || w.PartitionsPerTopic != c.Partitions {
			t.Errorf("%s: idempotence %v, assignment %s, partitions %d", c, *w.Idempotence, w.ConsumerAssignment, w.PartitionsPerTopic)
		}
	}
	if got := (Cell{Partitions: 16, Acks: "all", MessageSize: 1024}).String(); got != "partitions=16/acks=all/size=1KiB" {
		t.Errorf("cell name %q", got)
	}
}

// fakeRun is a result as a run would leave it, with the figures a report
// reads.
func fakeRun(target string, c Cell, mibPerSec, brokerCPU float64) *Result {
	r := &Result{Workload: "matrix-" + c.String(), Driver: target, MessageSize: c.MessageSize, Topics: 1, Partitions: c.Partitions, ProducersPerTopic: 1}
	e := &r.Sluice
	e.Target = target
	e.Settings.Acks = string(c.Acks)
	e.Settings.ConsumerPerSubscription = 1
	e.Passed, e.DrainComplete = true, true
	e.Correctness.ConsumeChecked = target != TargetBlackhole
	if e.Correctness.ConsumeChecked {
		e.ConsumedRecords = 1000
	}
	e.PublishMBPerSec = mibPerSec
	e.PublishMBPerSecSeries = []float64{mibPerSec * 0.98, mibPerSec, mibPerSec * 1.02}
	e.PublishLatencyMs = LatencyMs{P50: 1, P99: 5}
	e.EndToEndLatencyMs = LatencyMs{P50: 2, P99: 9}
	q := map[string]float64{}
	for i, p := range quantilePercentiles {
		q[formatPct(p)] = 1 + float64(i)
	}
	r.AggregatedPublishLatencyQuantiles, r.AggregatedEndToEndLatencyQuantiles = q, q
	e.Harness = &ProcessUsage{CPUSeconds: 1, CPUSecondsPerGiB: 2}
	if brokerCPU > 0 {
		e.Broker = &ProcessUsage{PID: 7, CPUSeconds: 1, CPUSecondsPerGiB: brokerCPU}
	}
	return r
}

// formatPct is the quantile maps' key for p, as report.go writes it.
func formatPct(p float64) string { return strconv.FormatFloat(p, 'f', -1, 64) }

func fakeSuite() *Suite {
	spec := StandardMatrix()
	spec.Partitions, spec.Acks, spec.Sizes = []int{1, 16}, []Acks{"1", "all"}, []int{1024}
	s := &Suite{Name: "bench", Start: time.Date(2026, 11, 26, 5, 0, 0, 0, time.UTC), Commit: "abc1234", Command: "make bench",
		Machine: Machine{NProc: 2, Model: "Test CPU", Kernel: "6.0", GoVersion: "go1.26"}, Spec: spec,
		Targets:   []string{TargetSluice, TargetKfake, TargetBlackhole},
		Reference: &Reference{DiskBytes: 1 << 30, DiskWriteMiBPerSec: 2000, DiskWriteFsyncMiBPerSec: 1000, LoopbackMiBPerSec: 1600}}
	for _, c := range spec.Cells() {
		s.Runs = append(s.Runs,
			fakeRun(TargetSluice, c, 200, 1.25),
			fakeRun(TargetKfake, c, 100, 0),
			fakeRun(TargetBlackhole, c, 400, 0))
	}
	return s
}

func TestSuiteReport(t *testing.T) {
	s := fakeSuite()
	s.Failures = []RunFailure{{Target: TargetKfake, Cell: Cell{Partitions: 64, Acks: "1", MessageSize: 1024}, Error: "boom\nmore"}}
	dir := t.TempDir()
	jsonPath, err := s.WriteReport(dir, "", "latest.md")
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(jsonPath) != "2026-11-26-abc1234.json" {
		t.Errorf("json name %s", jsonPath)
	}
	back, err := ReadSuite(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s, back) {
		t.Errorf("suite JSON round trip differs")
	}

	md, err := os.ReadFile(filepath.Join(dir, "latest.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| 1KiB | all | 16 | **200.0** | 1.25 | 3.25 |", // broker CPU and broker + clients
		"| 2.00 | 400.0 | 0.50 | 0.12 | 0.10 |",         // ÷ kfake, ceiling, ÷ ceiling, ÷ loopback, ÷ disk
		"2 × Test CPU",
		"kfake partitions=64/acks=1/size=1KiB could not run: boom",
		"latest/throughput-acks-all.svg",
		"latest/latency-publish.svg",
		analysisBegin,
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("latest.md lacks %q:\n%s", want, md)
		}
	}
	for _, f := range []string{"throughput-acks-1.svg", "throughput-acks-all.svg", "latency-publish.svg", "latency-e2e.svg"} {
		b, err := os.ReadFile(filepath.Join(dir, "latest", f))
		if err != nil || !strings.Contains(string(b), "<svg") {
			t.Errorf("%s: %v (%d bytes)", f, err, len(b))
		}
	}

	// The hand-written analysis survives a regeneration.
	edited := strings.Replace(string(md), "_Not written yet for this run._", "The broker spends its time in pwrite.", 1)
	if err := os.WriteFile(filepath.Join(dir, "latest.md"), []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteReport(dir, "again.json", "latest.md"); err != nil {
		t.Fatal(err)
	}
	md2, _ := os.ReadFile(filepath.Join(dir, "latest.md"))
	if got := KeptAnalysis(string(md2)); got != "The broker spends its time in pwrite." {
		t.Errorf("kept analysis %q", got)
	}
}

func TestHeadlines(t *testing.T) {
	s := fakeSuite()
	// One cell at a quarter of the ceiling instead of a half: the geomean
	// of 0.5, 0.25 is √0.125.
	s.Find(TargetSluice, Cell{Partitions: 16, Acks: "all", MessageSize: 1024}).Sluice.PublishMBPerSec = 100
	hs := s.Headlines()
	if len(hs) != 3 || hs[2].Acks != "" || hs[2].Cells != 4 {
		t.Fatalf("%+v", hs)
	}
	all := hs[1]
	if all.Acks != "all" || math.Abs(all.VsCeiling-math.Sqrt(0.125)) > 1e-9 || all.BestMiBPerSec != 200 || all.BrokerCPUMedian != 1.25 {
		t.Errorf("acks=all headline %+v", all)
	}
	if hs[0].VsKfake != 2 {
		t.Errorf("acks=1 vs kfake %f", hs[0].VsKfake)
	}
}
