package chaos

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sluicemq/sluice/harness"
)

// Report is one run: what was done, what was seen, the figures, and why it failed if it did.
type Report struct {
	Seed      uint64    `json:"seed"`
	Commit    string    `json:"commit"`
	Started   time.Time `json:"started"`
	Duration  string    `json:"duration"` // asked-for nemesis duration
	Elapsed   string    `json:"elapsed"`  // the whole run
	RaceBuild bool      `json:"raceBuild"`
	WriteMode string    `json:"writeMode,omitempty"` // log.write.mode ("": a report from before it was recorded, buffered)
	Command   string    `json:"command"`

	Events []Event        `json:"events"` // the faults as they ran
	Topics []TopicVerdict `json:"topics"`

	// NewLeaderMs: after each fault that took away a leader, the time until Metadata showed
	// every partition it led with another leader. NoNewLeader counts such faults whose
	// partitions had no new leader by the end of the hold.
	NewLeaderMs Figures `json:"newLeaderMs"`
	NoNewLeader int     `json:"noNewLeader"`
	// RecoveryMs: after each heal, the time until every partition had its full ISR again.
	RecoveryMs   Figures `json:"recoveryMs"`
	NotRecovered int     `json:"notRecovered"`

	Checks   []CheckResult `json:"checks"` // targeted checks: minority cannot ack, replicas converge
	Failures []string      `json:"failures,omitempty"`
	Notes    []string      `json:"notes,omitempty"`
}

// Event is one executed fault.
type Event struct {
	Step        Step      `json:"step"`
	Victim      int32     `json:"victim"`
	AtMs        int64     `json:"atMs"` // since the run began
	Led         []TP      `json:"led,omitempty"`
	NewLeaderMs int64     `json:"newLeaderMs"` // -1: none needed or none seen
	RecoveryMs  int64     `json:"recoveryMs"`  // -1: not recovered within the bound
	Acked       [2]uint64 `json:"acked"`       // acknowledged records (all producers) at the fault and at the heal
	Note        string    `json:"note,omitempty"`
}

// TopicVerdict is the checker's verdict on one topic's history.
type TopicVerdict struct {
	Topic      string          `json:"topic"`
	Idempotent bool            `json:"idempotent"`
	Verdict    harness.Verdict `json:"verdict"`
}

// CheckResult is one targeted check.
type CheckResult struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// Figures summarise samples in milliseconds.
type Figures struct {
	Samples int   `json:"samples"`
	P50     int64 `json:"p50"`
	Max     int64 `json:"max"`
}

func figures(samples []int64) Figures {
	if len(samples) == 0 {
		return Figures{}
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	return Figures{Samples: len(s), P50: s[(len(s)-1)/2], Max: s[len(s)-1]}
}

func (f Figures) String() string {
	if f.Samples == 0 {
		return "no samples"
	}
	return fmt.Sprintf("p50 %d ms, max %d ms (%d samples)", f.P50, f.Max, f.Samples)
}

// OK reports whether the run kept every promise.
func (r *Report) OK() bool { return len(r.Failures) == 0 }

// tableRows are the checker's counts, one row each, as Table prints them.
var tableRows = []struct {
	name string
	get  func(v harness.Verdict) int64
}{
	{"records sent", func(v harness.Verdict) int64 { return v.Sent }},
	{"acknowledged", func(v harness.Verdict) int64 { return v.Acknowledged }},
	{"send failed (not acknowledged)", func(v harness.Verdict) int64 { return v.SendFailed }},
	{"unresolved after the final flush", func(v harness.Verdict) int64 { return v.Unresolved }},
	{"acknowledged records lost (must be 0)", func(v harness.Verdict) int64 { return v.Lost }},
	{"reordered within a partition (must be 0)", func(v harness.Verdict) int64 { return v.Reordered }},
	{"duplicates (0 with idempotence)", func(v harness.Verdict) int64 { return v.Duplicates }},
	{"inconsistent offsets (must be 0)", func(v harness.Verdict) int64 { return v.InconsistentOffsets }},
	{"nonmonotonic acks (must be 0)", func(v harness.Verdict) int64 { return v.NonmonotonicAcks }},
	{"phantoms (must be 0)", func(v harness.Verdict) int64 { return v.Phantoms }},
	{"offset commits acknowledged", func(v harness.Verdict) int64 { return v.Commits }},
	{"committed offsets going backwards (must be 0)", func(v harness.Verdict) int64 { return v.CommitsBackwards }},
	{"read although not acknowledged (allowed)", func(v harness.Verdict) int64 { return v.UnackedConsumed }},
}

// Table is the figures as the end of a run prints them.
func (r *Report) Table() string {
	var b strings.Builder
	const nameWidth = 46
	fmt.Fprintf(&b, "%-*s", nameWidth, "figure")
	for _, t := range r.Topics {
		fmt.Fprintf(&b, " %20s", t.Topic)
	}
	fmt.Fprintf(&b, "\n%-*s", nameWidth, "")
	for _, t := range r.Topics {
		mode := "at-least-once"
		if t.Idempotent {
			mode = "idempotent"
		}
		fmt.Fprintf(&b, " %20s", mode)
	}
	b.WriteString("\n")
	for _, row := range tableRows {
		fmt.Fprintf(&b, "%-*s", nameWidth, row.name)
		for _, t := range r.Topics {
			fmt.Fprintf(&b, " %20d", row.get(t.Verdict))
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "%-*s %s; %d leader faults without a new leader within the hold\n", nameWidth, "time to a new leader", r.NewLeaderMs, r.NoNewLeader)
	fmt.Fprintf(&b, "%-*s %s; %d not recovered\n", nameWidth, "time to full ISR after healing", r.RecoveryMs, r.NotRecovered)
	for _, c := range r.Checks {
		verdict := "ok"
		if !c.OK {
			verdict = "FAILED"
		}
		fmt.Fprintf(&b, "%s: %s\n    %s\n", verdict, c.Name, c.Detail)
	}
	return b.String()
}

// Markdown is the human report: results/chaos.md.
func (r *Report) Markdown() string {
	var b strings.Builder
	b.WriteString("# Chaos run (`make chaos`)\n\n")
	status := "**passed**"
	if !r.OK() {
		status = "**FAILED**"
	}
	mode := r.WriteMode
	if mode == "" {
		mode = "buffered"
	}
	fmt.Fprintf(&b, "%s — seed %d, commit %s, started %s, nemesis for %s (whole run %s), race build %v, log.write.mode %s.\n\n",
		status, r.Seed, r.Commit, r.Started.UTC().Format(time.RFC3339), r.Duration, r.Elapsed, r.RaceBuild, mode)
	fmt.Fprintf(&b, "Reproduce: `%s`. The fault model and the checks are in chaos/doc.go.\n\n", r.Command)
	b.WriteString("```\n" + r.Table() + "```\n\n")
	if len(r.Failures) > 0 {
		b.WriteString("## Failures\n\n")
		for _, f := range r.Failures {
			fmt.Fprintf(&b, "- %s\n", f)
		}
		b.WriteString("\n")
	}
	for _, t := range r.Topics {
		if len(t.Verdict.Examples) > 0 {
			fmt.Fprintf(&b, "Examples (%s):\n\n", t.Topic)
			for _, e := range t.Verdict.Examples {
				fmt.Fprintf(&b, "- %s\n", e)
			}
			b.WriteString("\n")
		}
	}
	if len(r.Notes) > 0 {
		b.WriteString("## Notes\n\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
		b.WriteString("\n")
	}
	b.WriteString("## Faults\n\n| at | fault | victim | led | new leader | full ISR after heal | acked at fault → heal | note |\n|---|---|---|---|---|---|---|---|\n")
	for _, e := range r.Events {
		fmt.Fprintf(&b, "| %.1f s | %s | %d | %d | %s | %s | %d → %d | %s |\n", float64(e.AtMs)/1000,
			e.Step.Kind+cutSuffix(e.Step), e.Victim, len(e.Led), msOrDash(e.NewLeaderMs), msOrDash(e.RecoveryMs), e.Acked[0], e.Acked[1], e.Note)
	}
	return b.String()
}

func cutSuffix(s Step) string {
	if s.CutMode == "" {
		return ""
	}
	return " (" + s.CutMode + ")"
}

func msOrDash(ms int64) string {
	if ms < 0 {
		return "—"
	}
	return fmt.Sprintf("%d ms", ms)
}

// Write saves the report as dir/chaos.json and dir/chaos.md.
func (r *Report) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "chaos.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "chaos.md"), []byte(r.Markdown()), 0o644)
}
