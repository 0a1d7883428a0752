package broker

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func metricValue(t *testing.T, text, series string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("metric %s missing from:\n%s", series, text)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMetricsCountTraffic(t *testing.T) {
	tb := startBroker(t, t.TempDir())
	ctx := context.Background()
	if _, err := kadm.NewClient(tb.client()).CreateTopic(ctx, 1, 1, nil, "m"); err != nil {
		t.Fatal(err)
	}
	prod := tb.client(kgo.DefaultProduceTopic("m"))
	for range 10 {
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: bytes.Repeat([]byte("x"), 100)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	consumeAll(t, tb, "m", 10)
	var buf bytes.Buffer
	tb.b.WriteMetrics(&buf)
	text := buf.String()
	if v := metricValue(t, text, `sluice_topic_records_in_total{topic="m"}`); v != 10 {
		t.Fatalf("records in %v, want 10", v)
	}
	in := metricValue(t, text, `sluice_topic_bytes_in_total{topic="m"}`)
	out := metricValue(t, text, `sluice_topic_bytes_out_total{topic="m"}`)
	if in <= 0 || out < in { // franz-go compresses batches, so bytes in may be below the raw 1000
		t.Fatalf("bytes in %v, out %v: want bytes in and everything read out", in, out)
	}
	if v := metricValue(t, text, `sluice_request_latency_seconds_count{api="Produce"}`); v < 10 {
		t.Fatalf("Produce latency count %v, want ≥ 10", v)
	}
	if v := metricValue(t, text, `sluice_partition_log_end_offset{topic="m",partition="0"}`); v != 10 {
		t.Fatalf("log end offset metric %v", v)
	}
}
