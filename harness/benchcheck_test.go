package harness

import (
	"math"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseGoBench(t *testing.T) {
	out := `goos: linux
goarch: amd64
pkg: github.com/sluicemq/sluice/engine/log
cpu: AMD EPYC
BenchmarkAppend/batch=16KiB/fsync=none-2         	   95770	     13197 ns/op	1247.29 MB/s	       0 B/op	       0 allocs/op
BenchmarkAppend/batch=16KiB/fsync=every-2        	    4412	    393716 ns/op	  41.61 MB/s	         0.5145 fsyncs/append	     280 B/op	       2 allocs/op
BenchmarkAppend/batch=16KiB/fsync=none-2         	   95770	     14000 ns/op	1100.00 MB/s	       0 B/op	       0 allocs/op
PASS
ok  	github.com/sluicemq/sluice/engine/log	8.508s
pkg: github.com/sluicemq/sluice/engine/record
BenchmarkValidate-2   	 1495796	       798.3 ns/op	20780.04 MB/s	       0 B/op	       0 allocs/op
BenchmarkNotALine this has no numbers
`
	s, err := ParseGoBench(strings.NewReader(out), "github.com/sluicemq/sluice")
	if err != nil {
		t.Fatal(err)
	}
	none := s["engine/log:Append/batch=16KiB/fsync=none"]
	if got := none["ns/op"]; len(got) != 2 || got[0] != 13197 || got[1] != 14000 {
		t.Errorf("ns/op = %v", got)
	}
	if got := s["engine/log:Append/batch=16KiB/fsync=every"]["fsyncs/append"]; len(got) != 1 || got[0] != 0.5145 {
		t.Errorf("custom metric = %v", got)
	}
	if got := s["engine/record:Validate"]["MB/s"]; len(got) != 1 || got[0] != 20780.04 {
		t.Errorf("Validate MB/s = %v (names: %v)", got, s)
	}
	if len(s) != 3 {
		t.Errorf("%d benchmarks, want 3: %v", len(s), s)
	}
}

func TestMannWhitneyP(t *testing.T) {
	a := []float64{1, 2, 3, 4, 5}
	b := []float64{6, 7, 8, 9, 10}
	// Completely separated samples of 5: exact two-sided p is 2/252 ≈ 0.008;
	// the normal approximation with continuity correction gives ≈ 0.012.
	if p := MannWhitneyP(a, b); p > 0.02 || p < 0.005 {
		t.Errorf("separated: p = %g", p)
	}
	if p := MannWhitneyP(a, a); p < 0.9 {
		t.Errorf("identical: p = %g", p)
	}
	if p := MannWhitneyP([]float64{2, 2, 2, 2, 2}, []float64{2, 2, 2, 2, 2}); p != 1 {
		t.Errorf("all tied: p = %g", p)
	}
	// Constant but different (allocs/op 2 → 3): the tie correction keeps
	// the variance positive and the difference significant.
	if p := MannWhitneyP([]float64{2, 2, 2, 2, 2}, []float64{3, 3, 3, 3, 3}); p > 0.01 {
		t.Errorf("constant shift: p = %g", p)
	}
	interleaved := MannWhitneyP([]float64{1, 3, 5, 7, 9}, []float64{2, 4, 6, 8, 10})
	if interleaved < 0.5 {
		t.Errorf("interleaved: p = %g", interleaved)
	}
}

func TestSummarize(t *testing.T) {
	s := Summarize([]float64{100, 90, 110, 105, 95})
	if s.N != 5 || s.Median != 100 || math.Abs(s.Noise-0.10) > 1e-9 {
		t.Errorf("%+v", s)
	}
	if s := Summarize(nil); s.N != 0 || !math.IsNaN(s.Median) {
		t.Errorf("empty: %+v", s)
	}
}

// Synthetic baselines: the comparison must flag a slowdown beyond the
// noise, ignore one within it, credit an improvement, respect the direction
// of throughput units, and refuse to judge from too few samples.
func TestCompare(t *testing.T) {
	base := Samples{}
	cur := Samples{}
	add := func(s Samples, name, unit string, vs ...float64) {
		for _, v := range vs {
			s.Add(name, unit, v)
		}
	}
	// Quiet (±2 %) and 30 % slower: a regression.
	add(base, "slower", "ns/op", 100, 102, 98, 101, 99)
	add(cur, "slower", "ns/op", 130, 128, 131, 129, 132)
	// Noisy (±25 %) and 10 % slower: within the noise.
	add(base, "noisy", "ns/op", 100, 125, 75, 110, 90)
	add(cur, "noisy", "ns/op", 110, 135, 85, 120, 100)
	// Quiet and 3 % slower: significant but under the 10 % floor.
	add(base, "tiny", "ns/op", 100, 100.5, 99.5, 100.2, 99.8)
	add(cur, "tiny", "ns/op", 103, 103.5, 102.5, 103.2, 102.8)
	// Throughput up 40 %: an improvement, not a regression.
	add(base, "faster", "MB/s", 100, 101, 99, 100, 100)
	add(cur, "faster", "MB/s", 140, 141, 139, 140, 140)
	// Throughput down 40 %: a regression.
	add(base, "matrix:sluice/x", "MiB/s", 300, 310, 290, 305, 295)
	add(cur, "matrix:sluice/x", "MiB/s", 180, 185, 175, 182, 178)
	// End to end, 10 % slower and quiet: under the matrix floor (15 %).
	add(base, "matrix:sluice/y", "MiB/s", 300, 301, 299, 300, 300)
	add(cur, "matrix:sluice/y", "MiB/s", 270, 271, 269, 270, 270)
	// Overlapping intervals: 8 % slower with ±5 % on each side (10 % together).
	add(base, "overlap", "ns/op", 100, 105, 95, 101, 99)
	add(cur, "overlap", "ns/op", 108, 113, 103, 109, 107)
	// One more allocation per op, exactly: a regression with zero noise.
	add(base, "allocs", "allocs/op", 2, 2, 2, 2, 2)
	add(cur, "allocs", "allocs/op", 3, 3, 3, 3, 3)
	// Too few samples to judge, and a benchmark that went away.
	add(base, "few", "ns/op", 100, 100)
	add(cur, "few", "ns/op", 200, 200)
	add(base, "gone", "ns/op", 1, 1, 1, 1, 1)

	want := map[string]string{
		"slower": Regressed, "noisy": Same, "tiny": Same, "faster": Improved,
		"matrix:sluice/x": Regressed, "allocs": Regressed, "few": TooFew, "gone": OnlyOne,
		"matrix:sluice/y": Same, "overlap": Same,
	}
	cs := Compare(base, cur, DefaultCompareOptions)
	if len(cs) != len(want) {
		t.Fatalf("%d comparisons, want %d: %+v", len(cs), len(want), cs)
	}
	for _, c := range cs {
		if c.Verdict != want[c.Name] {
			t.Errorf("%s %s: verdict %q, want %q (delta %+.1f%%, p %.3f, noise %.1f%%/%.1f%%)",
				c.Name, c.Unit, c.Verdict, want[c.Name], 100*c.Delta, c.P, 100*c.Base.Noise, 100*c.Cur.Noise)
		}
	}
	var sb strings.Builder
	if n := FormatComparisons(&sb, cs); n != 3 {
		t.Errorf("FormatComparisons counted %d regressions, want 3:\n%s", n, sb.String())
	}
}

func TestBaselineRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "baseline.json")
	b := &Baseline{Commit: "abc1234", Machine: ReadMachine(), Samples: Samples{}}
	b.Samples.Add("engine/log:Append", "ns/op", 1.5)
	b.Samples.Add("engine/log:Append", "ns/op", 2.5)
	if err := b.Write(path); err != nil {
		t.Fatal(err)
	}
	got, err := ReadBaseline(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Commit != "abc1234" || len(got.Samples["engine/log:Append"]["ns/op"]) != 2 || got.Machine.NProc == 0 {
		t.Errorf("round trip: %+v", got)
	}
}
