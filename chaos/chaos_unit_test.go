package chaos

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sluicemq/sluice/engine/record"
	"github.com/sluicemq/sluice/harness"
)

// The same seed gives the same plan; every step is well formed.
func TestSchedule(t *testing.T) {
	a, b := Schedule(7, 200, 6), Schedule(7, 200, 6)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("one seed, two schedules")
	}
	if reflect.DeepEqual(a, Schedule(8, 200, 6)) {
		t.Fatal("seeds 7 and 8 gave the same schedule")
	}
	kinds := map[string]int{}
	for i, s := range a {
		kinds[s.Kind]++
		if s.HoldMs < holdMsMin || s.HoldMs > holdMsMax || s.QuietMs < quietMsMin || s.QuietMs > quietMsMax {
			t.Errorf("step %d: %v outside the bounds", i, s)
		}
		if (s.LeaderOf < 0) == (s.Node == 0) || s.LeaderOf >= 6 || s.Node < 0 || s.Node > nodes {
			t.Errorf("step %d: victim %v ill-formed", i, s)
		}
		if (s.Kind == FaultCut) != (s.CutMode != "") {
			t.Errorf("step %d: cut mode %q on %s", i, s.CutMode, s.Kind)
		}
	}
	for _, k := range []string{FaultKill, FaultPause, FaultCut, FaultRestart} {
		if kinds[k] == 0 {
			t.Errorf("200 steps without a %s", k)
		}
	}
}

// writeSegment writes batches of values at consecutive offsets as one segment file.
func writeSegment(t *testing.T, dir string, epoch int32, values ...string) []byte {
	t.Helper()
	var seg []byte
	for i, v := range values {
		seg = record.AppendBatch(seg, record.BatchSpec{BaseOffset: int64(i), LeaderEpoch: epoch, ProducerID: -1,
			ProducerEpoch: -1, BaseSequence: -1}, []record.Record{{Value: []byte(v)}})
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "00000000000000000000.log"), seg, 0o644); err != nil {
		t.Fatal(err)
	}
	return seg
}

// ReadLog returns each batch's position, epoch and values, and stops at a torn or corrupt tail.
func TestReadLog(t *testing.T) {
	dir := t.TempDir()
	seg := writeSegment(t, dir, 3, "a", "b", "c")
	l, err := ReadLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(l) != 3 || l[2].BaseOffset != 2 || l[2].LastOffset != 2 || l[2].LeaderEpoch != 3 || string(l[1].Values[0]) != "b" {
		t.Fatalf("got %+v", l)
	}
	// A torn last batch, then a flipped byte in the second: the log ends before each.
	os.WriteFile(filepath.Join(dir, "00000000000000000000.log"), seg[:len(seg)-3], 0o644)
	if l, _ := ReadLog(dir); len(l) != 2 {
		t.Errorf("torn tail: %d batches, want 2", len(l))
	}
	seg[len(seg)/2] ^= 0xff
	os.WriteFile(filepath.Join(dir, "00000000000000000000.log"), seg, 0o644)
	if l, _ := ReadLog(dir); len(l) != 1 {
		t.Errorf("corrupt second batch: %d batches, want 1", len(l))
	}
}

// Replicas agree below the high watermark or the first difference is named; what lies at or
// above it is not compared.
func TestDivergence(t *testing.T) {
	read := func(epoch int32, values ...string) []StoredBatch {
		dir := t.TempDir()
		writeSegment(t, dir, epoch, values...)
		l, err := ReadLog(dir)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	same := map[int32][]StoredBatch{1: read(1, "a", "b"), 2: read(1, "a", "b", "x"), 3: read(1, "a", "b")}
	if d := Divergence(2, same); d != "" {
		t.Errorf("equal below the high watermark: %s", d)
	}
	if d := Divergence(3, same); !strings.Contains(d, "node 1 has 2 batches, node 2 has 3") && !strings.Contains(d, "only up to 1") {
		t.Errorf("a missing batch below the high watermark: %q", d)
	}
	diverged := map[int32][]StoredBatch{1: read(1, "a", "b"), 2: read(1, "a", "z")}
	if d := Divergence(2, diverged); !strings.Contains(d, "batch 1: node 1") {
		t.Errorf("a different record: %q", d)
	}
	epochs := map[int32][]StoredBatch{1: read(1, "a"), 2: read(2, "a")}
	if d := Divergence(1, epochs); !strings.Contains(d, "epoch") {
		t.Errorf("a different leader epoch: %q", d)
	}
}

func TestFigures(t *testing.T) {
	if f := figures([]int64{900, 100, 300, 200}); f != (Figures{Samples: 4, P50: 200, Max: 900}) {
		t.Errorf("got %+v", f)
	}
	if f := figures(nil); f.Samples != 0 || f.String() != "no samples" {
		t.Errorf("no samples: %+v %q", f, f.String())
	}
}

// A report names its status, its figures and its failures, and writes both files.
func TestReportWrite(t *testing.T) {
	r := &Report{Seed: 9, Command: "make chaos CHAOS_SEED=9",
		Topics:   []TopicVerdict{{Topic: "t", Idempotent: true, Verdict: harness.Verdict{Sent: 5, Lost: 1}}},
		Checks:   []CheckResult{{Name: "minority cannot acknowledge acks=all", OK: true, Detail: "refused"}},
		Events:   []Event{{Step: Step{Kind: FaultCut, CutMode: CutRefuse}, Victim: 2, NewLeaderMs: -1, RecoveryMs: 40}},
		Failures: []string{"t: 1 acknowledged records lost"}}
	dir := t.TempDir()
	if err := r.Write(dir); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "chaos.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"**FAILED** — seed 9", "make chaos CHAOS_SEED=9", "acknowledged records lost (must be 0)",
		"- t: 1 acknowledged records lost", "| cut (refuse) | 2 | 0 | — | 40 ms |", "ok: minority cannot acknowledge"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("chaos.md lacks %q:\n%s", want, md)
		}
	}
	js, err := os.ReadFile(filepath.Join(dir, "chaos.json"))
	if err != nil || !strings.Contains(string(js), `"seed": 9`) || !strings.Contains(string(js), `"lost": 1`) {
		t.Errorf("chaos.json: %v\n%s", err, js)
	}
}
