package harness

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Scale measurements (`make bench-scale`): how a broker's cost grows with
// partitions and connections rather than with bytes. The runs themselves
// are ordinary Runs; what is here is the idle state they are measured
// against: many empty partitions, many connections that send nothing.

// Limits of the scale measurements.
const (
	// idleCreateTimeout bounds creating thousands of partitions: each is a
	// directory and segment files on disk.
	idleCreateTimeout = 5 * time.Minute
	// idlePartitionsPerTopic splits an idle partition count into topics of
	// at most this many partitions, as an operator would.
	idlePartitionsPerTopic = 1000
	// idleSettle is how long the broker is left alone before its RSS is
	// read, so start-up garbage is collected and background work is done.
	idleSettle = 3 * time.Second
	// dialTimeout bounds each idle connection's dial and handshake.
	dialTimeout = 10 * time.Second
)

// IdlePartitions creates n partitions (in topics of up to 1000) on the
// broker at bootstrap and waits until the metadata shows them all led.
func IdlePartitions(ctx context.Context, bootstrap []string, n int, prefix string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap...), kgo.ClientID(topicPrefix+"-scale"))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(int32(idleCreateTimeout / time.Millisecond))
	ctx, cancel := context.WithTimeout(ctx, idleCreateTimeout)
	defer cancel()
	var topics []string
	for i := 0; i*idlePartitionsPerTopic < n; i++ {
		parts := min(idlePartitionsPerTopic, n-i*idlePartitionsPerTopic)
		topic := fmt.Sprintf("%s-%s-%d", topicPrefix, prefix, i)
		resp, err := adm.CreateTopics(ctx, int32(parts), -1, nil, topic)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			return fmt.Errorf("create topic %s of %d partitions: %w", topic, parts, err)
		}
		topics = append(topics, topic)
	}
	for {
		md, err := adm.Metadata(ctx, topics...)
		if err == nil {
			led := 0
			for _, t := range md.Topics {
				for _, p := range t.Partitions {
					if p.Err == nil && p.Leader >= 0 {
						led++
					}
				}
			}
			if led == n {
				return nil
			}
			err = fmt.Errorf("%d of %d partitions led", led, n)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("idle partitions not ready: %w", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// SettledRSS waits idleSettle and reads the process's resident memory.
func SettledRSS(ctx context.Context, pid int) (int64, error) {
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(idleSettle):
	}
	s, err := readProc(pid)
	return s.rssBytes, err
}

// IdleConnections opens n TCP connections to addr, each completing one
// ApiVersions v0 exchange so the broker has accepted and served it, and
// holds them until close is called. On error it closes what it opened.
func IdleConnections(ctx context.Context, addr string, n int) (close func(), err error) {
	conns := make([]net.Conn, 0, n)
	close = func() {
		for _, c := range conns {
			c.Close()
		}
	}
	d := net.Dialer{Timeout: dialTimeout}
	for i := range n {
		if ctx.Err() != nil {
			close()
			return nil, ctx.Err()
		}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			close()
			if errors.Is(err, syscall.EMFILE) {
				return nil, fmt.Errorf("connection %d of %d: %w (raise ulimit -n)", i+1, n, err)
			}
			return nil, fmt.Errorf("connection %d of %d: %w", i+1, n, err)
		}
		conns = append(conns, c)
		if err := apiVersionsExchange(c, int32(i)); err != nil {
			close()
			return nil, fmt.Errorf("connection %d of %d: %w", i+1, n, err)
		}
	}
	return close, nil
}

// apiVersionsExchange sends ApiVersions v0 (an empty body) and reads the
// response frame, checking its correlation id.
func apiVersionsExchange(c net.Conn, correlationID int32) error {
	_ = c.SetDeadline(time.Now().Add(dialTimeout))
	defer c.SetDeadline(time.Time{})
	clientID := "sluicebench-idle"
	// size, api key 18, version 0, correlation id, client id (int16 length + bytes).
	req := make([]byte, 0, 4+2+2+4+2+len(clientID))
	req = binary.BigEndian.AppendUint32(req, 0) // size, backfilled
	req = binary.BigEndian.AppendUint16(req, 18)
	req = binary.BigEndian.AppendUint16(req, 0)
	req = binary.BigEndian.AppendUint32(req, uint32(correlationID))
	req = binary.BigEndian.AppendUint16(req, uint16(len(clientID)))
	req = append(req, clientID...)
	binary.BigEndian.PutUint32(req, uint32(len(req)-4))
	if _, err := c.Write(req); err != nil {
		return err
	}
	var hdr [8]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return fmt.Errorf("ApiVersions response: %w", err)
	}
	size := binary.BigEndian.Uint32(hdr[:4])
	if got := int32(binary.BigEndian.Uint32(hdr[4:])); got != correlationID || size < 4 || size > 1<<20 {
		return fmt.Errorf("ApiVersions response: size %d, correlation id %d, want %d", size, got, correlationID)
	}
	_, err := io.CopyN(io.Discard, c, int64(size-4))
	return err
}

// ScaleReport is what `make bench-scale` measured.
type ScaleReport struct {
	Start          time.Time `json:"start"`
	ElapsedSeconds float64   `json:"elapsedSeconds"`
	Commit         string    `json:"commit"`
	Dirty          bool      `json:"dirty"`
	Machine        Machine   `json:"machine"`
	NoFileLimit    uint64    `json:"noFileLimit"` // RLIMIT_NOFILE of the harness and the broker

	// Partitions: one workload at growing partition counts.
	Partitions []*Result `json:"partitions"`
	// IdleRSS: the broker's resident memory with no topics, then with
	// each count of idle partitions (a fresh broker each).
	BaseRSSBytes int64          `json:"baseRSSBytes"`
	IdleRSS      []IdleRSS      `json:"idleRSS"`
	Connections  []*Result      `json:"connections"` // [0]: no idle connections; [1]: with them
	IdleConns    int            `json:"idleConnections"`
	ConnRSS      [2]int64       `json:"connectionsRSSBytes"` // broker RSS before and with the idle connections
	Errors       []string       `json:"errors,omitempty"`
	Notes        map[string]any `json:"notes,omitempty"`
}

// IdleRSS is the broker's memory holding Partitions idle partitions.
type IdleRSS struct {
	Partitions int    `json:"partitions"`
	RSSBytes   int64  `json:"rssBytes"`
	Error      string `json:"error,omitempty"`
}

// Markdown renders the report.
func (s *ScaleReport) Markdown(jsonName string) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	dirty := ""
	if s.Dirty {
		dirty = " plus uncommitted changes"
	}
	p("# Scale: cost as partitions and connections grow\n\n")
	p("%s, commit %s%s; `make bench-scale` took %s; results in [%s](%s).\n\n", s.Start.Format("2006-01-02 15:04 MST"), s.Commit, dirty,
		(time.Duration(s.ElapsedSeconds) * time.Second).String(), jsonName, jsonName)
	p("**Machine:** %s; open-file limit %d (harness and broker alike).\n\n", s.Machine, s.NoFileLimit)
	row := func(label string, r *Result) {
		e := &r.Sluice
		cpu, rss := math.NaN(), math.NaN()
		if e.Broker != nil {
			cpu, rss = e.Broker.CPUSecondsPerGiB, float64(e.Broker.RSSBytes)/(1<<20)
		}
		p("| %s | %s | %s | %s | %s | %s | %s |\n", label, f(e.PublishMBPerSec, 1), f(cpu, 2), f(e.PublishLatencyMs.P50, 2), f(e.PublishLatencyMs.P99, 2), f(rss, 0), verdict(r))
	}
	if len(s.Partitions) > 0 {
		w := s.Partitions[0]
		p("## Throughput as partitions grow\n\n%s records, acks=%s, one producer and one %s consumer, %.0f s measured after %.0f s warmup; a fresh broker per row.\n\n",
			sizeName(w.MessageSize), w.Sluice.Settings.Acks, w.Sluice.Settings.ConsumerAssignment, w.Sluice.MeasuredSeconds, w.Sluice.WarmupSeconds)
		p("| partitions | MiB/s | broker CPU-s/GiB | publish p50 ms | publish p99 ms | broker RSS MiB | check |\n|---|---|---|---|---|---|---|\n")
		for _, r := range s.Partitions {
			row(fmt.Sprint(r.Partitions), r)
		}
	}
	p("\n## Memory of idle partitions\n\nA fresh broker, topics of up to %d partitions created, RSS read %s later.\n\n", idlePartitionsPerTopic, idleSettle)
	p("| idle partitions | broker RSS MiB | above an empty broker, KiB per partition |\n|---|---|---|\n| 0 | %.1f | – |\n", float64(s.BaseRSSBytes)/(1<<20))
	for _, i := range s.IdleRSS {
		if i.Error != "" {
			p("| %d | failed: %s | – |\n", i.Partitions, firstLine(i.Error))
			continue
		}
		p("| %d | %.1f | %.1f |\n", i.Partitions, float64(i.RSSBytes)/(1<<20), float64(i.RSSBytes-s.BaseRSSBytes)/1024/float64(i.Partitions))
	}
	if len(s.Connections) > 0 {
		p("\n## A producer beside %d idle connections\n\nEach idle connection has completed one ApiVersions exchange and then sends nothing. Same broker process for both rows; broker RSS %.1f MiB before the connections, %.1f MiB holding them.\n\n",
			s.IdleConns, float64(s.ConnRSS[0])/(1<<20), float64(s.ConnRSS[1])/(1<<20))
		p("| idle connections | MiB/s | broker CPU-s/GiB | publish p50 ms | publish p99 ms | broker RSS MiB | check |\n|---|---|---|---|---|---|---|\n")
		for i, r := range s.Connections {
			row(fmt.Sprint([]int{0, s.IdleConns}[min(i, 1)]), r)
		}
	}
	if len(s.Errors) > 0 {
		p("\n## Errors\n\n")
		for _, e := range s.Errors {
			p("- %s\n", firstLine(e))
		}
	}
	return b.String()
}
