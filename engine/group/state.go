package group

import (
	"bytes"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupState is a classic group's state (Kafka's GroupState).
//
//	Empty ──join──▶ PreparingRebalance ──all joined / timeout──▶ CompletingRebalance ──leader's sync──▶ Stable
//	  ▲                 ▲    │ nobody left                           │ join, leave, expiry        │ join, leave, expiry
//	  └─────────────────┼────┘                                       ▼                            │
//	                    └─────────────────────────────────── PreparingRebalance ◀─────────────────┘
//	Empty ──no members, no offsets (retention pass, DeleteGroups)──▶ Dead
type groupState uint8

const (
	stateEmpty groupState = iota
	statePreparingRebalance
	stateCompletingRebalance
	stateStable
	stateDead
)

var stateNames = [...]string{"Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"}

func (s groupState) String() string { return stateNames[s] }

// protocol is one assignment protocol a member supports, with its metadata (owned copy).
type protocol struct {
	name     string
	metadata []byte
}

// member is one member of a group. Guarded by its group's mu.
type member struct {
	id                                   string
	instanceID                           *string // group.instance.id: a static member
	clientID, clientHost                 string
	rebalanceTimeoutMs, sessionTimeoutMs int32
	protocolType                         string
	protocols                            []protocol // by preference
	assignment                           []byte
	seq                                  uint64 // join order: members are listed in it

	join  *parkedJoin // set while its JoinGroup waits for the join phase to end
	sync  *parkedSync // set while its SyncGroup waits for the leader's assignment
	isNew bool        // joined, never answered: expires after newMemberJoinTimeout

	deadline time.Time // session expiry
	timer    Timer     // armed for timerAt ≤ deadline; re-arms itself when the deadline moved
	timerAt  time.Time
}

type parkedJoin struct {
	version int16
	reply   func(*kmsg.JoinGroupResponse)
}

type parkedSync struct {
	version int16
	reply   func(*kmsg.SyncGroupResponse)
}

// metadataFor returns the member's metadata for a protocol.
func (m *member) metadataFor(name string) []byte {
	for _, p := range m.protocols {
		if p.name == name {
			return p.metadata
		}
	}
	return nil
}

// sameProtocols reports whether a join carries the member's current protocols and metadata.
func (m *member) sameProtocols(ps []protocol) bool {
	if len(ps) != len(m.protocols) {
		return false
	}
	for i := range ps {
		if ps[i].name != m.protocols[i].name || !bytes.Equal(ps[i].metadata, m.protocols[i].metadata) {
			return false
		}
	}
	return true
}

// group is one consumer group. Every field but the immutable ones and inflight is guarded by mu.
// Lock order: a group's mu, then Coordinator.mu; never two groups' mu at once.
type group struct {
	c    *Coordinator
	name string

	mu           sync.Mutex
	state        groupState
	prevState    groupState
	stateTime    time.Time // when state was entered (Kafka's currentStateTimestamp)
	protocolType string
	protocol     string // selected protocol of the current generation
	generation   int32
	leader       string
	members      map[string]*member
	pending      map[string]Timer  // member ids handed out with MEMBER_ID_REQUIRED, not joined yet
	static       map[string]string // group.instance.id → member id
	nextSeq      uint64

	newMemberAdded bool            // a member joined during the initial delay: extend it
	pendingSync    map[string]bool // members still to send SyncGroup in this generation
	subscribed     map[string]bool // topics the members subscribe to (consumer protocol); nil: unknown

	rebalanceTimer Timer
	rebalanceSeq   uint64 // invalidates rebalance timers that fired late
	syncTimer      Timer

	persisted      bool         // a group record may exist in the store
	mayHaveOffsets bool         // offsets may exist in the store
	appends        uint64       // journal appends so far (the retention pass checks nothing came in between)
	inflight       atomic.Int32 // journal appends not applied yet
}

// transition enters s. Caller holds g.mu.
func (g *group) transition(s groupState) {
	g.prevState, g.state = g.state, s
	g.stateTime = g.c.now()
}

// sortedMembers lists the members in join order. Caller holds g.mu.
func (g *group) sortedMembers() []*member {
	out := make([]*member, 0, len(g.members))
	for _, m := range g.members {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

// addMember adds m; the first member sets the group's protocol type and leads.
func (g *group) addMember(m *member) {
	if len(g.members) == 0 {
		g.protocolType = m.protocolType
	}
	m.seq = g.nextSeq
	g.nextSeq++
	g.members[m.id] = m
	if m.instanceID != nil {
		g.static[*m.instanceID] = m.id
	}
	if g.leader == "" {
		g.leader = m.id
	}
}

// removeMember drops m without answering it or rebalancing.
func (g *group) removeMember(m *member) {
	delete(g.members, m.id)
	delete(g.pendingSync, m.id)
	if m.instanceID != nil && g.static[*m.instanceID] == m.id {
		delete(g.static, *m.instanceID)
	}
	if m.timer != nil {
		m.timer.Stop()
		m.timer = nil
	}
	if g.leader == m.id {
		g.leader = ""
		for _, o := range g.sortedMembers() {
			g.leader = o.id
			break
		}
	}
}

// validateMember applies Kafka's member checks: a static member's instance id must map to the
// member id given (else FENCED_INSTANCE_ID, or UNKNOWN_MEMBER_ID if the instance is unknown), and
// the member must exist.
func (g *group) validateMember(memberID string, instanceID *string) int16 {
	if instanceID != nil {
		known, ok := g.static[*instanceID]
		if !ok {
			return errUnknownMemberID
		}
		if known != memberID {
			return errFencedInstanceID
		}
	}
	if g.members[memberID] == nil {
		return errUnknownMemberID
	}
	return errNone
}

// supportsProtocols reports whether a joining member can be in the group: an empty group takes
// any non-empty protocol type and list; otherwise the type must match and one of the protocols
// must be supported by every member.
func (g *group) supportsProtocols(protocolType string, ps []protocol) bool {
	if len(g.members) == 0 {
		return protocolType != "" && len(ps) > 0
	}
	if protocolType != g.protocolType {
		return false
	}
	for _, p := range ps {
		if g.supportedByAll(p.name) {
			return true
		}
	}
	return false
}

func (g *group) supportedByAll(name string) bool {
	for _, m := range g.members {
		if !m.hasProtocol(name) {
			return false
		}
	}
	return true
}

func (m *member) hasProtocol(name string) bool {
	for _, p := range m.protocols {
		if p.name == name {
			return true
		}
	}
	return false
}

// selectProtocol picks the protocol of the next generation as Kafka does: among the protocols
// every member supports, each member votes for the first of its list, and the most votes win.
// Ties (which Kafka breaks arbitrarily) go to the protocol the longest-standing member prefers.
func (g *group) selectProtocol() string {
	ms := g.sortedMembers()
	var candidates []string
	for _, p := range ms[0].protocols {
		if g.supportedByAll(p.name) {
			candidates = append(candidates, p.name)
		}
	}
	votes := map[string]int{}
	for _, m := range ms {
		for _, p := range m.protocols {
			if g.supportedByAll(p.name) {
				votes[p.name]++
				break
			}
		}
	}
	best, bestVotes := "", -1
	for _, name := range candidates {
		if votes[name] > bestVotes {
			best, bestVotes = name, votes[name]
		}
	}
	return best
}

// rebalanceTimeoutMs is the longest rebalance timeout of the members.
func (g *group) rebalanceTimeoutMs() int32 {
	var t int32
	for _, m := range g.members {
		t = max(t, m.rebalanceTimeoutMs)
	}
	return t
}

// allJoined reports whether every member waits in JoinGroup and no MEMBER_ID_REQUIRED member is
// still to come back.
func (g *group) allJoined() bool {
	for _, m := range g.members {
		if m.join == nil {
			return false
		}
	}
	return len(g.pending) == 0
}

// scheduleSession moves m's session deadline to now+d (Kafka's completeAndScheduleNextHeartbeatExpiration).
// The member's timer is re-armed only when it would fire after the new deadline; otherwise it
// fires early, sees the deadline moved and re-arms itself, so a heartbeat costs no timer.
func (g *group) scheduleSession(m *member, d time.Duration) {
	m.deadline = g.c.now().Add(d)
	if m.timer != nil && !m.timerAt.After(m.deadline) {
		return
	}
	if m.timer != nil {
		m.timer.Stop()
	}
	g.armMemberTimer(m, d)
}

func (g *group) armMemberTimer(m *member, d time.Duration) {
	m.timerAt = g.c.now().Add(d)
	m.timer = g.c.clock.AfterFunc(d, func() { g.onSessionTimer(m) })
}

// onSessionTimer runs when a member's timer fires. Runs on a timer goroutine.
func (g *group) onSessionTimer(m *member) {
	var out outbox
	g.mu.Lock()
	defer func() { g.mu.Unlock(); out.flush() }()
	if g.state == stateDead || g.members[m.id] != m || g.c.closed.Load() {
		return
	}
	m.timer = nil
	if now := g.c.now(); now.Before(m.deadline) {
		g.armMemberTimer(m, m.deadline.Sub(now))
		return
	}
	if !m.isNew && (m.join != nil || m.sync != nil) {
		// Waiting in a rebalance counts as alive; answering it schedules the next deadline.
		return
	}
	g.c.logger.Info("group member session expired", "group", g.name, "member", m.id, "generation", g.generation)
	g.removeMemberAndUpdate(m, &out)
}

// removeMemberAndUpdate removes m, answering its parked requests with UNKNOWN_MEMBER_ID, and
// moves the group on: a stable or completing group rebalances, a preparing one may now be done.
func (g *group) removeMemberAndUpdate(m *member, out *outbox) {
	if m.join != nil {
		g.answerJoinError(m, errUnknownMemberID, out)
	}
	if m.sync != nil {
		g.answerSyncError(m, errUnknownMemberID, out)
	}
	g.removeMember(m)
	switch g.state {
	case stateStable, stateCompletingRebalance:
		g.prepareRebalance(out)
		g.maybeCompleteJoin(out)
	case statePreparingRebalance:
		g.maybeCompleteJoin(out)
	}
}

// maybePrepareRebalance starts a rebalance unless one is being prepared already.
func (g *group) maybePrepareRebalance(out *outbox) {
	switch g.state {
	case stateStable, stateCompletingRebalance, stateEmpty:
		g.prepareRebalance(out)
	}
}

// prepareRebalance enters PreparingRebalance: assignments of a completing generation are void
// (parked syncs get REBALANCE_IN_PROGRESS), and the join phase waits for every member to rejoin,
// at most the longest rebalance timeout — or, for a group that was empty, at least
// group.initial.rebalance.delay.ms, extended while new members keep coming, within the rebalance
// timeout.
func (g *group) prepareRebalance(out *outbox) {
	if g.state == stateCompletingRebalance {
		g.resetAndPropagateAssignmentError(errRebalanceInProgress, out)
	}
	g.stopSyncTimer()
	g.pendingSync = nil
	if g.state == stateEmpty {
		delay := g.c.config().GroupInitialRebalanceDelayMs
		remaining := max(g.rebalanceTimeoutMs()-delay, 0)
		g.transition(statePreparingRebalance)
		g.armRebalanceTimer(delay, remaining, true)
		return
	}
	g.transition(statePreparingRebalance)
	g.armRebalanceTimer(g.rebalanceTimeoutMs(), 0, false)
}

func (g *group) armRebalanceTimer(delayMs, remainingMs int32, initial bool) {
	if g.rebalanceTimer != nil {
		g.rebalanceTimer.Stop()
	}
	g.rebalanceSeq++
	seq := g.rebalanceSeq
	g.rebalanceTimer = g.c.clock.AfterFunc(msDuration(delayMs), func() { g.onRebalanceTimer(seq, remainingMs, initial) })
}

func (g *group) stopRebalanceTimer() {
	g.rebalanceSeq++
	if g.rebalanceTimer != nil {
		g.rebalanceTimer.Stop()
		g.rebalanceTimer = nil
	}
}

// onRebalanceTimer ends a join phase that ran out of time (or an initial delay).
func (g *group) onRebalanceTimer(seq uint64, remainingMs int32, initial bool) {
	var out outbox
	g.mu.Lock()
	defer func() { g.mu.Unlock(); out.flush() }()
	if seq != g.rebalanceSeq || g.state != statePreparingRebalance || g.c.closed.Load() {
		return
	}
	g.rebalanceTimer = nil
	if initial && g.newMemberAdded && remainingMs > 0 {
		g.newMemberAdded = false
		delay := g.c.config().GroupInitialRebalanceDelayMs
		g.armRebalanceTimer(min(delay, remainingMs), max(remainingMs-delay, 0), true)
		return
	}
	g.completeJoin(&out)
}

// maybeCompleteJoin ends the join phase early when every member has rejoined — never during the
// initial delay of a group that was empty, which only its timer ends.
func (g *group) maybeCompleteJoin(out *outbox) {
	if g.state == statePreparingRebalance && g.prevState != stateEmpty && g.allJoined() {
		g.completeJoin(out)
	}
}

// completeJoin ends the join phase: dynamic members that did not rejoin are dropped, the
// generation advances, a protocol is selected and every joined member is answered — the leader
// with every member's metadata. The group then waits for the leader's SyncGroup.
func (g *group) completeJoin(out *outbox) {
	g.stopRebalanceTimer()
	g.newMemberAdded = false
	for _, m := range g.sortedMembers() {
		if m.join == nil && m.instanceID == nil {
			g.c.logger.Info("group member did not rejoin in time", "group", g.name, "member", m.id)
			g.removeMember(m)
		}
	}
	joined := 0
	for _, m := range g.members {
		if m.join != nil {
			joined++
		}
	}
	if len(g.members) > 0 && joined == 0 {
		// Only static members that have not rejoined are left: wait for them (or for their
		// sessions to expire) one more rebalance timeout.
		g.armRebalanceTimer(g.rebalanceTimeoutMs(), 0, false)
		return
	}
	g.generation++
	g.c.m.rebalances.Add(1)
	if len(g.members) == 0 {
		g.protocol, g.leader = "", ""
		g.subscribed = map[string]bool{}
		g.transition(stateEmpty)
		g.persist(nil, nil)
		return
	}
	if l := g.members[g.leader]; l == nil || l.join == nil {
		for _, m := range g.sortedMembers() {
			if m.join != nil {
				g.leader = m.id
				break
			}
		}
	}
	g.protocol = g.selectProtocol()
	g.computeSubscribedTopics()
	g.transition(stateCompletingRebalance)
	g.pendingSync = map[string]bool{}
	for _, m := range g.sortedMembers() {
		g.pendingSync[m.id] = true
		if m.join == nil {
			continue
		}
		resp := g.joinResponse(m, m.join.version)
		reply := m.join.reply
		out.add(func() { reply(resp) })
		m.join = nil
		m.isNew = false
		g.scheduleSession(m, msDuration(m.sessionTimeoutMs))
	}
	g.armSyncTimer()
	g.c.logger.Debug("group join phase complete", "group", g.name, "generation", g.generation, "protocol", g.protocol, "members", len(g.members), "leader", g.leader)
}

// joinResponse is a successful JoinGroup answer for m in the current generation.
func (g *group) joinResponse(m *member, version int16) *kmsg.JoinGroupResponse {
	resp := kmsg.NewPtrJoinGroupResponse()
	resp.Version = version
	resp.Generation = g.generation
	resp.ProtocolType = strPtr(g.protocolType)
	resp.Protocol = strPtr(g.protocol)
	resp.LeaderID = g.leader
	resp.MemberID = m.id
	if m.id == g.leader {
		resp.Members = g.memberMetadata()
	}
	return resp
}

// memberMetadata lists every member with its metadata for the selected protocol.
func (g *group) memberMetadata() []kmsg.JoinGroupResponseMember {
	ms := g.sortedMembers()
	out := make([]kmsg.JoinGroupResponseMember, 0, len(ms))
	for _, m := range ms {
		jm := kmsg.NewJoinGroupResponseMember()
		jm.MemberID, jm.InstanceID, jm.ProtocolMetadata = m.id, m.instanceID, m.metadataFor(g.protocol)
		out = append(out, jm)
	}
	return out
}

// armSyncTimer gives the members of a new generation a rebalance timeout to send SyncGroup;
// those that do not are removed and the group rebalances (Kafka's pending-sync expiry).
func (g *group) armSyncTimer() {
	g.stopSyncTimer()
	gen := g.generation
	g.syncTimer = g.c.clock.AfterFunc(msDuration(g.rebalanceTimeoutMs()), func() { g.onSyncTimer(gen) })
}

func (g *group) stopSyncTimer() {
	if g.syncTimer != nil {
		g.syncTimer.Stop()
		g.syncTimer = nil
	}
}

func (g *group) onSyncTimer(gen int32) {
	var out outbox
	g.mu.Lock()
	defer func() { g.mu.Unlock(); out.flush() }()
	if gen != g.generation || len(g.pendingSync) == 0 || g.c.closed.Load() ||
		(g.state != stateCompletingRebalance && g.state != stateStable) {
		return
	}
	g.syncTimer = nil
	for id := range g.pendingSync {
		if m := g.members[id]; m != nil {
			g.c.logger.Info("group member did not sync in time", "group", g.name, "member", id, "generation", gen)
			if m.join != nil {
				g.answerJoinError(m, errUnknownMemberID, &out)
			}
			g.removeMember(m)
		}
	}
	g.pendingSync = nil
	g.prepareRebalance(&out)
	g.maybeCompleteJoin(&out)
}

// resetAndPropagateAssignmentError voids the pending assignment and answers parked syncs.
func (g *group) resetAndPropagateAssignmentError(code int16, out *outbox) {
	for _, m := range g.sortedMembers() {
		m.assignment = nil
		if m.sync != nil {
			g.answerSyncError(m, code, out)
			g.scheduleSession(m, msDuration(m.sessionTimeoutMs))
		}
	}
}

// setAndPropagateAssignment installs the leader's assignment and answers every parked sync.
func (g *group) setAndPropagateAssignment(assignments map[string][]byte, out *outbox) {
	for _, m := range g.sortedMembers() {
		m.assignment = g.assignmentOrEmpty(assignments[m.id])
		if m.sync != nil {
			resp := g.syncResponse(m, m.sync.version)
			reply := m.sync.reply
			out.add(func() { reply(resp) })
			m.sync = nil
			g.scheduleSession(m, msDuration(m.sessionTimeoutMs))
		}
	}
}

func (g *group) syncResponse(m *member, version int16) *kmsg.SyncGroupResponse {
	resp := kmsg.NewPtrSyncGroupResponse()
	resp.Version = version
	resp.ProtocolType = strPtr(g.protocolType)
	resp.Protocol = strPtr(g.protocol)
	resp.MemberAssignment = m.assignment
	return resp
}

// emptyConsumerAssignment is a consumer-protocol assignment of nothing (version 0, no topics, no
// user data). Kafka passes an absent assignment on as zero bytes, which some clients fail to
// decode; a valid empty assignment means the same to every client.
var emptyConsumerAssignment = func() []byte {
	a := kmsg.NewConsumerMemberAssignment()
	return a.AppendTo(nil)
}()

func (g *group) assignmentOrEmpty(a []byte) []byte {
	if len(a) == 0 && g.protocolType == "consumer" {
		return emptyConsumerAssignment
	}
	return a
}

func (g *group) answerJoinError(m *member, code int16, out *outbox) {
	resp := kmsg.NewPtrJoinGroupResponse()
	resp.Version = m.join.version
	resp.ErrorCode = code
	resp.MemberID = m.id
	reply := m.join.reply
	out.add(func() { reply(resp) })
	m.join = nil
}

func (g *group) answerSyncError(m *member, code int16, out *outbox) {
	resp := kmsg.NewPtrSyncGroupResponse()
	resp.Version = m.sync.version
	resp.ErrorCode = code
	reply := m.sync.reply
	out.add(func() { reply(resp) })
	m.sync = nil
}

// persist appends the group's metadata (with assignments, or the members' current ones when nil)
// to the journal; done runs once it is applied.
func (g *group) persist(assignments map[string][]byte, done func(error)) {
	v := GroupValue{
		ProtocolType: g.protocolType, Generation: g.generation, Protocol: g.protocol, Leader: g.leader,
		StateTimestampMs: g.stateTime.UnixMilli(),
	}
	for _, m := range g.sortedMembers() {
		a := m.assignment
		if assignments != nil {
			a = g.assignmentOrEmpty(assignments[m.id])
		}
		v.Members = append(v.Members, MemberValue{
			MemberID: m.id, InstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.clientHost,
			RebalanceTimeoutMs: m.rebalanceTimeoutMs, SessionTimeoutMs: m.sessionTimeoutMs,
			Subscription: m.metadataFor(g.protocol), Assignment: a,
		})
	}
	g.persisted = true
	g.append([]Record{SetGroupRecord(g.name, v)}, done)
}

// append hands records of this group to the journal. Caller holds g.mu, which keeps one group's
// records in order.
func (g *group) append(recs []Record, done func(error)) {
	g.appends++
	g.inflight.Add(1)
	g.c.appendRecords(g.name, recs, func(err error) {
		g.inflight.Add(-1)
		if err != nil {
			g.c.logger.Error("group coordinator write failed", "group", g.name, "records", len(recs), "err", err)
		}
		if done != nil {
			done(err)
		}
	})
}

// computeSubscribedTopics learns the topics a consumer-protocol group subscribes to, from each
// member's metadata for the selected protocol (the version 0 prefix every version shares). Left
// nil (unknown) for other protocol types or metadata that does not parse.
func (g *group) computeSubscribedTopics() {
	g.subscribed = nil
	if g.protocolType != "consumer" {
		return
	}
	topics := map[string]bool{}
	for _, m := range g.members {
		var md kmsg.ConsumerMemberMetadata
		if err := md.ReadFrom(m.metadataFor(g.protocol)); err != nil {
			return
		}
		for _, t := range md.Topics {
			topics[t] = true
		}
	}
	g.subscribed = topics
}

// isSubscribedTo reports whether the group's members consume topic; unknown counts as no, as in
// Kafka for classic groups.
func (g *group) isSubscribedTo(topic string) bool { return g.subscribed[topic] }

// stopTimers stops every timer of the group.
func (g *group) stopTimers() {
	g.stopRebalanceTimer()
	g.stopSyncTimer()
	for _, m := range g.members {
		if m.timer != nil {
			m.timer.Stop()
			m.timer = nil
		}
	}
	for id, t := range g.pending {
		t.Stop()
		delete(g.pending, id)
	}
}

// shutdown answers parked requests with NOT_COORDINATOR and stops the timers (Coordinator.Close).
func (g *group) shutdown(out *outbox) {
	for _, m := range g.sortedMembers() {
		if m.join != nil {
			g.answerJoinError(m, errClosed, out)
		}
		if m.sync != nil {
			g.answerSyncError(m, errClosed, out)
		}
	}
	g.stopTimers()
}

func strPtr(s string) *string { return &s }
