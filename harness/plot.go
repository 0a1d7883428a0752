package harness

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Plots of a suite, as SVG (which GitHub and most Markdown viewers show
// inline): throughput against partitions, one chart per ack mode, and
// latency percentile curves in HdrHistogram's style (the x axis stretches
// the tail: 90, 99, 99.9 are equally spaced).

// targetColors keeps a target's colour the same in every chart.
var targetColors = map[string]color.Color{
	"sluice":          color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, // blue
	"kfake":           color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}, // orange
	"blackhole":       color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff}, // grey
	"sluice-embedded": color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}, // green
}

var ackColors = map[Acks]color.Color{
	"0":   color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	"1":   color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	"all": color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
}

var dashes = [][]vg.Length{nil, {vg.Points(6), vg.Points(3)}, {vg.Points(2), vg.Points(2)}}

// plotSize is every chart's size: wide enough for a legend beside six lines.
var plotWidth, plotHeight = 7 * vg.Inch, 4 * vg.Inch

// WritePlots renders the suite's charts into dir and returns their file
// names (relative to dir), in the order a report shows them.
func (s *Suite) WritePlots(dir string) ([]string, error) {
	var files []string
	for _, acks := range s.Spec.Acks {
		name := fmt.Sprintf("throughput-acks-%s.svg", acks)
		p, ok := s.throughputPlot(acks)
		if !ok {
			continue
		}
		if err := p.Save(plotWidth, plotHeight, filepath.Join(dir, name)); err != nil {
			return nil, fmt.Errorf("plot %s: %w", name, err)
		}
		files = append(files, name)
	}
	cell := s.latencyCell()
	for _, kind := range []string{"publish", "end-to-end"} {
		name := fmt.Sprintf("latency-%s.svg", map[string]string{"publish": "publish", "end-to-end": "e2e"}[kind])
		p, ok := s.latencyPlot(kind, cell)
		if !ok {
			continue
		}
		if err := p.Save(plotWidth, plotHeight, filepath.Join(dir, name)); err != nil {
			return nil, fmt.Errorf("plot %s: %w", name, err)
		}
		files = append(files, name)
	}
	return files, nil
}

func (s *Suite) throughputPlot(acks Acks) (*plot.Plot, bool) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Produce throughput, acks=%s", acks)
	p.X.Label.Text = "partitions"
	p.Y.Label.Text = "MiB/s published"
	p.X.Scale = plot.LogScale{}
	var ticks []plot.Tick
	for _, n := range s.Spec.Partitions {
		ticks = append(ticks, plot.Tick{Value: float64(n), Label: strconv.Itoa(n)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.Y.Min = 0
	p.Legend.Left = true // bottom left: the lines fall as partitions grow, from well above
	drawn := false
	for _, target := range s.Targets {
		for si, size := range s.Spec.Sizes {
			var xys plotter.XYs
			for _, n := range s.Spec.Partitions {
				if r := s.Find(target, Cell{Partitions: n, Acks: acks, MessageSize: size}); r != nil {
					xys = append(xys, plotter.XY{X: float64(n), Y: r.Sluice.PublishMBPerSec})
				}
			}
			if len(xys) == 0 {
				continue
			}
			l, pts, err := plotter.NewLinePoints(xys)
			if err != nil {
				continue
			}
			c := colorOf(target)
			l.Color, pts.Color = c, c
			l.Dashes = dashes[si%len(dashes)]
			pts.Shape = draw.CircleGlyph{}
			p.Add(l, pts)
			p.Legend.Add(fmt.Sprintf("%s %s", target, sizeName(size)), l, pts)
			drawn = true
		}
	}
	return p, drawn
}

// latencyCell is the cell the latency charts show: 1 KiB (or the largest
// size) at the partition count nearest 16.
func (s *Suite) latencyCell() Cell {
	c := Cell{Acks: "all"}
	for _, size := range s.Spec.Sizes {
		if c.MessageSize == 0 || size == 1024 || (c.MessageSize != 1024 && size > c.MessageSize) {
			c.MessageSize = size
		}
	}
	best := math.MaxInt
	for _, n := range s.Spec.Partitions {
		if d := absInt(n - 16); d < best {
			best, c.Partitions = d, n
		}
	}
	return c
}

func (s *Suite) latencyPlot(kind string, cell Cell) (*plot.Plot, bool) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s latency, %d partitions, %s", kind, cell.Partitions, sizeName(cell.MessageSize))
	p.X.Label.Text = "percentile"
	p.Y.Label.Text = "ms (log scale)"
	p.X.Scale = plot.LogScale{}
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = oneTwoFiveTicks{}
	var ticks []plot.Tick
	for _, pct := range []float64{50, 90, 99, 99.9, 99.99} {
		ticks = append(ticks, plot.Tick{Value: tailX(pct), Label: strconv.FormatFloat(pct, 'f', -1, 64)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.Legend.Left = false // bottom right: the curves rise to the right
	p.Legend.XOffs = -vg.Points(12)
	drawn := false
	for ti, target := range s.Targets {
		for _, acks := range s.Spec.Acks {
			c := cell
			c.Acks = acks
			r := s.Find(target, c)
			if r == nil {
				continue
			}
			q := r.AggregatedPublishLatencyQuantiles
			if kind != "publish" {
				q = r.AggregatedEndToEndLatencyQuantiles
				if !r.Sluice.Correctness.ConsumeChecked || r.Sluice.ConsumedRecords == 0 {
					continue
				}
			}
			xys := quantileCurve(q)
			if len(xys) < 2 {
				continue
			}
			l, err := plotter.NewLine(xys)
			if err != nil {
				continue
			}
			l.Color = ackColors[acks]
			l.Dashes = dashes[ti%len(dashes)]
			l.Width = vg.Points(1.5)
			p.Add(l)
			p.Legend.Add(fmt.Sprintf("%s acks=%s", target, acks), l)
			drawn = true
		}
	}
	return p, drawn
}

// tailX maps a percentile to the x axis: 1/(1-p), so each extra nine is one
// decade further right.
func tailX(pct float64) float64 { return 1 / (1 - pct/100) }

// quantileCurve turns an aggregated quantile map (percentile → ms) into
// points sorted by percentile, leaving out 100 (infinitely far right) and
// clamping latencies below a microsecond, which a log axis cannot show.
func quantileCurve(q map[string]float64) plotter.XYs {
	var xys plotter.XYs
	for k, ms := range q {
		pct, err := strconv.ParseFloat(k, 64)
		if err != nil || pct <= 0 || pct >= 100 {
			continue
		}
		xys = append(xys, plotter.XY{X: tailX(pct), Y: max(ms, 0.001)})
	}
	slices.SortFunc(xys, func(a, b plotter.XY) int { return cmpFloat(a.X, b.X) })
	return xys
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func colorOf(target string) color.Color {
	if c, ok := targetColors[target]; ok {
		return c
	}
	return color.Black
}

// oneTwoFiveTicks labels a log axis at 1, 2 and 5 times each power of ten,
// so a range within one or two decades still has labelled ticks.
type oneTwoFiveTicks struct{}

func (oneTwoFiveTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, e)
			if v >= lo && v <= hi {
				ts = append(ts, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', -1, 64)})
			}
		}
	}
	return ts
}

func absInt(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
