package broker

// Replication wiring: each partition this broker replicates has an engine/replica state machine
// (partition.replica), set up by the first SetPartitionState naming it. A partition never assigned
// stays as it always was: this node its only replica and leader at epoch 0, every append
// committed at once. Once assigned:
//
//   - leader: Produce stamps the leader epoch into batches, acks=all waits for the high
//     watermark (00_produce.go); follower Fetches (ReplicaID ≥ 0) read to the log end and move
//     the follower's LEO, the HW and the ISR (01_fetch.go); a ticker every
//     replica.lag.time.max.ms/2 proposes lagging followers out of the ISR.
//   - follower: a Fetcher per leader broker copies the log (engine/replica); clients get
//     NOT_LEADER_OR_FOLLOWER.
//
// Assignments come from whoever plays controller: SetPartitionState (testCluster in tests, the
// Raft controller's image watcher in controller.go), with the other brokers' addresses from
// SetPeers. ISR changes the leader decides go to the ISRChanger (SetISRChanger); the default one
// commits them locally, at once; ControllerLink commits them as ChangeISR records.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicemq/sluice/engine/meta"
	"github.com/sluicemq/sluice/engine/record"
	"github.com/sluicemq/sluice/engine/replica"
)

// isrChangeTimeout bounds one ISRChanger call (a Raft round trip with the controller).
const isrChangeTimeout = 10 * time.Second

// Peer is another broker of the cluster: what Metadata lists and followers connect to.
type Peer struct {
	NodeID int32
	Host   string
	Port   int32
	Rack   string // broker.rack; "" when none
}

// PartitionState is a partition's replicas and leadership as the controller decides them
// (engine/meta's Partition, by topic name).
type PartitionState struct {
	Topic          string
	Partition      int32
	Replicas       []int32
	ISR            []int32
	Leader         int32 // -1: no leader
	LeaderEpoch    int32
	PartitionEpoch int32
}

// replication is the broker's replication state beside its partitions.
type replication struct {
	peers   atomic.Pointer[map[int32]Peer]
	changer atomic.Pointer[isrChangerBox]

	mu       sync.Mutex
	fetchers map[int32]*replica.Fetcher // by leader
	ticking  bool
	stopTick chan struct{}
	stopped  bool           // by Close: no new fetcher, ticker or goroutine below
	async    sync.WaitGroup // ISR proposals in flight and idle fetchers stopping; Add under mu

	// ISR changes applied as leader (metrics_replication.go).
	isrShrinks, isrExpands atomic.Int64
}

type isrChangerBox struct{ c replica.ISRChanger }

// isStopped reports whether Close has begun stopping replication.
func (r *replication) isStopped() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stopped
}

// SetPeers sets the other brokers of the cluster (this node may be among them; it is skipped).
// Followers connect to their leaders at these addresses; Metadata lists them.
func (b *Broker) SetPeers(peers []Peer) {
	m := make(map[int32]Peer, len(peers))
	for _, p := range peers {
		if p.NodeID != b.cfg.NodeID {
			m[p.NodeID] = p
		}
	}
	b.repl.peers.Store(&m)
}

// peers returns the other brokers, sorted by id.
func (b *Broker) peerList() []Peer {
	m := b.repl.peers.Load()
	if m == nil {
		return nil
	}
	out := make([]Peer, 0, len(*m))
	for _, p := range *m {
		out = append(out, p)
	}
	slices.SortFunc(out, func(x, y Peer) int { return int(x.NodeID) - int(y.NodeID) })
	return out
}

func (b *Broker) peerAddr(id int32) (string, bool) {
	m := b.repl.peers.Load()
	if m == nil {
		return "", false
	}
	p, ok := (*m)[id]
	if !ok {
		return "", false
	}
	return net.JoinHostPort(p.Host, strconv.Itoa(int(p.Port))), true
}

// SetISRChanger replaces where the leader's ISR changes go (the controller, in a cluster). The
// default commits them on this broker alone.
func (b *Broker) SetISRChanger(c replica.ISRChanger) {
	b.repl.changer.Store(&isrChangerBox{c})
}

func (b *Broker) isrChanger() replica.ISRChanger {
	if box := b.repl.changer.Load(); box != nil {
		return box.c
	}
	return localISRChanger{b}
}

// localISRChanger commits an ISR change on this broker at once, checking its epochs as the
// controller will (a change decided on a state that has moved is refused).
type localISRChanger struct{ b *Broker }

func (l localISRChanger) ChangeISR(_ context.Context, ch replica.ISRChange) error {
	cur, ok := l.b.PartitionState(ch.Topic, ch.Partition)
	if !ok {
		return fmt.Errorf("%s: not replicated here", ch.TopicPartition)
	}
	if cur.Leader != ch.BrokerID || cur.LeaderEpoch != ch.LeaderEpoch || cur.PartitionEpoch != ch.PartitionEpoch {
		return fmt.Errorf("%s: stale ISR change (leader %d epochs %d/%d, now leader %d epochs %d/%d)", ch.TopicPartition,
			ch.BrokerID, ch.LeaderEpoch, ch.PartitionEpoch, cur.Leader, cur.LeaderEpoch, cur.PartitionEpoch)
	}
	cur.ISR, cur.PartitionEpoch = ch.ISR, cur.PartitionEpoch+1
	return l.b.SetPartitionState(cur)
}

// EnsureTopic creates a topic with these partitions and configs unless it exists (the controller
// applying a CreateTopic record). Its partitions stay unreplicated until SetPartitionState.
func (b *Broker) EnsureTopic(name string, partitions int32, configs map[string]string) error {
	if !validTopicName(name) {
		return fmt.Errorf("topic name %q is illegal", name)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if t := b.topics[name]; t != nil {
		if int32(len(t.partitions)) < partitions {
			return b.growTopicLocked(t, partitions)
		}
		return nil
	}
	if configs == nil {
		configs = map[string]string{}
	}
	_, err := b.createTopicLocked(name, partitions, configs)
	return err
}

// replicaConfig is a partition's replication configuration from its topic's configs.
func (b *Broker) replicaConfig(configs map[string]string) replica.Config {
	c := replica.Config{MinInsyncReplicas: b.minInsyncReplicas(), ReplicaLagTimeMaxMs: b.cfg.ReplicaLagTimeMaxMs}
	if v, ok := configs["min.insync.replicas"]; ok {
		if n, err := strconv.ParseInt(v, 10, 32); err == nil && n >= 1 {
			c.MinInsyncReplicas = int32(n)
		}
	}
	return c
}

func (b *Broker) minInsyncReplicas() int32 {
	return max(b.cfg.MinInsyncReplicas, replica.DefaultMinInsyncReplicas)
}

// replicaOf returns p's replica state, creating it on first use.
func (b *Broker) replicaOf(p *partition) *replica.Partition {
	if rp := p.replica.Load(); rp != nil {
		return rp
	}
	b.mu.Lock()
	cfg := b.replicaConfig(nil)
	if t := b.topics[p.topic.name]; t != nil { // p.topic may be an older copy (CreatePartitions)
		cfg = b.replicaConfig(t.configs)
	}
	b.mu.Unlock()
	publish := p.log.SetHighWatermark
	if p.topic.name == offsetsTopic { // the offsets applier follows its high watermark
		publish = func(hw int64) { p.log.SetHighWatermark(hw); b.kickOffsets(p) }
	}
	rp := replica.New(replica.TopicPartition{Topic: p.topic.name, Partition: p.index}, b.cfg.NodeID, cfg,
		replica.Hooks{PublishHighWatermark: publish, Eligible: b.replicaEligible})
	if !p.replica.CompareAndSwap(nil, rp) {
		return p.replica.Load()
	}
	return rp
}

// replicaEligible reports whether broker id may join an ISR (replica.Hooks.Eligible): in cluster
// mode, a registered broker this broker's metadata image does not show fenced (the controller
// judges again on its own image); a single node has no other brokers to judge. Lock-free.
func (b *Broker) replicaEligible(id int32) bool {
	l := b.link.Load()
	if l == nil {
		return true
	}
	img := l.Image()
	if img == nil {
		return true
	}
	br := img.Broker(id)
	return br != nil && !br.Fenced
}

// SetPartitionState installs a partition's assignment on this broker: it becomes the partition's
// leader, a follower fetching from the leader, or neither, as the state says. The topic must
// exist here (EnsureTopic). An assignment older than the current one is refused. This is what the
// controller will call for every partition change in its image.
func (b *Broker) SetPartitionState(ps PartitionState) error {
	if b.closed.Load() {
		return errors.New("broker closed")
	}
	p := b.lookupPartition(ps.Topic, ps.Partition)
	if p == nil {
		return fmt.Errorf("partition %s-%d: %w", ps.Topic, ps.Partition, errUnknownPartition)
	}
	a := replica.Assignment{Replicas: ps.Replicas, ISR: ps.ISR, Leader: ps.Leader, LeaderEpoch: ps.LeaderEpoch, PartitionEpoch: ps.PartitionEpoch}
	if err := a.Validate(); err != nil { // before the partition becomes replicated
		return fmt.Errorf("partition %s-%d: %w", ps.Topic, ps.Partition, err)
	}
	rp := b.replicaOf(p)

	p.stateMu.Lock()
	defer p.stateMu.Unlock()
	prev := rp.View()
	now := time.Now().UnixMilli()
	var tr replica.Transition
	var err error
	if prev.Role != replica.RoleNone && prev.Leader == a.Leader && prev.LeaderEpoch == a.LeaderEpoch && a.IsReplica(b.cfg.NodeID) {
		// The ISR or replicas within one leader epoch: no role change, appends may go on.
		tr, err = rp.Apply(a, p.log.LogEndOffset(), p.log.HighWatermark(), now)
	} else {
		// A role or leader epoch change: hold off appends (produce and the follower's fetcher
		// take p.mu) so none is stamped with the old epoch after it, and record the new epoch's
		// start before any batch of it.
		p.mu.Lock()
		tr, err = rp.Apply(a, p.log.LogEndOffset(), p.log.HighWatermark(), now)
		if err == nil && tr.To == replica.RoleLeader {
			if aerr := p.log.MaybeAssignEpochStartOffset(a.LeaderEpoch); aerr != nil {
				// The epoch is recorded with its first batch instead; until then followers asking
				// for an epoch between the last written and this one back off and ask again.
				b.logger.Warn("recording the leader epoch's start failed", "topic", ps.Topic, "partition", ps.Partition, "epoch", a.LeaderEpoch, "err", aerr)
			}
		}
		p.mu.Unlock()
	}
	if err != nil {
		return fmt.Errorf("partition %s-%d: %w", ps.Topic, ps.Partition, err)
	}
	b.countISRChange(prev, a)
	if tr.From != tr.To || tr.NewLeaderEpoch {
		b.logger.Info("partition assignment", "topic", ps.Topic, "partition", ps.Partition, "role", tr.To.String(),
			"leader", a.Leader, "leader_epoch", a.LeaderEpoch, "isr", a.ISR)
	}
	// Followers fetch from their leader; anyone else fetches nothing.
	switch {
	case tr.To == replica.RoleFollower && a.Leader != replica.NoLeader && (tr.From != replica.RoleFollower || tr.NewLeaderEpoch):
		b.follow(p, a.Leader, a.LeaderEpoch)
	case tr.To != replica.RoleFollower || a.Leader == replica.NoLeader:
		b.unfollow(p, -1)
	}
	if tr.To == replica.RoleLeader {
		b.startTicker()
	}
	// Parked requests re-check: produces waiting for a HW this node no longer leads, fetches
	// for a partition it no longer leads, and anyone a new HW satisfies.
	b.notifyAppend()
	b.kickOffsets(p) // the offsets applier loads or unloads the partition's groups
	return nil
}

// errUnknownPartition: the topic or partition does not exist on this broker.
var errUnknownPartition = errors.New("unknown topic or partition")

// PartitionState returns a replicated partition's current assignment.
func (b *Broker) PartitionState(topic string, partition int32) (PartitionState, bool) {
	p := b.lookupPartition(topic, partition)
	if p == nil {
		return PartitionState{}, false
	}
	rp := p.replica.Load()
	if rp == nil {
		return PartitionState{}, false
	}
	v := rp.View()
	if v.LeaderEpoch < 0 {
		return PartitionState{}, false
	}
	return PartitionState{Topic: topic, Partition: partition, Replicas: slices.Clone(v.Replicas), ISR: slices.Clone(v.ISR),
		Leader: v.Leader, LeaderEpoch: v.LeaderEpoch, PartitionEpoch: v.PartitionEpoch}, true
}

// ReplicaStatus returns a replicated partition's state machine snapshot (tests, metrics).
func (b *Broker) ReplicaStatus(topic string, partition int32) (replica.Status, bool) {
	p := b.lookupPartition(topic, partition)
	if p == nil || p.replica.Load() == nil {
		return replica.Status{}, false
	}
	return p.replica.Load().Status(), true
}

// follow moves p to the fetcher for leader, restarting it at truncation.
func (b *Broker) follow(p *partition, leader, epoch int32) {
	b.unfollow(p, leader)
	b.repl.mu.Lock()
	defer b.repl.mu.Unlock() // Add under it too: an unfollow must not stop the fetcher in between
	if b.repl.stopped {
		return // Close has stopped (or is stopping) every fetcher
	}
	if b.repl.fetchers == nil {
		b.repl.fetchers = map[int32]*replica.Fetcher{}
	}
	f := b.repl.fetchers[leader]
	if f == nil {
		f = replica.StartFetcher(replica.FetcherConfig{
			NodeID:                b.cfg.NodeID,
			Leader:                leader,
			LeaderAddr:            func() (string, bool) { return b.peerAddr(leader) },
			FetchWaitMaxMs:        b.cfg.ReplicaFetchWaitMaxMs,
			FetchMaxBytes:         b.cfg.ReplicaFetchMaxBytes,
			FetchResponseMaxBytes: b.cfg.ReplicaFetchResponseMaxBytes,
			FetchBackoffMs:        b.cfg.ReplicaFetchBackoffMs,
			SocketTimeoutMs:       b.cfg.ReplicaSocketTimeoutMs,
			Logger:                b.logger,
		})
		b.repl.fetchers[leader] = f
	}
	f.Add(followerTarget{b: b, p: p}, epoch)
}

// unfollow removes p from every fetcher but keep's, stopping fetchers left idle. Fetchers stop on
// their own goroutine: one may be waiting for a partition lock the caller's caller holds.
func (b *Broker) unfollow(p *partition, keep int32) {
	tp := replica.TopicPartition{Topic: p.topic.name, Partition: p.index}
	b.repl.mu.Lock()
	defer b.repl.mu.Unlock()
	for id, f := range b.repl.fetchers {
		if id == keep {
			continue
		}
		if f.Remove(tp) == 0 {
			delete(b.repl.fetchers, id)
			b.repl.async.Add(1)
			go func() {
				defer b.repl.async.Done()
				f.Stop()
			}()
		}
	}
}

// startTicker starts the ISR expiration task once this broker leads a replicated partition.
func (b *Broker) startTicker() {
	b.repl.mu.Lock()
	defer b.repl.mu.Unlock()
	if b.repl.ticking || b.repl.stopped {
		return
	}
	b.repl.ticking = true
	b.repl.stopTick = make(chan struct{})
	stop := b.repl.stopTick
	lagMs := b.cfg.ReplicaLagTimeMaxMs
	if lagMs <= 0 {
		lagMs = replica.DefaultReplicaLagTimeMaxMs
	}
	b.repl.async.Add(1)
	go func() {
		defer b.repl.async.Done()
		t := time.NewTicker(max(time.Duration(lagMs)*time.Millisecond/2, time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				b.tickISR()
			}
		}
	}()
}

// tickISR runs the ISR expiration check on every partition this broker leads.
func (b *Broker) tickISR() {
	now := time.Now().UnixMilli()
	for _, t := range *b.topicsView.Load() {
		for _, p := range t.partitions {
			rp := p.replica.Load()
			if rp == nil || rp.View().Role != replica.RoleLeader {
				continue
			}
			b.afterReplicaUpdate(rp, rp.Tick(p.log.LogEndOffset(), now))
		}
	}
}

// afterReplicaUpdate acts on what a state machine call changed: wakes waiters on a new HW and
// hands an ISR proposal to the changer on its own goroutine. Never blocks: safe on event loops.
func (b *Broker) afterReplicaUpdate(rp *replica.Partition, u replica.Update) {
	if u.HighWatermarkAdvanced {
		b.notifyAppend()
	}
	if u.Propose == nil {
		return
	}
	ch := *u.Propose
	b.repl.mu.Lock()
	defer b.repl.mu.Unlock()
	if b.repl.stopped {
		rp.AbortISRChange(ch.PartitionEpoch)
		return
	}
	b.repl.async.Add(1)
	go func() {
		defer b.repl.async.Done()
		b.logger.Info("proposing ISR change", "topic", ch.Topic, "partition", ch.Partition, "isr", ch.ISR,
			"leader_epoch", ch.LeaderEpoch, "partition_epoch", ch.PartitionEpoch)
		for attempt := 1; ; attempt++ {
			ctx, cancel := context.WithTimeout(context.Background(), isrChangeTimeout)
			err := b.isrChanger().ChangeISR(ctx, ch)
			cancel()
			switch outcome := isrChangeOutcome(err); {
			case outcome == isrChangeDone:
				return
			case outcome == isrChangeRefused:
				b.logger.Warn("ISR change refused", "topic", ch.Topic, "partition", ch.Partition, "isr", ch.ISR, "err", err)
				rp.AbortISRChange(ch.PartitionEpoch)
				return
			case outcome == isrChangeSuperseded:
				// The controller's partition has moved on — perhaps by this very change, committed
				// before an earlier attempt's answer was lost. The pending ISR stays (the HW keeps
				// respecting the members it would add) until the image that moved it arrives here;
				// applying it clears the pending change.
				b.logger.Info("ISR change superseded; waiting for the controller's state", "topic", ch.Topic,
					"partition", ch.Partition, "isr", ch.ISR, "err", err)
				return
			}
			// Unknown outcome (a timeout, a lost connection, a controller that lost leadership
			// with the proposal in flight): it may still commit, so the pending ISR stays and the
			// same change is proposed again until the answer is definite or the partition's epoch
			// has moved here.
			if b.repl.isStopped() || rp.View().PartitionEpoch != ch.PartitionEpoch || rp.View().Role != replica.RoleLeader {
				return
			}
			b.logger.Warn("ISR change outcome unknown; proposing again", "topic", ch.Topic, "partition", ch.Partition,
				"isr", ch.ISR, "attempt", attempt, "err", err)
			time.Sleep(isrChangeRetryBackoff)
		}
	}()
}

// isrChangeRetryBackoff spaces the attempts of an ISR change whose outcome was unknown.
const isrChangeRetryBackoff = 200 * time.Millisecond

// The outcomes of an ISR change proposal, as far as the leader can tell.
const (
	isrChangeDone       = iota // committed
	isrChangeRefused           // decided against: it never committed and never will
	isrChangeSuperseded        // the partition epoch moved on: the image will say what happened
	isrChangeUnknown           // no definite answer: it may yet commit
)

// isrChangeOutcome classifies ChangeISR's error. Only a refusal may drop the pending ISR at once:
// dropping an expansion that in fact committed would let the HW pass a member the controller
// counts as in sync (KIP-497's reason to keep the maximal ISR until the answer is known).
func isrChangeOutcome(err error) int {
	var kc *kafkaCodeError
	switch {
	case err == nil:
		return isrChangeDone
	case errors.Is(err, meta.ErrStalePartitionEpoch):
		return isrChangeSuperseded
	case errors.Is(err, meta.ErrFencedLeaderEpoch), errors.Is(err, meta.ErrNotLeader),
		errors.Is(err, meta.ErrIneligibleReplica), errors.Is(err, meta.ErrInvalidISR),
		errors.Is(err, meta.ErrUnknownTopic), errors.Is(err, meta.ErrUnknownPartition):
		return isrChangeRefused
	case errors.As(err, &kc): // the active controller's answer over the network
		switch kc.code {
		case errInvalidUpdateVersion:
			return isrChangeSuperseded
		case errFencedLeaderEpoch, errNotLeaderOrFollower, errIneligibleReplica, errInvalidRequest,
			errUnknownTopicOrPartition:
			return isrChangeRefused
		}
	}
	return isrChangeUnknown
}

// stopReplication stops the ticker and every fetcher and waits for proposals in flight. Called by
// Close before the logs close.
func (b *Broker) stopReplication() {
	b.repl.mu.Lock()
	b.repl.stopped = true
	fetchers := b.repl.fetchers
	b.repl.fetchers = nil
	if b.repl.ticking {
		close(b.repl.stopTick)
		b.repl.ticking = false
	}
	b.repl.mu.Unlock()
	for _, f := range fetchers {
		f.Stop()
	}
	b.repl.async.Wait()
}

// followerTarget is the follower side of one local partition for its fetcher. Every change is
// made under p.mu after checking the partition still follows in the fetcher's leader epoch.
type followerTarget struct {
	b *Broker
	p *partition
}

func (t followerTarget) TopicPartition() replica.TopicPartition {
	return replica.TopicPartition{Topic: t.p.topic.name, Partition: t.p.index}
}
func (t followerTarget) LogStartOffset() int64 { return t.p.log.LogStartOffset() }
func (t followerTarget) LogEndOffset() int64   { return t.p.log.LogEndOffset() }
func (t followerTarget) LatestEpoch() int32    { return t.p.log.LatestEpoch() }
func (t followerTarget) EndOffsetForEpoch(e int32) (int32, int64) {
	return t.p.log.EndOffsetForEpoch(e)
}

// following checks the partition still follows in leaderEpoch. Caller holds p.mu (role and epoch
// changes take it).
func (t followerTarget) following(leaderEpoch int32) error {
	rp := t.p.replica.Load()
	if rp == nil {
		return replica.ErrFenced
	}
	if v := rp.View(); v.Role != replica.RoleFollower || v.LeaderEpoch != leaderEpoch {
		return replica.ErrFenced
	}
	return nil
}

func (t followerTarget) Truncate(leaderEpoch int32, offset int64) error {
	p := t.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := t.following(leaderEpoch); err != nil {
		return err
	}
	if hw := p.log.HighWatermark(); offset < hw {
		t.b.logger.Warn("follower truncating below its high watermark", "topic", p.topic.name, "partition", p.index, "offset", offset, "high_watermark", hw)
	}
	cut := offset < p.log.LogEndOffset()
	if err := p.log.Truncate(offset); err != nil {
		return err
	}
	if cut {
		t.b.offsetsTruncated(p, offset) // the offsets applier rebuilds what it applied past it
		return p.rebuildProducerState()
	}
	return nil
}

func (t followerTarget) TruncateFully(leaderEpoch int32, offset int64) error {
	p := t.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := t.following(leaderEpoch); err != nil {
		return err
	}
	if err := p.log.TruncateFully(offset); err != nil {
		return err
	}
	t.b.offsetsTruncated(p, 0) // all of it: the offsets applier starts again from the log
	return p.rebuildProducerState()
}

// Append stores the leader's batches as they are. Runs on the fetcher's goroutine.
func (t followerTarget) Append(leaderEpoch int32, fetchOffset int64, batches []byte) error {
	p := t.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := t.following(leaderEpoch); err != nil {
		return err
	}
	if leo := p.log.LogEndOffset(); leo != fetchOffset {
		return fmt.Errorf("fetched from %d, log end is now %d", fetchOffset, leo)
	}
	for len(batches) >= record.HeaderSize {
		if record.PeekSize(batches) > len(batches) {
			break // a partial batch at the end of the response: fetched again next time
		}
		b, err := record.ValidateStored(batches)
		if err != nil {
			return fmt.Errorf("batch from the leader at offset %d: %w", record.Batch(batches).BaseOffset(), err)
		}
		batches = batches[b.Size():]
		leo := p.log.LogEndOffset()
		if b.NextOffset() <= leo {
			continue // already held
		}
		if b.BaseOffset() < leo && leo == p.log.LogStartOffset() {
			// An empty log restarted at the leader's log start, which DeleteRecords left inside
			// this batch: start the log at the batch instead (Kafka does the same); the log start
			// offset moves back up to the leader's with UpdateFromLeader.
			if err := p.log.TruncateFully(b.BaseOffset()); err != nil {
				return err
			}
			leo = b.BaseOffset()
		}
		if b.BaseOffset() != leo {
			return fmt.Errorf("batch from the leader at offset %d, log end is %d", b.BaseOffset(), leo)
		}
		if _, err := p.log.AppendAsFollower(b); err != nil {
			return err
		}
		if pid := b.ProducerID(); pid >= 0 {
			st := p.producers[pid]
			if st == nil {
				st = &producerState{epoch: b.ProducerEpoch()}
				p.producers[pid] = st
			}
			st.record(b, b.BaseOffset())
		}
	}
	// Write-behind: the next fetch reports the log end to the leader as this replica's, and the
	// high watermark (what acks=all promises) follows it, so it must be written by then.
	return p.log.WaitWritten()
}

func (t followerTarget) UpdateFromLeader(leaderEpoch int32, hw, logStart int64) error {
	p := t.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := t.following(leaderEpoch); err != nil {
		return err
	}
	if hw = min(hw, p.log.LogEndOffset()); hw > p.log.HighWatermark() {
		p.log.SetHighWatermark(hw)
		t.b.kickOffsets(p) // the offsets applier applies up to it
	}
	if start := min(logStart, p.log.HighWatermark()); start > p.log.LogStartOffset() {
		return p.log.DeleteBefore(start)
	}
	return nil
}

// rebuildProducerState recomputes the idempotence state after the log lost its tail. Caller holds
// p.mu.
func (p *partition) rebuildProducerState() error {
	p.producers = map[int64]*producerState{}
	return p.loadProducerState()
}
