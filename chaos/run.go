package chaos

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/engine/record"
	"github.com/sluicemq/sluice/harness"
)

// Run bounds.
const (
	clusterWait   = 90 * time.Second // three brokers registered, a topic created, a full ISR
	recoveryWait  = 60 * time.Second // after a heal: every ISR full again
	newLeaderWait = 30 * time.Second // targeted check: the partitioned leader replaced
	pollEvery     = 100 * time.Millisecond
)

// Config is one chaos run.
type Config struct {
	Binary     string
	Dir        string
	Seed       uint64
	Duration   time.Duration // how long the nemesis runs
	Rate       int           // records a second per producer
	Partitions int32         // of the idempotent topic (the at-least-once topic has 2)
	RaceBuild  bool
	LogLevel   string // the brokers' log.level ("": warn)
	WriteMode  string // the brokers' log.write.mode ("": their default, direct, as the report says)
	Commit     string
	Command    string
	Logf       func(format string, args ...any)
}

const (
	topicIdempotent = "chaos-idempotent"
	topicPlain      = "chaos-at-least-once"
	topicMinority   = "chaos-minority"
	groupName       = "chaos-group"
)

// Run runs the targeted checks and then the nemesis against a fresh cluster each, and reports.
// An error means the run could not be carried out (no cluster); what the run found is in the
// report's failures.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	start := time.Now()
	r := &Report{Seed: cfg.Seed, Commit: cfg.Commit, Started: start, Duration: cfg.Duration.String(),
		RaceBuild: cfg.RaceBuild, WriteMode: cmp.Or(cfg.WriteMode, "direct"), Command: cfg.Command}
	defer func() { r.Elapsed = time.Since(start).Round(time.Second).String() }()
	if err := runPartitionedLeader(ctx, cfg, r); err != nil {
		return r, fmt.Errorf("targeted checks: %w", err)
	}
	if err := runNemesis(ctx, cfg, r); err != nil {
		return r, fmt.Errorf("nemesis run: %w", err)
	}
	return r, nil
}

// startAndSettle starts a cluster and creates topics once three brokers are registered, then
// waits for every partition's full ISR.
func startAndSettle(ctx context.Context, cfg Config, dir string, replicaLagMs int, topics map[string]int32) (*Cluster, error) {
	c, err := StartCluster(ClusterConfig{Binary: cfg.Binary, Dir: dir, ReplicaLagMs: replicaLagMs, LogLevel: cfg.LogLevel, WriteMode: cfg.WriteMode, Logf: cfg.Logf})
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Cluster, error) { c.Close(); return nil, err }
	if err := waitUntil(ctx, clusterWait, func() bool { return len(c.View(ctx).Brokers) == nodes }); err != nil {
		return fail(fmt.Errorf("three registered brokers: %w", err))
	}
	admCl, err := kgo.NewClient(clientOpts(c.Seeds())...)
	if err != nil {
		return fail(err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	total := 0
	var names []string
	for t, n := range topics {
		total += int(n)
		names = append(names, t)
		var last error
		err := waitUntil(ctx, clusterWait, func() bool {
			res, err := adm.CreateTopic(ctx, n, nodes, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, t)
			last = errors.Join(err, res.Err)
			return last == nil || errors.Is(res.Err, kerr.TopicAlreadyExists)
		})
		if err != nil {
			return fail(fmt.Errorf("create topic %s: %w (last: %v)", t, err, last))
		}
	}
	if err := waitUntil(ctx, clusterWait, func() bool { return c.View(ctx, names...).FullISR(total) }); err != nil {
		return fail(fmt.Errorf("a full ISR on every partition: %w", err))
	}
	return c, nil
}

// waitUntil polls cond every pollEvery until it holds, d passes or ctx ends.
func waitUntil(ctx context.Context, d time.Duration, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %v", d)
		}
		time.Sleep(pollEvery)
	}
	return nil
}

// runPartitionedLeader is the targeted checks on a cluster of their own, with a replica lag long
// enough that the ISR does not shrink while the check runs:
//
//  1. a partition's leader X loses every inbound link; an acks=all Produce sent straight to X's
//     real listener must not be acknowledged (X alone is a minority: min.insync.replicas=2);
//  2. X keeps that record in its log (a divergent tail), is paused until the controller fences it
//     and elects another leader, which takes more writes;
//  3. X resumes and its links heal: it must rejoin as a follower, truncate the divergent record and
//     end with a log identical to the others below the high watermark.
func runPartitionedLeader(ctx context.Context, cfg Config, r *Report) error {
	c, err := startAndSettle(ctx, cfg, cfg.Dir+"/minority", 60000, map[string]int32{topicMinority: 1})
	if err != nil {
		return err
	}
	defer c.Close()
	coordinatorAgreement(ctx, c, r)
	tl := &topicLog{topic: topicMinority, partitions: 1, idempotent: true}
	p, err := newProducer(c.Seeds(), tl, 0)
	if err != nil {
		return err
	}
	defer p.cl.Close()
	pctx, stopProducing := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { p.run(pctx, max(cfg.Rate, 50)) })
	defer func() { stopProducing(); wg.Wait() }()
	if err := waitUntil(ctx, clusterWait, func() bool { return p.acked.Load() >= 50 }); err != nil {
		return fmt.Errorf("first acknowledgements: %w", err)
	}

	tp := TP{topicMinority, 0}
	x := c.View(ctx, topicMinority).Partitions[tp].Leader
	if x < 1 || x > nodes {
		return fmt.Errorf("no leader for %v", tp)
	}
	victim := c.Node(x)
	cfg.Logf("minority check: cutting every link into node %d, the leader of %s-0", x, topicMinority)
	if err := victim.Cut(CutRefuse); err != nil {
		return err
	}
	marker := fmt.Appendf(nil, "divergent-%d", cfg.Seed)
	acked, detail := produceDirect(ctx, victim, tp, marker)
	r.Checks = append(r.Checks, CheckResult{Name: "minority cannot acknowledge acks=all", OK: !acked,
		Detail: fmt.Sprintf("Produce straight to the isolated leader (node %d): %s", x, detail)})
	if acked {
		r.Failures = append(r.Failures, fmt.Sprintf("an isolated leader (node %d) acknowledged an acks=all write alone: %s", x, detail))
	}
	held := holdsValue(victim, tp, marker)

	victim.Pause()
	cfg.Logf("minority check: node %d paused (links still cut); waiting for another leader", x)
	var newLeader int32
	if err := waitUntil(ctx, newLeaderWait, func() bool {
		newLeader = c.View(ctx, topicMinority).Partitions[tp].Leader
		return newLeader > 0 && newLeader != x
	}); err != nil {
		victim.Resume()
		victim.Heal()
		return fmt.Errorf("no new leader for %v after fencing node %d: %w", tp, x, err)
	}
	before := p.acked.Load()
	if err := waitUntil(ctx, clusterWait, func() bool { return p.acked.Load() >= before+50 }); err != nil {
		return fmt.Errorf("acknowledgements from the new leader %d: %w", newLeader, err)
	}
	victim.Resume()
	if err := victim.Heal(); err != nil {
		return err
	}
	cfg.Logf("minority check: node %d resumed and healed; new leader %d", x, newLeader)
	if err := waitUntil(ctx, recoveryWait, func() bool { return c.View(ctx, topicMinority).FullISR(1) }); err != nil {
		r.Failures = append(r.Failures, fmt.Sprintf("node %d did not rejoin the ISR of %v within %v after healing", x, tp, recoveryWait))
	}
	stopProducing()
	wg.Wait()
	finishTopic(ctx, c, r, tl, []*producer{p})

	conv := convergence(ctx, c, r, []string{topicMinority}, 1)
	still := slices.ContainsFunc(conv.logs[tp][x], func(b StoredBatch) bool { return containsValue(b, marker) })
	name := "partitioned-away leader truncates its divergent tail"
	switch {
	case !held:
		r.Checks = append(r.Checks, CheckResult{Name: name, OK: false,
			Detail: fmt.Sprintf("not exercised: node %d never held the unacknowledged record", x)})
		r.Failures = append(r.Failures, name+": not exercised (the isolated leader did not append the record)")
	case still || conv.diff != "":
		r.Checks = append(r.Checks, CheckResult{Name: name, OK: false,
			Detail: fmt.Sprintf("node %d still holds the unacknowledged record (%v) or differs: %s", x, still, conv.diff)})
		r.Failures = append(r.Failures, fmt.Sprintf("node %d kept its divergent tail after rejoining (%s)", x, conv.diff))
	default:
		r.Checks = append(r.Checks, CheckResult{Name: name, OK: true,
			Detail: fmt.Sprintf("node %d appended the record while isolated, node %d was elected, node %d dropped the record and matches the others below the high watermark", x, newLeader, x)})
	}
	return nil
}

// produceDirect sends one acks=all Produce of value to node n's real listener and says whether it
// was acknowledged, and how it was answered.
func produceDirect(ctx context.Context, n *Node, tp TP, value []byte) (acked bool, detail string) {
	batch := record.AppendBatch(nil, record.BatchSpec{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1,
		BaseTimestamp: time.Now().UnixMilli()}, []record.Record{{Value: value}})
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 2000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = tp.Topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = tp.Partition, batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	raw, err := n.RequestWithin(ctx, 10*time.Second, req)
	if err != nil {
		return false, fmt.Sprintf("no answer (%v)", err)
	}
	resp := raw.(*kmsg.ProduceResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return false, fmt.Sprintf("malformed answer %+v", resp)
	}
	rpp := resp.Topics[0].Partitions[0]
	if rpp.ErrorCode == 0 {
		return true, fmt.Sprintf("acknowledged at offset %d", rpp.BaseOffset)
	}
	return false, fmt.Sprintf("refused: %v", kerr.ErrorForCode(rpp.ErrorCode))
}

func holdsValue(n *Node, tp TP, value []byte) bool {
	l, _ := ReadLog(n.partitionDir(tp))
	return slices.ContainsFunc(l, func(b StoredBatch) bool { return containsValue(b, value) })
}

func containsValue(b StoredBatch, value []byte) bool {
	return slices.ContainsFunc(b.Values, func(v []byte) bool { return bytes.Equal(v, value) })
}

// finishTopic flushes the producers (bounded), drains the topic and records the checker's verdict.
func finishTopic(ctx context.Context, c *Cluster, r *Report, tl *topicLog, ps []*producer) {
	for _, p := range ps {
		fctx, cancel := context.WithTimeout(ctx, flushWait)
		if err := p.cl.Flush(fctx); err != nil {
			r.Notes = append(r.Notes, fmt.Sprintf("%s producer %d: flush: %v", tl.topic, p.index, err))
		}
		cancel()
	}
	if err := drain(ctx, c.Seeds(), tl); err != nil {
		r.Failures = append(r.Failures, fmt.Sprintf("%s: %v", tl.topic, err))
	}
	tl.mu.Lock()
	var notes []string
	for msg, n := range tl.errs {
		notes = append(notes, fmt.Sprintf("%s: %d sends failed with: %s", tl.topic, n, msg))
	}
	tl.mu.Unlock()
	slices.Sort(notes)
	r.Notes = append(r.Notes, notes...)
	v := harness.Check(tl.history())
	r.Topics = append(r.Topics, TopicVerdict{Topic: tl.topic, Idempotent: tl.idempotent, Verdict: v})
	for _, f := range v.Failures {
		r.Failures = append(r.Failures, tl.topic+": "+f)
	}
	if v.Unresolved > 0 {
		r.Failures = append(r.Failures, fmt.Sprintf("%s: %d records neither acknowledged nor failed within %v of the healed cluster (stuck producer)",
			tl.topic, v.Unresolved, flushWait))
	}
}

// converged is what convergence read from disk.
type converged struct {
	logs map[TP]map[int32][]StoredBatch
	diff string
}

// convergence stops every node cleanly (an unclean exit is a failure), then compares each
// partition's replicas on disk below the high watermark the leader reported before the stop.
func convergence(ctx context.Context, c *Cluster, r *Report, topics []string, partitions int) converged {
	out := converged{logs: map[TP]map[int32][]StoredBatch{}}
	v := c.View(ctx, topics...)
	hws := map[TP]int64{}
	admCl, err := kgo.NewClient(clientOpts(c.Seeds())...)
	if err == nil {
		ends, lerr := kadm.NewClient(admCl).ListEndOffsets(ctx, topics...)
		admCl.Close()
		err = lerr
		ends.Each(func(o kadm.ListedOffset) {
			if o.Err == nil {
				hws[TP{o.Topic, o.Partition}] = o.Offset
			}
		})
	}
	name := fmt.Sprintf("replicas identical below the high watermark (%s)", strings.Join(topics, ", "))
	if err != nil || len(hws) != partitions || len(v.Partitions) != partitions {
		out.diff = fmt.Sprintf("high watermarks unknown: %v (%d of %d)", err, len(hws), partitions)
		r.Checks = append(r.Checks, CheckResult{Name: name, OK: false, Detail: out.diff})
		r.Failures = append(r.Failures, name+": "+out.diff)
		return out
	}
	for _, n := range c.Nodes {
		if err := n.Stop(); err != nil {
			r.Failures = append(r.Failures, err.Error())
		}
	}
	scanLogs(c, r)
	var diffs []string
	var batches int
	for tp, hw := range hws {
		out.logs[tp] = map[int32][]StoredBatch{}
		for _, id := range v.Partitions[tp].Replicas {
			l, err := ReadLog(c.Node(id).partitionDir(tp))
			if err != nil {
				diffs = append(diffs, fmt.Sprintf("%s-%d node %d: %v", tp.Topic, tp.Partition, id, err))
				continue
			}
			out.logs[tp][id] = l
			batches += len(l)
		}
		if d := Divergence(hw, out.logs[tp]); d != "" {
			diffs = append(diffs, fmt.Sprintf("%s-%d: %s", tp.Topic, tp.Partition, d))
		}
	}
	slices.Sort(diffs)
	out.diff = strings.Join(diffs, "; ")
	if out.diff != "" {
		r.Checks = append(r.Checks, CheckResult{Name: name, OK: false, Detail: out.diff})
		r.Failures = append(r.Failures, name+": "+out.diff)
	} else {
		r.Checks = append(r.Checks, CheckResult{Name: name, OK: true,
			Detail: fmt.Sprintf("%d partitions × 3 replicas, %d batches read from the segment files", partitions, batches)})
	}
	return out
}

// scanLogs fails the run for every data race or panic a broker reported in its log (a process
// killed with -9 never gets to exit with the race detector's status, so its log is the record).
// It also notes how many ISR changes the controller refused (each one a Raft entry).
func scanLogs(c *Cluster, r *Report) {
	refused := map[int32]int{}
	for _, n := range c.Nodes {
		b, err := os.ReadFile(filepath.Join(n.Dir, "sluice.log"))
		if err != nil {
			r.Failures = append(r.Failures, fmt.Sprintf("node %d log: %v", n.ID, err))
			continue
		}
		refused[n.ID] = bytes.Count(b, []byte(`msg="ISR change refused"`))
		for _, bad := range []string{"WARNING: DATA RACE", "panic:", "fatal error:"} {
			if k := bytes.Count(b, []byte(bad)); k > 0 {
				i := bytes.Index(b, []byte(bad))
				r.Failures = append(r.Failures, fmt.Sprintf("node %d logged %q %d times (%s), first:\n%s",
					n.ID, bad, k, filepath.Join(n.Dir, "sluice.log"), b[i:min(len(b), i+1500)]))
			}
		}
	}
	r.Notes = append(r.Notes, fmt.Sprintf("ISR changes the controller refused, by proposing node (%s): %v", filepath.Base(c.cfg.Dir), refused))
}

// coordinatorAgreement asks every node (on its real listener) which broker coordinates the
// consumer group: they must all name the same one, or two members that asked different brokers
// are two groups of the same name, each with its own committed offsets. Errors (a coordinator
// still loading) are retried for clusterWait.
func coordinatorAgreement(ctx context.Context, c *Cluster, r *Report) {
	var answers map[int32]int32
	var errs []string
	waitUntil(ctx, clusterWait, func() bool {
		answers, errs = findCoordinators(ctx, c)
		return len(errs) == 0
	})
	named := map[int32]bool{}
	for _, id := range answers {
		named[id] = true
	}
	name := "one coordinator per consumer group"
	detail := fmt.Sprintf("FindCoordinator(%s), asked node → coordinator named: %v", groupName, answers)
	if len(errs) > 0 {
		detail += "; errors: " + strings.Join(errs, "; ")
	}
	ok := len(errs) == 0 && len(named) == 1
	r.Checks = append(r.Checks, CheckResult{Name: name, OK: ok, Detail: detail})
	if !ok {
		r.Failures = append(r.Failures, name+": "+detail)
	}
}

// findCoordinators is each node's answer to FindCoordinator for the group.
func findCoordinators(ctx context.Context, c *Cluster) (map[int32]int32, []string) {
	answers := map[int32]int32{}
	var errs []string
	for _, n := range c.Nodes {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKey, req.CoordinatorKeys = groupName, []string{groupName}
		raw, err := n.Request(ctx, req)
		if err != nil {
			errs = append(errs, fmt.Sprintf("node %d: %v", n.ID, err))
			continue
		}
		resp := raw.(*kmsg.FindCoordinatorResponse)
		id, code := resp.NodeID, resp.ErrorCode
		if len(resp.Coordinators) == 1 {
			id, code = resp.Coordinators[0].NodeID, resp.Coordinators[0].ErrorCode
		}
		if code != 0 {
			errs = append(errs, fmt.Sprintf("node %d: %v", n.ID, kerr.ErrorForCode(code)))
			continue
		}
		answers[n.ID] = id
	}
	return answers, errs
}
