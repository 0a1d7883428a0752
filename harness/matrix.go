package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// A matrix is many short runs of one workload shape, varied along
// partitions × acks × message size, against one or more targets, with the
// machine's own limits measured in the same sitting (reference.go). `make
// bench` runs the standard matrix; its Suite is written as JSON (every run's
// OMB result), Markdown and SVG (suite_report.go, plot.go).

// Cell is one point of a matrix.
type Cell struct {
	Partitions  int  `json:"partitions"`
	Acks        Acks `json:"acks"`
	MessageSize int  `json:"messageSize"`
}

// String names the cell as benchstat-style key=value pairs.
func (c Cell) String() string {
	return fmt.Sprintf("partitions=%d/acks=%s/size=%s", c.Partitions, c.Acks, sizeName(c.MessageSize))
}

// sizeName prints 100 as "100B" and 1024 as "1KiB".
func sizeName(n int) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// CellOf is the cell a result was measured at.
func CellOf(r *Result) Cell {
	return Cell{Partitions: r.Partitions, Acks: Acks(r.Sluice.Settings.Acks), MessageSize: r.MessageSize}
}

// MatrixSpec is what a matrix varies and what it holds fixed.
type MatrixSpec struct {
	Partitions []int  `json:"partitions"`
	Acks       []Acks `json:"acks"`
	Sizes      []int  `json:"sizes"`

	Warmup   time.Duration `json:"warmup"`
	Duration time.Duration `json:"duration"`
	// Producers and Consumers per cell (one topic, one subscription).
	Producers int `json:"producers"`
	Consumers int `json:"consumers"`
	// ConsumerAssignment is the workloads' consumerAssignment. The
	// standard matrix uses direct: consumer groups are not required of a
	// broker to be measured.
	ConsumerAssignment string        `json:"consumerAssignment"`
	LingerMs           int           `json:"lingerMs"`
	DrainTimeout       time.Duration `json:"drainTimeout"`
}

// StandardMatrix is `make bench`'s: partitions {1, 4, 16, 64} × acks {0, 1,
// all} × sizes {100 B, 1 KiB}, one producer and one consumer, as fast as the
// producer can go. Durations are short so that the matrix against Sluice
// and the blackhole, and a subset against kfake, fit in about five minutes
// on two cores: each run also spends a second or two creating its topic,
// draining and checking millions of records.
func StandardMatrix() MatrixSpec {
	return MatrixSpec{
		Partitions:         []int{1, 4, 16, 64},
		Acks:               []Acks{"0", "1", "all"},
		Sizes:              []int{100, 1024},
		Warmup:             time.Second,
		Duration:           2 * time.Second,
		Producers:          1,
		Consumers:          1,
		ConsumerAssignment: AssignDirect,
		LingerMs:           1,
		DrainTimeout:       20 * time.Second,
	}
}

// Cells lists the matrix in run order: sizes, then acks, then partitions
// vary slowest to fastest.
func (m MatrixSpec) Cells() []Cell {
	var cs []Cell
	for _, size := range m.Sizes {
		for _, acks := range m.Acks {
			for _, p := range m.Partitions {
				cs = append(cs, Cell{Partitions: p, Acks: acks, MessageSize: size})
			}
		}
	}
	return cs
}

// Workload is the cell's workload, validated. Idempotence follows Kafka's
// default (on exactly with acks=all).
func (m MatrixSpec) Workload(c Cell) (*Workload, error) {
	w := &Workload{
		Name:                    "matrix-" + c.String(),
		Topics:                  1,
		PartitionsPerTopic:      c.Partitions,
		MessageSize:             c.MessageSize,
		ProducersPerTopic:       max(1, m.Producers),
		SubscriptionsPerTopic:   1,
		ConsumerPerSubscription: min(m.Consumers, c.Partitions),
		ConsumerAssignment:      m.ConsumerAssignment,
		Acks:                    c.Acks,
		LingerMs:                m.LingerMs,
		WarmupDuration:          m.Warmup,
		TestDuration:            m.Duration,
		DrainTimeout:            m.DrainTimeout,
	}
	if err := w.Validate(); err != nil {
		return nil, fmt.Errorf("matrix cell %s: %w", c, err)
	}
	return w, nil
}

// MatrixTarget is one target of a matrix: New makes a fresh Target for each
// run (a new broker, an empty data directory), Only limits the cells it runs
// (nil: every cell).
type MatrixTarget struct {
	Name string
	New  func() Target
	Only func(Cell) bool
}

// MatrixOptions present a matrix run; see Options.
type MatrixOptions struct {
	// Options for every run (Progress, Logf).
	Run Options
	// Report receives one line per finished run; nil is quiet.
	Report func(done, total int, r *Result)
	// Reference measures the machine before the runs when set.
	Reference *ReferenceSpec
}

// Suite is everything one matrix sitting measured; it is the JSON written to
// results/<date>-<commit>.json.
type Suite struct {
	Name           string     `json:"name"`
	Start          time.Time  `json:"start"`
	ElapsedSeconds float64    `json:"elapsedSeconds"`
	Commit         string     `json:"commit"`
	Dirty          bool       `json:"dirty"` // the tree had uncommitted changes
	Command        string     `json:"command"`
	Machine        Machine    `json:"machine"`
	Reference      *Reference `json:"reference,omitempty"`
	Spec           MatrixSpec `json:"spec"`
	Targets        []string   `json:"targets"`
	// Runs holds one OMB result per (target, cell) that ran, in run order.
	Runs []*Result `json:"runs"`
	// Failures are runs that could not be carried out at all.
	Failures []RunFailure `json:"failures,omitempty"`
}

// RunFailure is a run that returned no result.
type RunFailure struct {
	Target string `json:"target"`
	Cell   Cell   `json:"cell"`
	Error  string `json:"error"`
}

// RunMatrix measures the reference figures (if asked), then runs every cell
// against every target, interleaved cell by cell so that a machine whose
// speed drifts during the sitting (shared cores, page-cache writeback)
// affects every target alike. A run that fails to start is recorded and the
// matrix goes on; only a cancelled ctx stops it early.
func RunMatrix(ctx context.Context, name string, spec MatrixSpec, targets []MatrixTarget, opt MatrixOptions) (*Suite, error) {
	s := &Suite{Name: name, Start: time.Now(), Machine: ReadMachine(), Spec: spec}
	s.Commit, s.Dirty = GitCommit()
	for _, t := range targets {
		s.Targets = append(s.Targets, t.Name)
	}
	if opt.Reference != nil {
		ref, err := MeasureReference(ctx, *opt.Reference)
		if err != nil {
			return nil, fmt.Errorf("reference figures: %w", err)
		}
		s.Reference = ref
	}

	type job struct {
		t MatrixTarget
		c Cell
	}
	var jobs []job
	for _, c := range spec.Cells() {
		for _, t := range targets {
			if t.Only == nil || t.Only(c) {
				jobs = append(jobs, job{t, c})
			}
		}
	}
	for i, j := range jobs {
		if ctx.Err() != nil {
			break
		}
		w, err := spec.Workload(j.c)
		if err != nil {
			return nil, err
		}
		res, err := Run(ctx, w, j.t.New(), opt.Run)
		if err != nil {
			s.Failures = append(s.Failures, RunFailure{Target: j.t.Name, Cell: j.c, Error: err.Error()})
			if opt.Run.Logf != nil {
				opt.Run.Logf("[%d/%d] %s %s: %v", i+1, len(jobs), j.t.Name, j.c, err)
			}
			continue
		}
		res.Sluice.Target = j.t.Name
		res.Driver = j.t.Name
		s.Runs = append(s.Runs, res)
		if opt.Report != nil {
			opt.Report(i+1, len(jobs), res)
		}
	}
	s.ElapsedSeconds = time.Since(s.Start).Seconds()
	return s, ctx.Err()
}

// RunLine is one finished run in a line: target, cell, throughput, broker
// CPU per GiB, latencies and the verdict.
func RunLine(r *Result) string {
	e := &r.Sluice
	verdict := "PASS"
	if !e.Passed {
		verdict = "FAIL"
	}
	cpu := "broker cpu n/a"
	if e.Broker != nil {
		cpu = fmt.Sprintf("broker %.2f cpu-s/GiB", e.Broker.CPUSecondsPerGiB)
	} else if e.Harness != nil {
		cpu = fmt.Sprintf("process %.2f cpu-s/GiB", e.Harness.CPUSecondsPerGiB)
	}
	return fmt.Sprintf("%-9s %-34s %8.1f MiB/s  %s  publish p99 %7.2f ms  e2e p99 %7.2f ms  others %4.2f cores  %s",
		r.Sluice.Target, CellOf(r), e.PublishMBPerSec, cpu, e.PublishLatencyMs.P99, e.EndToEndLatencyMs.P99, e.OtherCPUCores, verdict)
}

// Find returns the suite's run of target at cell, or nil.
func (s *Suite) Find(target string, c Cell) *Result {
	for _, r := range s.Runs {
		if r.Sluice.Target == target && CellOf(r) == c {
			return r
		}
	}
	return nil
}

// WriteJSON writes the suite, indented, creating the directory.
func (s *Suite) WriteJSON(path string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode suite: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write suite: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write suite: %w", err)
	}
	return nil
}

// ReadSuite reads a suite written by WriteJSON.
func ReadSuite(path string) (*Suite, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read suite: %w", err)
	}
	var s Suite
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("read suite %s: %w", path, err)
	}
	return &s, nil
}
