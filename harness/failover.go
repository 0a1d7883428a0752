package harness

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Failover measures how long a replicated cluster is unavailable when a
// partition's leader is killed: a steady acks=all, idempotent producer runs
// while the leader's process gets SIGKILL, Kills times over (the victim
// restarts and rejoins the ISR before the next one). Per kill it times
//
//	new leader   kill → Metadata names another leader (the controller fenced
//	             the dead broker after broker.session.timeout.ms and elected
//	             from the ISR)
//	write stall  kill → the first acknowledgement of a record sent after the
//	             kill (what a producer notices, retries included)
//
// and at the end reads the topic back: every acknowledged record must be
// there once (lost and duplicates are reported, not hidden).

// FailoverSpec is what MeasureFailover varies.
type FailoverSpec struct {
	Kills      int
	Partitions int
	// Interval between records the producer sends (a steady stream, so the
	// stall is seen within one interval).
	Interval time.Duration
	// Settle is how long the producer runs before each kill.
	Settle time.Duration
}

// FailoverSample is one kill.
type FailoverSample struct {
	Victim          int32   `json:"victim"`
	WasController   bool    `json:"wasController"`
	NewLeader       int32   `json:"newLeader"`
	NewLeaderMs     float64 `json:"newLeaderMs"`
	WriteStallMs    float64 `json:"writeStallMs"`
	RejoinedISRInMs float64 `json:"rejoinedISRInMs"`
}

// FailoverReport is MeasureFailover's answer.
type FailoverReport struct {
	Spec         FailoverSpec     `json:"spec"`
	Samples      []FailoverSample `json:"samples"`
	NewLeaderMs  Spread           `json:"newLeaderMs"`
	WriteStallMs Spread           `json:"writeStallMs"`
	Acknowledged int              `json:"acknowledged"`
	SendFailed   int              `json:"sendFailed"`
	Lost         int              `json:"lost"`
	Duplicates   int              `json:"duplicates"`
}

// Spread is a median and a maximum.
type Spread struct {
	P50 float64 `json:"p50"`
	Max float64 `json:"max"`
}

func spreadOf(xs []float64) Spread {
	if len(xs) == 0 {
		return Spread{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return Spread{P50: s[len(s)/2], Max: s[len(s)-1]}
}

const failoverTopic = "failover"

// failoverWait bounds each wait for the cluster (a new leader, a rejoined
// ISR); far above the seconds a failover takes, so hitting it is a bug.
const failoverWait = 60 * time.Second

// MeasureFailover runs spec against a started cluster.
func MeasureFailover(ctx context.Context, ct *ClusterTarget, spec FailoverSpec, logf func(string, ...any)) (*FailoverReport, error) {
	rep := &FailoverReport{Spec: spec}
	admCl, err := kgo.NewClient(kgo.SeedBrokers(ct.Bootstrap()...))
	if err != nil {
		return nil, err
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	if _, err := adm.CreateTopic(ctx, int32(spec.Partitions), -1, nil, failoverTopic); err != nil {
		return nil, fmt.Errorf("create topic: %w", err)
	}
	if err := waitCluster(ctx, "a full ISR", func() bool { return fullISR(ctx, admCl, ct.size()) }); err != nil {
		return nil, err
	}

	prod, err := kgo.NewClient(kgo.SeedBrokers(ct.Bootstrap()...), kgo.DefaultProduceTopic(failoverTopic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RetryTimeout(2*failoverWait), kgo.MetadataMinAge(50*time.Millisecond))
	if err != nil {
		return nil, err
	}
	defer prod.Close()
	var (
		mu    sync.Mutex
		acked = map[int]bool{}
		ackAt = map[int]time.Time{}
		sent  []time.Time // sent[v] is when record v was handed to the client
	)
	pctx, stopProducing := context.WithCancel(ctx)
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		tick := time.NewTicker(spec.Interval)
		defer tick.Stop()
		for v := 0; pctx.Err() == nil; v++ {
			mu.Lock()
			sent = append(sent, time.Now())
			mu.Unlock()
			r := &kgo.Record{Partition: 0, Value: []byte(strconv.Itoa(v))}
			prod.Produce(ctx, r, func(_ *kgo.Record, err error) {
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					rep.SendFailed++
					return
				}
				acked[v] = true
				ackAt[v] = time.Now()
			})
			select {
			case <-pctx.Done():
			case <-tick.C:
			}
		}
	}()

	var newLeaderMs, stallMs []float64
	for k := range spec.Kills {
		time.Sleep(spec.Settle)
		victim, _, err := partitionLeader(ctx, admCl, 0)
		if err != nil {
			stopProducing()
			return nil, err
		}
		controller := int32(-1)
		if m, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, admCl); err == nil {
			controller = m.ControllerID
		}
		killedAt := time.Now()
		if err := ct.Node(victim).Kill(); err != nil {
			stopProducing()
			return nil, err
		}
		var s FailoverSample
		s.Victim, s.WasController = victim, controller == victim
		err = waitCluster(ctx, "a new leader", func() bool {
			l, _, err := partitionLeader(ctx, admCl, 0)
			if err == nil && l > 0 && l != victim {
				s.NewLeader = l
				return true
			}
			return false
		})
		if err != nil {
			stopProducing()
			return nil, err
		}
		s.NewLeaderMs = ms(time.Since(killedAt))
		// The write stall: the earliest acknowledgement of a record sent
		// after the kill.
		err = waitCluster(ctx, "an acknowledgement after the kill", func() bool {
			mu.Lock()
			defer mu.Unlock()
			first := time.Time{}
			for v, at := range ackAt {
				if v < len(sent) && sent[v].After(killedAt) && (first.IsZero() || at.Before(first)) {
					first = at
				}
			}
			if first.IsZero() {
				return false
			}
			s.WriteStallMs = ms(first.Sub(killedAt))
			return true
		})
		if err != nil {
			stopProducing()
			return nil, err
		}
		restartAt := time.Now()
		if _, err := ct.Node(victim).Start(ctx); err != nil {
			stopProducing()
			return nil, fmt.Errorf("restart node %d: %w", victim, err)
		}
		if err := waitCluster(ctx, "the victim back in the ISR", func() bool { return fullISR(ctx, admCl, ct.size()) }); err != nil {
			stopProducing()
			return nil, err
		}
		s.RejoinedISRInMs = ms(time.Since(restartAt))
		rep.Samples = append(rep.Samples, s)
		newLeaderMs = append(newLeaderMs, s.NewLeaderMs)
		stallMs = append(stallMs, s.WriteStallMs)
		if logf != nil {
			logf("failover %d/%d: killed node %d (controller: %v), new leader %d after %.0f ms, writes resumed after %.0f ms, rejoined the ISR %.0f ms after its restart",
				k+1, spec.Kills, victim, s.WasController, s.NewLeader, s.NewLeaderMs, s.WriteStallMs, s.RejoinedISRInMs)
		}
	}
	stopProducing()
	<-produced
	fctx, cancel := context.WithTimeout(ctx, failoverWait)
	defer cancel()
	if err := prod.Flush(fctx); err != nil {
		return nil, fmt.Errorf("flush: %w", err)
	}
	rep.NewLeaderMs, rep.WriteStallMs = spreadOf(newLeaderMs), spreadOf(stallMs)

	mu.Lock()
	want := make(map[int]bool, len(acked))
	for v := range acked {
		want[v] = true
	}
	mu.Unlock()
	rep.Acknowledged = len(want)
	seen, err := readAll(ctx, ct.Bootstrap(), len(want))
	if err != nil {
		return nil, err
	}
	for _, n := range seen {
		if n > 1 {
			rep.Duplicates += n - 1
		}
	}
	for v := range want {
		if seen[v] == 0 {
			rep.Lost++
		}
	}
	return rep, nil
}

// readAll reads the failover topic from the start until it has at least
// want distinct values or nothing more arrives; it counts each value.
func readAll(ctx context.Context, seeds []string, want int) (map[int]int, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(failoverTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	seen := map[int]int{}
	idle := 0
	for len(seen) < want && idle < 3 && ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		n := 0
		fs.EachRecord(func(r *kgo.Record) {
			if v, err := strconv.Atoi(string(r.Value)); err == nil {
				seen[v]++
				n++
			}
		})
		if n == 0 {
			idle++
		}
	}
	return seen, ctx.Err()
}

// failoverTopicMetadata asks any live broker for the failover topic (Metadata, not kgo's cache,
// so every look is fresh).
func failoverTopicMetadata(ctx context.Context, cl *kgo.Client) (*kmsg.MetadataResponseTopic, error) {
	req := kmsg.NewPtrMetadataRequest()
	t := kmsg.NewMetadataRequestTopic()
	t.Topic = kmsg.StringPtr(failoverTopic)
	req.Topics = append(req.Topics, t)
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := req.RequestWith(rctx, cl)
	if err != nil {
		return nil, err
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) == 0 {
		return nil, fmt.Errorf("no metadata for %s", failoverTopic)
	}
	return &resp.Topics[0], nil
}

// partitionLeader is the failover topic's partition p's leader and ISR.
func partitionLeader(ctx context.Context, cl *kgo.Client, p int32) (leader int32, isr []int32, err error) {
	t, err := failoverTopicMetadata(ctx, cl)
	if err != nil {
		return -1, nil, err
	}
	for _, rp := range t.Partitions {
		if rp.Partition == p && rp.ErrorCode == 0 {
			return rp.Leader, rp.ISR, nil
		}
	}
	return -1, nil, fmt.Errorf("no metadata for %s/%d", failoverTopic, p)
}

// fullISR: every partition of the failover topic has every node in its ISR.
func fullISR(ctx context.Context, cl *kgo.Client, nodes int) bool {
	t, err := failoverTopicMetadata(ctx, cl)
	if err != nil {
		return false
	}
	for _, p := range t.Partitions {
		if p.ErrorCode != 0 || p.Leader < 0 || len(p.ISR) != nodes {
			return false
		}
	}
	return true
}

// waitCluster polls cond every 20 ms for up to failoverWait.
func waitCluster(ctx context.Context, what string, cond func() bool) error {
	deadline := time.Now().Add(failoverWait)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("failover: no %s within %s", what, failoverWait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
