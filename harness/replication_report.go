package harness

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// ReplicationReport is `sluicebench replication`'s result (results/
// replication-<date>-<commit>.json and results/replication.md): repeated
// matrices against a single node and a three-node cluster, and the failover
// measurement.
type ReplicationReport struct {
	Command        string          `json:"command"`
	ElapsedSeconds float64         `json:"elapsedSeconds"`
	Spec           MatrixSpec      `json:"spec"`
	Suites         []*Suite        `json:"suites"`
	Failover       *FailoverReport `json:"failover,omitempty"`
}

// replicationCell is one cell's medians over the repetitions, per target.
type replicationCell struct {
	cell                  Cell
	mib, p99, cpu         [2]float64 // [single node, cluster]
	runs                  [2]int
	failedChecks, missing int
}

func (r *ReplicationReport) cells() []replicationCell {
	var out []replicationCell
	for _, c := range r.Spec.Cells() {
		rc := replicationCell{cell: c}
		for i, target := range []string{TargetSluice, TargetCluster} {
			var mib, p99, cpu []float64
			for _, s := range r.Suites {
				res := s.Find(target, c)
				if res == nil {
					rc.missing++
					continue
				}
				rc.runs[i]++
				if !res.Sluice.Passed {
					rc.failedChecks++
				}
				mib = append(mib, mibps(res))
				p99 = append(p99, res.Sluice.PublishLatencyMs.P99)
				cpu = append(cpu, brokerCPU(res))
			}
			rc.mib[i], rc.p99[i], rc.cpu[i] = median(mib), median(p99), median(cpu)
		}
		out = append(out, rc)
	}
	return out
}

// Failed is true when a run failed the checker, a run could not be carried
// out, or the failover lost an acknowledged record.
func (r *ReplicationReport) Failed() bool {
	for _, c := range r.cells() {
		if c.failedChecks > 0 || c.missing > 0 {
			return true
		}
	}
	return r.Failover != nil && r.Failover.Lost > 0
}

// Markdown renders the report.
func (r *ReplicationReport) Markdown() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# Replication: one node (RF=1) vs three (RF=3, min.insync.replicas=2)\n\n")
	if len(r.Suites) > 0 {
		s := r.Suites[0]
		dirty := ""
		if s.Dirty {
			dirty = " (uncommitted changes)"
		}
		p("Measured %s at commit %s%s on %d CPUs (%s), %s. Command: `%s` (%d repetitions, %.0f s).\n\n",
			s.Start.Format(time.DateOnly), s.Commit, dirty, s.Machine.NProc, s.Machine.Model, s.Machine.GoVersion,
			r.Command, len(r.Suites), r.ElapsedSeconds)
	}
	p("Both targets are `sluice serve` processes on this machine's cores, beside the franz-go\n")
	p("clients (one producer, one consumer, %s records, %s measured after %s warmup per run);\n",
		sizeName(firstOr(r.Spec.Sizes, 0)), r.Spec.Duration, r.Spec.Warmup)
	p("the cluster's three brokers share those cores, so the ratio is what replication costs on the\n")
	p("same hardware — three copies written, two followers fetching — not a cluster's scale-out.\n")
	p("Figures are medians over the repetitions; broker CPU is summed over the cluster's processes.\n\n")
	p("| partitions | acks | RF=1 MiB/s | RF=3 MiB/s | RF=3 ÷ RF=1 | RF=1 publish p99 ms | RF=3 publish p99 ms | RF=1 broker CPU-s/GiB | RF=3 broker CPU-s/GiB | checker |\n")
	p("|---:|:---:|---:|---:|---:|---:|---:|---:|---:|:---|\n")
	for _, c := range r.cells() {
		verdict := "pass"
		if c.failedChecks > 0 {
			verdict = fmt.Sprintf("**%d runs FAILED**", c.failedChecks)
		}
		if c.missing > 0 {
			verdict += fmt.Sprintf(", %d runs missing", c.missing)
		}
		p("| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", c.cell.Partitions, c.cell.Acks,
			num(c.mib[0], 1), num(c.mib[1], 1), num(ratio(c.mib[1], c.mib[0]), 2),
			num(c.p99[0], 2), num(c.p99[1], 2), num(c.cpu[0], 2), num(c.cpu[1], 2), verdict)
	}
	for _, s := range r.Suites {
		for _, f := range s.Failures {
			p("\n- %s %s could not run: %s", f.Target, f.Cell, firstLine(f.Error))
		}
	}
	if fo := r.Failover; fo != nil {
		p("\n## Failover: kill -9 the partition leader under an acks=all, idempotent producer\n\n")
		p("%d kills, one record every %s to partition 0; the victim restarts and rejoins the ISR\n", fo.Spec.Kills, fo.Spec.Interval)
		p("before the next kill. *New leader*: kill → Metadata names another leader (the controller\n")
		p("fences the dead broker after broker.session.timeout.ms, then elects from the ISR). *Write\n")
		p("stall*: kill → the first acknowledgement of a record sent after the kill.\n\n")
		p("| | p50 ms | max ms |\n|---|---:|---:|\n")
		p("| new leader | %.0f | %.0f |\n| write stall | %.0f | %.0f |\n\n", fo.NewLeaderMs.P50, fo.NewLeaderMs.Max, fo.WriteStallMs.P50, fo.WriteStallMs.Max)
		p("| kill | victim | was controller | new leader | new leader ms | write stall ms | rejoined ISR ms after restart |\n|---:|---:|:---:|---:|---:|---:|---:|\n")
		for i, s := range fo.Samples {
			p("| %d | %d | %v | %d | %.0f | %.0f | %.0f |\n", i+1, s.Victim, s.WasController, s.NewLeader, s.NewLeaderMs, s.WriteStallMs, s.RejoinedISRInMs)
		}
		p("\nRead back: %d acknowledged, %d lost, %d duplicates, %d sends failed.\n", fo.Acknowledged, fo.Lost, fo.Duplicates, fo.SendFailed)
	}
	return b.String()
}

func firstOr(xs []int, d int) int {
	if len(xs) == 0 {
		return d
	}
	return xs[0]
}

// num prints x with prec decimals, or "n/a" for NaN.
func num(x float64, prec int) string {
	if math.IsNaN(x) {
		return "n/a"
	}
	return fmt.Sprintf("%.*f", prec, x)
}
