package harness

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// How a suite reads: a table per cell with Sluice's throughput beside the
// same cell against kfake and against the blackhole (the client-side
// ceiling), as fractions of those and of the machine's loopback and disk
// bandwidth, with CPU seconds per GiB beside every throughput.

// Target names a matrix uses; the report compares "sluice" with the others.
const (
	TargetSluice    = "sluice"
	TargetKfake     = "kfake"
	TargetBlackhole = "blackhole"
)

// cellRow is one cell's figures across targets.
type cellRow struct {
	cell              Cell
	sluice, kfake, bh *Result
}

func (s *Suite) rows() []cellRow {
	var rows []cellRow
	for _, c := range s.Spec.Cells() {
		r := cellRow{cell: c, sluice: s.Find(TargetSluice, c), kfake: s.Find(TargetKfake, c), bh: s.Find(TargetBlackhole, c)}
		if r.sluice != nil || r.kfake != nil || r.bh != nil {
			rows = append(rows, r)
		}
	}
	return rows
}

// brokerCPU is the broker process's CPU-s/GiB, or NaN when unknown.
func brokerCPU(r *Result) float64 {
	if r == nil || r.Sluice.Broker == nil {
		return math.NaN()
	}
	return r.Sluice.Broker.CPUSecondsPerGiB
}

// totalCPU is every process's CPU-s/GiB: clients and broker, whether the
// broker is a process of its own or inside the harness.
func totalCPU(r *Result) float64 {
	if r == nil || r.Sluice.Harness == nil {
		return math.NaN()
	}
	t := r.Sluice.Harness.CPUSecondsPerGiB
	if r.Sluice.Broker != nil {
		t += r.Sluice.Broker.CPUSecondsPerGiB
	}
	return t
}

func mibps(r *Result) float64 {
	if r == nil {
		return math.NaN()
	}
	return r.Sluice.PublishMBPerSec
}

func ratio(a, b float64) float64 {
	if b == 0 || math.IsNaN(a) || math.IsNaN(b) {
		return math.NaN()
	}
	return a / b
}

// f formats a figure with prec decimals, "–" when unknown.
func f(x float64, prec int) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "–"
	}
	return fmt.Sprintf("%.*f", prec, x)
}

func verdict(r *Result) string {
	switch {
	case r == nil:
		return "–"
	case r.Sluice.Passed:
		return "ok"
	}
	return "FAIL"
}

// Table is the suite as plain text for a terminal.
func (s *Suite) Table() string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "size\tacks\tparts\tsluice MiB/s\tbroker cpu-s/GiB\tpub p99 ms\te2e p99 ms\tcheck\tkfake MiB/s\t÷kfake\tceiling MiB/s\t÷ceiling\t÷loopback\t÷disk\t")
	for _, r := range s.rows() {
		sl := mibps(r.sluice)
		var p99, e2e float64 = math.NaN(), math.NaN()
		if r.sluice != nil {
			p99, e2e = r.sluice.Sluice.PublishLatencyMs.P99, r.sluice.Sluice.EndToEndLatencyMs.P99
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
			sizeName(r.cell.MessageSize), r.cell.Acks, r.cell.Partitions,
			f(sl, 1), f(brokerCPU(r.sluice), 2), f(p99, 2), f(e2e, 2), verdict(r.sluice),
			f(mibps(r.kfake), 1), f(ratio(sl, mibps(r.kfake)), 2),
			f(mibps(r.bh), 1), f(ratio(sl, mibps(r.bh)), 2),
			f(ratio(sl, s.loopback()), 2), f(ratio(sl, s.disk()), 2))
	}
	_ = tw.Flush()
	return b.String()
}

func (s *Suite) loopback() float64 {
	if s.Reference == nil {
		return math.NaN()
	}
	return s.Reference.LoopbackMiBPerSec
}

func (s *Suite) disk() float64 {
	if s.Reference == nil {
		return math.NaN()
	}
	return s.Reference.DiskWriteMiBPerSec
}

// geomean of the finite, positive xs; NaN when there are none.
func geomean(xs []float64) float64 {
	var sum float64
	n := 0
	for _, x := range xs {
		if x > 0 && !math.IsInf(x, 0) && !math.IsNaN(x) {
			sum += math.Log(x)
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return math.Exp(sum / float64(n))
}

func median(xs []float64) float64 {
	var v []float64
	for _, x := range xs {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return math.NaN()
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// Headline is one ack mode's summary over the matrix.
type Headline struct {
	Acks                Acks
	Cells               int
	VsCeiling, VsKfake  float64 // geometric means of the per-cell ratios
	BestMiBPerSec       float64
	BestCell            Cell
	BrokerCPUMedian     float64 // CPU-s/GiB
	Failed              int     // cells whose run failed the checker
	KfakeTotalCPUMedian float64 // kfake's process, clients included
	SluiceTotalCPU      float64 // sluice's broker + clients, median
}

// Headlines summarises the suite per ack mode, then over all cells (Acks "").
func (s *Suite) Headlines() []Headline {
	var hs []Headline
	for _, acks := range append(slices.Clone(s.Spec.Acks), "") {
		h := Headline{Acks: acks}
		var vsB, vsK, cpu, kcpu, scpu []float64
		for _, r := range s.rows() {
			if acks != "" && r.cell.Acks != acks || r.sluice == nil {
				continue
			}
			h.Cells++
			sl := mibps(r.sluice)
			vsB = append(vsB, ratio(sl, mibps(r.bh)))
			vsK = append(vsK, ratio(sl, mibps(r.kfake)))
			cpu = append(cpu, brokerCPU(r.sluice))
			scpu = append(scpu, totalCPU(r.sluice))
			kcpu = append(kcpu, totalCPU(r.kfake))
			if sl > h.BestMiBPerSec {
				h.BestMiBPerSec, h.BestCell = sl, r.cell
			}
			if !r.sluice.Sluice.Passed {
				h.Failed++
			}
		}
		h.VsCeiling, h.VsKfake = geomean(vsB), geomean(vsK)
		h.BrokerCPUMedian, h.KfakeTotalCPUMedian, h.SluiceTotalCPU = median(cpu), median(kcpu), median(scpu)
		hs = append(hs, h)
	}
	return hs
}

// Analysis markers: the text between them in an existing latest.md is
// written by hand and carried over when the file is regenerated.
const (
	analysisBegin = "<!-- analysis:begin (hand-written; kept when make bench regenerates this file) -->"
	analysisEnd   = "<!-- analysis:end -->"
)

// KeptAnalysis returns the hand-written analysis in an existing report, or
// "" if there is none.
func KeptAnalysis(markdown string) string {
	_, rest, ok := strings.Cut(markdown, analysisBegin)
	if !ok {
		return ""
	}
	text, _, ok := strings.Cut(rest, analysisEnd)
	if !ok {
		return ""
	}
	return strings.TrimSpace(text)
}

// Markdown renders the suite. jsonName is the results file it came from,
// plots are chart paths relative to the Markdown file, analysis is the
// hand-written section (KeptAnalysis).
func (s *Suite) Markdown(jsonName string, plots []string, analysis string) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	dirty := ""
	if s.Dirty {
		dirty = " plus uncommitted changes"
	}
	p("# Benchmark matrix: latest run\n\n")
	p("%s, commit %s%s. `%s` took %s; every run's OMB result is in [%s](%s).\n\n",
		s.Start.Format("2006-01-02 15:04 MST"), s.Commit, dirty, s.Command,
		(time.Duration(s.ElapsedSeconds) * time.Second).String(), jsonName, jsonName)
	p("**Machine:** %s.\n\n", s.Machine)
	if ref := s.Reference; ref != nil {
		p("**Reference figures, measured in the same sitting:** sequential write of %s in 1 MiB blocks %.0f MiB/s into the page cache (%.0f MiB/s including the fsync); one loopback TCP stream %.0f MiB/s at %.2f CPU-s/GiB (both ends).\n\n",
			sizeName(int(ref.DiskBytes)), ref.DiskWriteMiBPerSec, ref.DiskWriteFsyncMiBPerSec, ref.LoopbackMiBPerSec, ref.LoopbackCPUSecondsPerGiB)
	}
	sp := s.Spec
	p("**Workload per cell:** one topic, %d producer (franz-go, linger %d ms, idempotent exactly with acks=all), ", max(1, sp.Producers), sp.LingerMs)
	if sp.Consumers > 0 {
		p("%d consumer (%s assignment, reading from offset 0 while the producer writes), ", sp.Consumers, sp.ConsumerAssignment)
	}
	p("as fast as the producer goes: %s warmup, %s measured. Targets: %s.\n\n", sp.Warmup, sp.Duration, strings.Join(s.Targets, ", "))
	p("- **sluice**: `sluice serve` as its own process (data in a temporary directory on the same disk as the write test); its CPU and RSS come from /proc/PID.\n")
	p("- **kfake**: franz-go's in-process fake broker with a data directory — a reference implementation in the same process as the clients, so only its total CPU (clients + broker) is known.\n")
	p("- **blackhole** (the client-side ceiling): kfake acknowledging Produce without storing; producer only. What one franz-go producer can push on this machine. The sluice and kfake runs also carry a consumer, so their ratios to it are conservative.\n\n")

	p("## Headline\n\n")
	p("| acks | cells | Sluice ÷ ceiling (geomean) | Sluice ÷ kfake (geomean) | best Sluice MiB/s (cell) | broker CPU-s/GiB (median) | all CPU-s/GiB: Sluice / kfake (median) | failed checks |\n")
	p("|---|---|---|---|---|---|---|---|\n")
	for _, h := range s.Headlines() {
		acks := string(h.Acks)
		if acks == "" {
			acks = "**every cell**"
		}
		p("| %s | %d | %s | %s | %s (%s) | %s | %s / %s | %d |\n", acks, h.Cells, f(h.VsCeiling, 2), f(h.VsKfake, 2),
			f(h.BestMiBPerSec, 1), h.BestCell, f(h.BrokerCPUMedian, 2), f(h.SluiceTotalCPU, 2), f(h.KfakeTotalCPUMedian, 2), h.Failed)
	}

	p("\n## Matrix\n\n")
	p("MiB/s is published (acknowledged) bytes over the measured window. CPU-s/GiB divides CPU seconds in the window by GiB published: *broker* is the `sluice serve` process alone, *all* is every process (clients + broker). p99s are publish (send → acknowledgement; with acks=0, send → written to the socket) and end to end (send → consumed). *check* is the correctness checker: every acknowledged record consumed, in order, without duplicates under idempotence. *others' cores* is the CPU every other process on the machine used during each run's window (Sluice / kfake / ceiling), in cores of the %d: above zero, the figures shared the machine.\n\n", s.Machine.NProc)
	p("| size | acks | partitions | Sluice MiB/s | broker CPU-s/GiB | all CPU-s/GiB | publish p99 ms | e2e p99 ms | check | kfake MiB/s | kfake all CPU-s/GiB | ÷ kfake | ceiling MiB/s | ÷ ceiling | ÷ loopback | ÷ disk | others' cores |\n")
	p("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range s.rows() {
		sl := mibps(r.sluice)
		var p99, e2e float64 = math.NaN(), math.NaN()
		if r.sluice != nil {
			p99, e2e = r.sluice.Sluice.PublishLatencyMs.P99, r.sluice.Sluice.EndToEndLatencyMs.P99
		}
		p("| %s | %s | %d | **%s** | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			sizeName(r.cell.MessageSize), r.cell.Acks, r.cell.Partitions,
			f(sl, 1), f(brokerCPU(r.sluice), 2), f(totalCPU(r.sluice), 2), f(p99, 2), f(e2e, 2), verdict(r.sluice),
			f(mibps(r.kfake), 1), f(totalCPU(r.kfake), 2), f(ratio(sl, mibps(r.kfake)), 2),
			f(mibps(r.bh), 1), f(ratio(sl, mibps(r.bh)), 2),
			f(ratio(sl, s.loopback()), 2), f(ratio(sl, s.disk()), 2), loads(r))
	}

	if len(plots) > 0 {
		p("\n## Plots\n\n")
		for _, pl := range plots {
			p("![%s](%s)\n\n", strings.TrimSuffix(filepath.Base(pl), ".svg"), pl)
		}
	}

	var problems []string
	for _, fl := range s.Failures {
		problems = append(problems, fmt.Sprintf("%s %s could not run: %s", fl.Target, fl.Cell, firstLine(fl.Error)))
	}
	for _, r := range s.Runs {
		e := &r.Sluice
		if !e.Passed {
			problems = append(problems, fmt.Sprintf("%s %s FAILED the checker: %s", e.Target, CellOf(r), strings.Join(e.Correctness.Failures, "; ")))
		}
		if e.Settings.ConsumerPerSubscription > 0 && e.Correctness.ConsumeChecked && !e.DrainComplete {
			problems = append(problems, fmt.Sprintf("%s %s: consumers had not caught up when the drain timed out", e.Target, CellOf(r)))
		}
		if e.PublishErrors > 0 {
			problems = append(problems, fmt.Sprintf("%s %s: %d publish errors (first: %s)", e.Target, CellOf(r), e.PublishErrors, e.FirstPublishError))
		}
	}
	p("\n## Failures and anomalies\n\n")
	if len(problems) == 0 {
		p("None: every run completed and passed the checker.\n")
	}
	for _, pr := range problems {
		p("- %s\n", pr)
	}

	p("\n## Analysis\n\n%s\n", analysisBegin)
	if analysis == "" {
		analysis = "_Not written yet for this run._"
	}
	p("%s\n%s\n", analysis, analysisEnd)
	return b.String()
}

// loads is the CPU other processes used during each target's run of a cell
// (sluice / kfake / blackhole), in cores.
func loads(r cellRow) string {
	var ls []string
	for _, x := range []*Result{r.sluice, r.kfake, r.bh} {
		if x != nil {
			ls = append(ls, fmt.Sprintf("%.1f", x.Sluice.OtherCPUCores))
		} else {
			ls = append(ls, "–")
		}
	}
	return strings.Join(ls, " / ")
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// WriteReport writes the suite into dir as <date>-<commit>.json (or
// jsonName when set), latest.md, and the charts under latest/, keeping the
// hand-written analysis of the latest.md it replaces. It returns the JSON
// path.
func (s *Suite) WriteReport(dir, jsonName, mdName string) (string, error) {
	if jsonName == "" {
		jsonName = fmt.Sprintf("%s-%s.json", s.Start.Format("2006-01-02"), s.Commit)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	jsonPath := filepath.Join(dir, jsonName)
	if err := s.WriteJSON(jsonPath); err != nil {
		return "", err
	}
	plotDir := strings.TrimSuffix(mdName, ".md")
	if err := os.MkdirAll(filepath.Join(dir, plotDir), 0o755); err != nil {
		return "", err
	}
	files, err := s.WritePlots(filepath.Join(dir, plotDir))
	if err != nil {
		return "", err
	}
	for i := range files {
		files[i] = plotDir + "/" + files[i]
	}
	mdPath := filepath.Join(dir, mdName)
	var kept string
	if old, err := os.ReadFile(mdPath); err == nil {
		kept = KeptAnalysis(string(old))
	}
	if err := os.WriteFile(mdPath, []byte(s.Markdown(jsonName, files, kept)), 0o644); err != nil {
		return "", err
	}
	return jsonPath, nil
}
