package harness

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Regression checking (`make bench-check`), in benchstat's manner: every
// benchmark is run several times, each side is summarised by its median and
// the spread of its samples around it (the noise band), and a difference
// counts only when a Mann-Whitney U test says the two sets of samples differ
// and the medians are further apart than the two bands together (the
// intervals do not overlap) and a floor. The baseline is a committed file
// (results/baseline.json, recorded over more than one sitting so that its
// band includes the sitting-to-sitting drift of a shared machine) or, in
// CI, the base branch measured on the same runner just before.

// Samples maps a benchmark name to its metrics, each a list of repeated
// measurements: "engine/log:Append/batch=16KiB/fsync=none" → "ns/op" →
// [11234, 11502, ...].
type Samples map[string]map[string][]float64

// Add appends one measurement.
func (s Samples) Add(name, unit string, v float64) {
	m := s[name]
	if m == nil {
		m = map[string][]float64{}
		s[name] = m
	}
	m[unit] = append(m[unit], v)
}

// Merge adds every measurement of o.
func (s Samples) Merge(o Samples) {
	for name, units := range o {
		for unit, vs := range units {
			for _, v := range vs {
				s.Add(name, unit, v)
			}
		}
	}
}

// ParseGoBench reads `go test -bench` output. Names are prefixed with the
// package path relative to module (from the "pkg:" lines) and lose their
// -GOMAXPROCS suffix; every "value unit" pair on a line is a metric.
func ParseGoBench(r io.Reader, module string) (Samples, error) {
	s := Samples{}
	pkg := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(p), module), "/")
			continue
		}
		if !strings.HasPrefix(line, "Benchmark") {
			continue
		}
		fields := strings.Fields(line)
		// Name, iterations, then value-unit pairs.
		if len(fields) < 4 || len(fields)%2 != 0 {
			continue
		}
		if _, err := strconv.ParseInt(fields[1], 10, 64); err != nil {
			continue
		}
		name := strings.TrimPrefix(fields[0], "Benchmark")
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		if pkg != "" {
			name = pkg + ":" + name
		}
		for i := 2; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				return nil, fmt.Errorf("benchmark line %q: value %q: %w", line, fields[i], err)
			}
			s.Add(name, fields[i+1], v)
		}
	}
	return s, sc.Err()
}

// MatrixSamples turns matrix runs into samples: each run's per-second
// publish throughput ("MiB/s"), and its broker CPU per GiB as one sample
// ("broker-cpu-s/GiB", reported but too few to judge).
func MatrixSamples(s *Suite) Samples {
	out := Samples{}
	for _, r := range s.Runs {
		name := "matrix:" + r.Sluice.Target + "/" + CellOf(r).String()
		for _, v := range r.Sluice.PublishMBPerSecSeries {
			out.Add(name, "MiB/s", v)
		}
		if b := r.Sluice.Broker; b != nil {
			out.Add(name, "broker-cpu-s/GiB", b.CPUSecondsPerGiB)
		}
	}
	return out
}

// Baseline is a committed set of samples and where they were measured.
type Baseline struct {
	Created time.Time `json:"created"`
	// Sittings is how many separate recordings the samples merge.
	Sittings int     `json:"sittings"`
	Commit   string  `json:"commit"`
	Dirty    bool    `json:"dirty"`
	Machine  Machine `json:"machine"`
	Command  string  `json:"command"`
	Samples  Samples `json:"samples"`
}

// WriteBaseline writes b as indented JSON.
func (b *Baseline) Write(path string) error {
	data, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

// ReadBaseline reads a file written by Write.
func ReadBaseline(path string) (*Baseline, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	var b Baseline
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("baseline %s: %w", path, err)
	}
	return &b, nil
}

// Summary is one side of a comparison.
type Summary struct {
	N      int     `json:"n"`
	Median float64 `json:"median"`
	// Noise is the largest relative distance of a sample from the median:
	// benchstat's "±". With n ≥ 5 it is also (about) the 95 % confidence
	// interval of the median.
	Noise float64 `json:"noise"`
}

// Summarize computes a Summary of xs.
func Summarize(xs []float64) Summary {
	s := Summary{N: len(xs), Median: median(xs)}
	if s.N == 0 {
		return s
	}
	for _, x := range xs {
		if s.Median != 0 {
			s.Noise = max(s.Noise, math.Abs(x-s.Median)/math.Abs(s.Median))
		} else if x != 0 {
			s.Noise = math.Inf(1)
		}
	}
	return s
}

// Verdicts of a comparison.
const (
	Regressed = "regressed"
	Improved  = "improved"
	Same      = "~"           // no difference beyond the noise
	TooFew    = "too few"     // fewer than CompareOptions.MinSamples on a side
	OnlyOne   = "not in both" // a benchmark or metric on one side only
)

// Comparison is one metric of one benchmark, baseline against current.
type Comparison struct {
	Name, Unit string
	Base, Cur  Summary
	// Delta is (current − baseline) / baseline of the medians.
	Delta float64
	// P is the Mann-Whitney U test's two-sided p-value.
	P       float64
	Verdict string
}

// CompareOptions are the thresholds of a comparison.
type CompareOptions struct {
	// Alpha is the significance level of the U test (benchstat's 0.05).
	Alpha float64
	// MinSamples on each side for a verdict (benchstat: 4 for a 0.05 test).
	MinSamples int
	// MinDelta is the smallest relative change reported as a regression,
	// however quiet both sides are; 0 means any.
	MinDelta float64
	// MinDeltaMatrix is MinDelta for end-to-end matrix figures ("matrix:"
	// names): clients, broker and kernel share two cores there, and the
	// per-second samples of one run understate how much a whole run moves
	// from one sitting to the next.
	MinDeltaMatrix float64
}

// DefaultCompareOptions are benchstat's significance level and sample
// count, a 10 % floor for go benchmarks and 15 % for the matrix. Measured
// on the shared 2-core VM: the same code compared with a two-sitting
// baseline moved up to 8 % in a go benchmark (outside both noise bands,
// p < 0.01) and 58 % in a matrix cell; a smaller floor fails builds on noise.
var DefaultCompareOptions = CompareOptions{Alpha: 0.05, MinSamples: 4, MinDelta: 0.10, MinDeltaMatrix: 0.15}

// HigherIsBetter reports whether a larger value of unit is an improvement.
func HigherIsBetter(unit string) bool {
	return strings.HasSuffix(unit, "/s") || unit == "x"
}

// Compare compares every metric found on either side, in name order.
func Compare(base, cur Samples, opt CompareOptions) []Comparison {
	names := map[string]bool{}
	for n := range base {
		names[n] = true
	}
	for n := range cur {
		names[n] = true
	}
	var out []Comparison
	for _, name := range slices.Sorted(maps.Keys(names)) {
		units := map[string]bool{}
		for u := range base[name] {
			units[u] = true
		}
		for u := range cur[name] {
			units[u] = true
		}
		for _, unit := range slices.Sorted(maps.Keys(units)) {
			out = append(out, compareOne(name, unit, base[name][unit], cur[name][unit], opt))
		}
	}
	return out
}

func compareOne(name, unit string, base, cur []float64, opt CompareOptions) Comparison {
	c := Comparison{Name: name, Unit: unit, Base: Summarize(base), Cur: Summarize(cur), P: 1, Delta: math.NaN()}
	switch {
	case len(base) == 0 || len(cur) == 0:
		c.Verdict = OnlyOne
		return c
	case c.Base.Median != 0:
		c.Delta = (c.Cur.Median - c.Base.Median) / math.Abs(c.Base.Median)
	case c.Cur.Median == 0:
		c.Delta = 0
	default:
		c.Delta = math.Inf(1)
	}
	if len(base) < opt.MinSamples || len(cur) < opt.MinSamples {
		c.Verdict = TooFew
		return c
	}
	c.P = MannWhitneyP(base, cur)
	// The two noise bands added: a difference counts only when the two
	// sides' intervals around their medians do not overlap.
	floor := opt.MinDelta
	if strings.HasPrefix(name, "matrix:") {
		floor = opt.MinDeltaMatrix
	}
	band := max(c.Base.Noise+c.Cur.Noise, floor)
	worse := c.Delta > 0
	if HigherIsBetter(unit) {
		worse = c.Delta < 0
	}
	switch {
	case c.P >= opt.Alpha || math.Abs(c.Delta) <= band:
		c.Verdict = Same
	case worse:
		c.Verdict = Regressed
	default:
		c.Verdict = Improved
	}
	return c
}

// MannWhitneyP is the two-sided p-value of the Mann-Whitney U test that xs
// and ys come from one distribution, by the normal approximation with tie
// and continuity corrections. For 5 samples a side its smallest value is
// about 0.01 (exact: 0.008), so a 0.05 test can fire. 1 when every sample is
// equal.
func MannWhitneyP(xs, ys []float64) float64 {
	n1, n2 := float64(len(xs)), float64(len(ys))
	if n1 == 0 || n2 == 0 {
		return 1
	}
	type obs struct {
		v    float64
		isX  bool
		rank float64
	}
	all := make([]obs, 0, len(xs)+len(ys))
	for _, x := range xs {
		all = append(all, obs{v: x, isX: true})
	}
	for _, y := range ys {
		all = append(all, obs{v: y})
	}
	slices.SortFunc(all, func(a, b obs) int { return cmpFloat(a.v, b.v) })
	// Midranks for ties; tieTerm sums t³−t over tie groups.
	var tieTerm float64
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].v == all[i].v {
			j++
		}
		r := float64(i+j+1) / 2 // ranks i+1..j averaged
		for k := i; k < j; k++ {
			all[k].rank = r
		}
		t := float64(j - i)
		tieTerm += t*t*t - t
		i = j
	}
	var rx float64
	for _, o := range all {
		if o.isX {
			rx += o.rank
		}
	}
	u := rx - n1*(n1+1)/2
	n := n1 + n2
	mean := n1 * n2 / 2
	variance := n1 * n2 / 12 * ((n + 1) - tieTerm/(n*(n-1)))
	if variance <= 0 {
		return 1
	}
	z := (math.Abs(u-mean) - 0.5) / math.Sqrt(variance)
	if z <= 0 {
		return 1
	}
	return math.Erfc(z / math.Sqrt2) // two-sided: 2 × (1 − Φ(z))
}

// FormatComparisons prints comparisons as a benchstat-like table, worst
// first within regressions, and returns how many regressed.
func FormatComparisons(w io.Writer, cs []Comparison) int {
	regressed := 0
	fmt.Fprintf(w, "%-72s %-18s %14s %8s %14s %8s %8s %6s  %s\n", "benchmark", "unit", "baseline", "±", "current", "±", "delta", "p", "verdict")
	for _, c := range cs {
		if c.Verdict == Regressed {
			regressed++
		}
		fmt.Fprintf(w, "%-72s %-18s %14s %7.1f%% %14s %7.1f%% %+7.1f%% %6.3f  %s\n",
			c.Name, c.Unit, fmtMetric(c.Base), 100*c.Base.Noise, fmtMetric(c.Cur), 100*c.Cur.Noise, 100*c.Delta, c.P, c.Verdict)
	}
	return regressed
}

func fmtMetric(s Summary) string {
	if s.N == 0 {
		return "–"
	}
	return fmt.Sprintf("%.4g (n=%d)", s.Median, s.N)
}
