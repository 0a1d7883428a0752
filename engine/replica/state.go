package replica

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
)

// NoLeader is Assignment.Leader when no replica leads (engine/meta's NoLeader).
const NoLeader int32 = -1

// Kafka's defaults for the replication settings this package honours.
const (
	DefaultReplicaLagTimeMaxMs = 30000 // replica.lag.time.max.ms
	DefaultMinInsyncReplicas   = 1     // min.insync.replicas
)

// Errors of the state machine. The broker maps them to Kafka codes (NOT_LEADER_OR_FOLLOWER,
// NOT_ENOUGH_REPLICAS, …); ErrStaleAssignment goes back to whoever assigned.
var (
	ErrNotLeader         = errors.New("replica: not the leader")
	ErrNotEnoughReplicas = errors.New("replica: in-sync replicas fewer than min.insync.replicas")
	ErrUnknownReplica    = errors.New("replica: not a replica of the partition")
	ErrStaleAssignment   = errors.New("replica: assignment older than the current one")
	ErrBadAssignment     = errors.New("replica: invalid assignment")
)

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

func (tp TopicPartition) String() string { return fmt.Sprintf("%s-%d", tp.Topic, tp.Partition) }

// Assignment is a partition's replicas and leadership as the controller decides them (engine/meta's
// Partition). Replicas[0] is the preferred leader; ISR is kept in Replicas order here.
type Assignment struct {
	Replicas       []int32
	ISR            []int32
	Leader         int32 // NoLeader when none
	LeaderEpoch    int32
	PartitionEpoch int32
}

// Clone returns a copy that shares no slices with a.
func (a Assignment) Clone() Assignment {
	a.Replicas, a.ISR = slices.Clone(a.Replicas), slices.Clone(a.ISR)
	return a
}

// IsReplica reports whether id holds a replica.
func (a *Assignment) IsReplica(id int32) bool { return slices.Contains(a.Replicas, id) }

// InISR reports whether id is in the ISR.
func (a *Assignment) InISR(id int32) bool { return slices.Contains(a.ISR, id) }

// Validate checks what engine/meta's invariants promise of any assignment it hands out.
func (a *Assignment) Validate() error {
	if len(a.Replicas) == 0 {
		return fmt.Errorf("%w: no replicas", ErrBadAssignment)
	}
	for i, r := range a.Replicas {
		if r < 0 || slices.Contains(a.Replicas[:i], r) {
			return fmt.Errorf("%w: replicas %v", ErrBadAssignment, a.Replicas)
		}
	}
	if len(a.ISR) == 0 {
		return fmt.Errorf("%w: empty ISR", ErrBadAssignment)
	}
	for i, r := range a.ISR {
		if !a.IsReplica(r) || slices.Contains(a.ISR[:i], r) {
			return fmt.Errorf("%w: ISR %v of replicas %v", ErrBadAssignment, a.ISR, a.Replicas)
		}
	}
	if a.Leader != NoLeader && !a.InISR(a.Leader) {
		return fmt.Errorf("%w: leader %d outside the ISR %v", ErrBadAssignment, a.Leader, a.ISR)
	}
	if a.LeaderEpoch < 0 || a.PartitionEpoch < 0 {
		return fmt.Errorf("%w: negative epoch", ErrBadAssignment)
	}
	return nil
}

// Role is what this broker is for a partition.
type Role uint8

const (
	RoleNone     Role = iota // not a replica, or nothing assigned yet
	RoleLeader               // Assignment.Leader is this node
	RoleFollower             // a replica led by another node (or by nobody, for now)
)

func (r Role) String() string {
	switch r {
	case RoleLeader:
		return "leader"
	case RoleFollower:
		return "follower"
	}
	return "none"
}

// View is an immutable snapshot of a partition's assignment and role, read without a lock.
type View struct {
	Assignment
	Role Role
}

// Config is a partition's replication configuration.
type Config struct {
	MinInsyncReplicas   int32 // min.insync.replicas (topic, else broker)
	ReplicaLagTimeMaxMs int64 // replica.lag.time.max.ms
}

func (c Config) normalized() Config {
	if c.MinInsyncReplicas < 1 {
		c.MinInsyncReplicas = DefaultMinInsyncReplicas
	}
	if c.ReplicaLagTimeMaxMs <= 0 {
		c.ReplicaLagTimeMaxMs = DefaultReplicaLagTimeMaxMs
	}
	return c
}

// ISRChange is a leader's proposal to change its partition's ISR (engine/meta's ChangeISR, Kafka's
// AlterPartition): it names the leader epoch and partition epoch it was decided on, so a change
// decided on a state that has since moved is rejected.
type ISRChange struct {
	TopicPartition
	BrokerID       int32 // the proposing leader
	LeaderEpoch    int32
	PartitionEpoch int32
	ISR            []int32
}

// ISRChanger commits ISR changes: the controller's job. ChangeISR returns once ch is committed, or
// with why it was not (a stale epoch, no controller). A committed change reaches the partition as
// an assignment with a higher PartitionEpoch, applied through the broker like any other; until
// then the proposal stays pending. It may block (a Raft round trip), so the broker calls it on its
// own goroutine, and reports a failure with Partition.AbortISRChange.
type ISRChanger interface {
	ChangeISR(ctx context.Context, ch ISRChange) error
}

// Hooks connect a Partition to its log.
type Hooks struct {
	// PublishHighWatermark makes a new HW visible to readers (log.SetHighWatermark). Called with
	// the partition's lock held, so calls are ordered; must not block.
	PublishHighWatermark func(hw int64)
	// Eligible reports whether broker id may join the ISR now (KIP-841): a fenced broker may still
	// fetch and catch up, but the controller refuses it in an ISR, so the leader does not propose
	// it, as Kafka's leader consults its metadata cache. Without this check a fenced follower that
	// keeps fetching draws a refused proposal on every fetch. Called with the partition's lock
	// held; must not block. Nil: every replica is eligible.
	Eligible func(id int32) bool
}

// followerState is the leader's view of one follower (Kafka's Replica state).
type followerState struct {
	id                 int32
	leo                int64 // -1: unknown since this node became leader
	lastCaughtUpMs     int64 // when its LEO last reached the leader's
	lastFetchLeaderLEO int64 // the leader's LEO at its previous fetch
	lastFetchMs        int64
}

// Partition is the replication state of one partition on this broker. See the package doc for
// the state machine and its invariants. Safe for concurrent use.
type Partition struct {
	tp    TopicPartition
	self  int32
	hooks Hooks

	mu  sync.Mutex
	cfg Config
	a   Assignment
	// role and assignment for lock-free readers; replaced, never changed, under mu.
	view atomic.Pointer[View]

	// Leader only.
	hw               int64
	epochStartOffset int64
	followers        []followerState // every replica but this node, in Replicas order
	pending          []int32         // a proposed ISR not yet applied; nil when none
}

// New returns the state of partition tp on broker self, with nothing assigned (RoleNone).
func New(tp TopicPartition, self int32, cfg Config, hooks Hooks) *Partition {
	if hooks.PublishHighWatermark == nil {
		panic("BUG: replica.New without PublishHighWatermark")
	}
	p := &Partition{tp: tp, self: self, hooks: hooks, cfg: cfg.normalized()}
	p.a = Assignment{Leader: NoLeader, LeaderEpoch: -1, PartitionEpoch: -1}
	p.view.Store(&View{Assignment: p.a})
	return p
}

// TopicPartition names the partition.
func (p *Partition) TopicPartition() TopicPartition { return p.tp }

// View returns the current assignment and role without a lock. Do not modify its slices.
func (p *Partition) View() *View { return p.view.Load() }

// SetConfig changes min.insync.replicas or replica.lag.time.max.ms.
func (p *Partition) SetConfig(cfg Config) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cfg = cfg.normalized()
}

// Config returns the partition's replication configuration.
func (p *Partition) Config() Config {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cfg
}

// Transition says what Apply changed, for the broker to act on.
type Transition struct {
	From, To Role
	// NewLeaderEpoch: the leader or leader epoch changed (a follower must truncate and fetch
	// afresh; a leader's epoch must be stamped from now on).
	NewLeaderEpoch bool
	Update
}

// Update is what a call changed that the caller must act on.
type Update struct {
	// HighWatermark is the HW after the call; HighWatermarkAdvanced says it moved (it has been
	// published: wake whoever waits on it).
	HighWatermark         int64
	HighWatermarkAdvanced bool
	// Propose, when set, is an ISR change to hand to the ISRChanger.
	Propose *ISRChange
}

// Apply installs an assignment. leo and hw are the local log's end offset and high watermark; nowMs
// the current time. The caller must make Apply and the log's epoch bookkeeping atomic with
// respect to appends (the broker holds its partition lock when the role or leader epoch changes).
func (p *Partition) Apply(a Assignment, leo, hw, nowMs int64) (Transition, error) {
	if err := a.Validate(); err != nil {
		return Transition{}, err
	}
	a = a.Clone()
	slices.SortStableFunc(a.ISR, func(x, y int32) int { return slices.Index(a.Replicas, x) - slices.Index(a.Replicas, y) })
	p.mu.Lock()
	defer p.mu.Unlock()
	cur := p.a
	switch {
	case a.LeaderEpoch < cur.LeaderEpoch,
		a.LeaderEpoch == cur.LeaderEpoch && a.PartitionEpoch < cur.PartitionEpoch:
		return Transition{}, fmt.Errorf("%w: %s leader epoch %d partition epoch %d, have %d and %d",
			ErrStaleAssignment, p.tp, a.LeaderEpoch, a.PartitionEpoch, cur.LeaderEpoch, cur.PartitionEpoch)
	case a.LeaderEpoch == cur.LeaderEpoch && a.PartitionEpoch == cur.PartitionEpoch:
		if a.Leader != cur.Leader || !slices.Equal(a.Replicas, cur.Replicas) || !slices.Equal(a.ISR, cur.ISR) {
			return Transition{}, fmt.Errorf("%w: %s partition epoch %d assigned twice, differently", ErrBadAssignment, p.tp, a.PartitionEpoch)
		}
		v := p.view.Load()
		return Transition{From: v.Role, To: v.Role, Update: Update{HighWatermark: p.hw}}, nil
	case a.LeaderEpoch == cur.LeaderEpoch && a.Leader != cur.Leader:
		return Transition{}, fmt.Errorf("%w: %s leader changed from %d to %d within leader epoch %d", ErrBadAssignment, p.tp, cur.Leader, a.Leader, a.LeaderEpoch)
	}
	from := p.view.Load().Role
	to := RoleNone
	switch {
	case a.Leader == p.self:
		to = RoleLeader
	case a.IsReplica(p.self):
		to = RoleFollower
	}
	tr := Transition{From: from, To: to, NewLeaderEpoch: a.LeaderEpoch != cur.LeaderEpoch}
	p.a = a
	p.pending = nil // the controller has answered whatever was proposed
	if to == RoleLeader && (from != RoleLeader || tr.NewLeaderEpoch) {
		p.becomeLeader(leo, hw, nowMs)
	} else if to == RoleLeader {
		p.syncFollowers(nowMs)
	} else {
		p.followers = nil
		p.hw = hw
	}
	p.view.Store(&View{Assignment: a, Role: to})
	tr.HighWatermark = p.hw
	if to == RoleLeader {
		tr.Update = p.maybeAdvanceHighWatermark(leo)
	}
	return tr, nil
}

// becomeLeader resets the leader's view of its followers (Kafka's makeLeader). Caller holds p.mu.
func (p *Partition) becomeLeader(leo, hw, nowMs int64) {
	p.hw = min(hw, leo)
	p.epochStartOffset = leo
	p.followers = p.followers[:0]
	for _, r := range p.a.Replicas {
		if r == p.self {
			continue
		}
		f := followerState{id: r, leo: -1, lastFetchLeaderLEO: -1}
		if p.a.InISR(r) {
			f.lastCaughtUpMs = nowMs // in sync as of now: give it the lag time to show it
		}
		p.followers = append(p.followers, f)
	}
}

// syncFollowers keeps the followers' state across a change of replicas or ISR within one leader
// epoch: known replicas keep theirs, new ones start unknown. Caller holds p.mu.
func (p *Partition) syncFollowers(nowMs int64) {
	old := p.followers
	p.followers = make([]followerState, 0, len(p.a.Replicas))
	for _, r := range p.a.Replicas {
		if r == p.self {
			continue
		}
		f := followerState{id: r, leo: -1, lastFetchLeaderLEO: -1}
		if i := slices.IndexFunc(old, func(o followerState) bool { return o.id == r }); i >= 0 {
			f = old[i]
		} else if p.a.InISR(r) {
			f.lastCaughtUpMs = nowMs
		}
		p.followers = append(p.followers, f)
	}
}

func (p *Partition) follower(id int32) *followerState {
	for i := range p.followers {
		if p.followers[i].id == id {
			return &p.followers[i]
		}
	}
	return nil
}

// maximalISR is the ISR the HW must respect: the current one and any member a pending change
// would add (a pending shrink's leavers are still in the current ISR). Caller holds p.mu.
func (p *Partition) inMaximalISR(id int32) bool {
	return p.a.InISR(id) || slices.Contains(p.pending, id)
}

// maybeAdvanceHighWatermark moves the HW to the smallest LEO in the maximal ISR, if that is larger
// and the ISR is at least min.insync.replicas strong. Caller holds p.mu; p is the leader.
func (p *Partition) maybeAdvanceHighWatermark(leo int64) Update {
	u := Update{HighWatermark: p.hw}
	if int32(len(p.a.ISR)) < p.cfg.MinInsyncReplicas {
		return u // KIP-966: the last replica standing commits nothing alone
	}
	hw := leo
	for i := range p.followers {
		f := &p.followers[i]
		if !p.inMaximalISR(f.id) {
			continue
		}
		if f.leo < 0 {
			return u // not heard from since this node became leader
		}
		hw = min(hw, f.leo)
	}
	if hw > p.hw {
		p.hw = hw
		p.hooks.PublishHighWatermark(hw)
		u.HighWatermark, u.HighWatermarkAdvanced = hw, true
	}
	return u
}

// leaderCheck returns ErrNotLeader unless this node leads. Caller holds p.mu.
func (p *Partition) leaderCheck() error {
	if p.view.Load().Role != RoleLeader {
		return ErrNotLeader
	}
	return nil
}

// CheckProduce decides whether the leader may append a Produce batch now: ErrNotLeader, or with
// acks=all ErrNotEnoughReplicas while |ISR| < min.insync.replicas. It returns the leader epoch
// to stamp into the batch. Call it and append under the broker's partition lock, which Apply's
// role changes also hold, so the epoch stays current for the append.
func (p *Partition) CheckProduce(acksAll bool) (int32, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.leaderCheck(); err != nil {
		return 0, err
	}
	if acksAll && int32(len(p.a.ISR)) < p.cfg.MinInsyncReplicas {
		return 0, ErrNotEnoughReplicas
	}
	return p.a.LeaderEpoch, nil
}

// Appended tells the leader its log end offset is now leo; with no follower in the ISR to wait
// for, the HW follows at once.
func (p *Partition) Appended(leo int64) Update {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.leaderCheck() != nil {
		return Update{HighWatermark: p.hw}
	}
	return p.maybeAdvanceHighWatermark(leo)
}

// FollowerFetch records a follower's Fetch from fetchOffset, which the caller has checked lies
// within [log start offset, leo], leo being the leader's log end offset now. The follower's LEO
// becomes fetchOffset. The HW may advance, and a follower that has caught up may be proposed for
// the ISR.
func (p *Partition) FollowerFetch(id int32, fetchOffset, leo, nowMs int64) (Update, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.leaderCheck(); err != nil {
		return Update{HighWatermark: p.hw}, err
	}
	f := p.follower(id)
	if f == nil {
		return Update{HighWatermark: p.hw}, ErrUnknownReplica
	}
	if fetchOffset > leo {
		panic(fmt.Sprintf("BUG: %s follower %d fetch offset %d beyond the leader's log end %d", p.tp, id, fetchOffset, leo))
	}
	// Kafka's Replica.updateFetchState.
	switch {
	case fetchOffset >= leo:
		f.lastCaughtUpMs = max(f.lastCaughtUpMs, nowMs)
	case fetchOffset >= f.lastFetchLeaderLEO && f.lastFetchLeaderLEO >= 0:
		f.lastCaughtUpMs = max(f.lastCaughtUpMs, f.lastFetchMs)
	}
	f.leo, f.lastFetchLeaderLEO, f.lastFetchMs = fetchOffset, leo, nowMs
	u := p.maybeAdvanceHighWatermark(leo)
	if p.pending == nil && !p.a.InISR(id) && f.leo >= p.hw && f.leo >= p.epochStartOffset &&
		(p.hooks.Eligible == nil || p.hooks.Eligible(id)) {
		isr := append(slices.Clone(p.a.ISR), id)
		slices.SortStableFunc(isr, func(x, y int32) int { return slices.Index(p.a.Replicas, x) - slices.Index(p.a.Replicas, y) })
		u.Propose = p.propose(isr)
	}
	return u, nil
}

// Tick runs the leader's periodic ISR check (Kafka's isr-expiration task, every
// replica.lag.time.max.ms / 2): followers whose LEO differs from the leader's and that have not
// caught up for longer than replica.lag.time.max.ms are proposed out of the ISR.
func (p *Partition) Tick(leo, nowMs int64) Update {
	p.mu.Lock()
	defer p.mu.Unlock()
	u := Update{HighWatermark: p.hw}
	if p.leaderCheck() != nil || p.pending != nil {
		return u
	}
	var out []int32
	for i := range p.followers {
		f := &p.followers[i]
		if p.a.InISR(f.id) && f.leo != leo && nowMs-f.lastCaughtUpMs > p.cfg.ReplicaLagTimeMaxMs {
			out = append(out, f.id)
		}
	}
	if len(out) == 0 {
		return u
	}
	isr := slices.DeleteFunc(slices.Clone(p.a.ISR), func(id int32) bool { return slices.Contains(out, id) })
	u.Propose = p.propose(isr)
	return u
}

// propose records isr as pending and returns the change to send. Caller holds p.mu.
func (p *Partition) propose(isr []int32) *ISRChange {
	if !slices.Contains(isr, p.self) {
		panic(fmt.Sprintf("BUG: %s leader %d proposing ISR %v without itself", p.tp, p.self, isr))
	}
	p.pending = isr
	return &ISRChange{TopicPartition: p.tp, BrokerID: p.self, LeaderEpoch: p.a.LeaderEpoch, PartitionEpoch: p.a.PartitionEpoch, ISR: slices.Clone(isr)}
}

// AbortISRChange forgets the pending proposal made at partitionEpoch after the ISRChanger refused
// it, so a later fetch or tick may propose again. A proposal from another partition epoch (the
// assignment has moved on) is left alone.
func (p *Partition) AbortISRChange(partitionEpoch int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending != nil && p.a.PartitionEpoch == partitionEpoch {
		p.pending = nil
	}
}

// HighWatermark is the leader's HW (the log's HW is the published copy).
func (p *Partition) HighWatermark() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hw
}

// FollowerStatus is the leader's view of one follower, for tests and metrics.
type FollowerStatus struct {
	ID             int32
	LogEndOffset   int64 // -1: unknown
	LastCaughtUpMs int64
	InISR          bool
}

// Status is a snapshot of the partition's replication state.
type Status struct {
	View
	HighWatermark int64
	PendingISR    []int32
	Followers     []FollowerStatus // leader only
}

// Status returns a snapshot of the state.
func (p *Partition) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Status{View: *p.view.Load(), HighWatermark: p.hw, PendingISR: slices.Clone(p.pending)}
	for _, f := range p.followers {
		s.Followers = append(s.Followers, FollowerStatus{ID: f.id, LogEndOffset: f.leo, LastCaughtUpMs: f.lastCaughtUpMs, InISR: p.a.InISR(f.id)})
	}
	return s
}
