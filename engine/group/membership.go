package group

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// JoinGroup serves a JoinGroup request (any version): reply is called exactly once, at once for
// errors and for members that need not wait, otherwise when the join phase ends. Runs on the
// caller's goroutine until the request parks; never blocks.
func (c *Coordinator) JoinGroup(req *kmsg.JoinGroupRequest, cl Client, reply func(*kmsg.JoinGroupResponse)) {
	fail := func(code int16, memberID string) {
		resp := kmsg.NewPtrJoinGroupResponse()
		resp.Version, resp.ErrorCode, resp.MemberID = req.Version, code, memberID
		reply(resp)
	}
	cfg := c.config()
	switch {
	case c.closed.Load():
		fail(errClosed, req.MemberID)
		return
	case req.Group == "":
		fail(errInvalidGroupID, req.MemberID)
		return
	case req.SessionTimeoutMillis < cfg.GroupMinSessionTimeoutMs || req.SessionTimeoutMillis > cfg.GroupMaxSessionTimeoutMs:
		fail(errInvalidSessionTimeout, req.MemberID)
		return
	}
	j := joinRequest{
		version: req.Version, memberID: req.MemberID, instanceID: req.InstanceID, client: cl,
		sessionTimeoutMs: req.SessionTimeoutMillis, rebalanceTimeoutMs: req.RebalanceTimeoutMillis,
		protocolType: req.ProtocolType, reply: reply,
	}
	if req.Version == 0 {
		j.rebalanceTimeoutMs = j.sessionTimeoutMs // v0 has no rebalance timeout: Kafka uses the session timeout
	}
	for _, p := range req.Protocols { // the request's bytes are the network buffer's: copy what we keep
		j.protocols = append(j.protocols, protocol{p.Name, append([]byte(nil), p.Metadata...)})
	}
	g, created, code := c.lockGroup(req.Group, req.MemberID == "")
	if g == nil {
		if code == errNone {
			code = errUnknownMemberID
		}
		fail(code, req.MemberID)
		return
	}
	var out outbox
	if req.MemberID == "" {
		g.joinUnknownMember(&j, &out)
	} else {
		g.joinKnownMember(&j, &out)
	}
	if created {
		g.dropIfUnused()
	}
	g.mu.Unlock()
	out.flush()
}

// joinRequest is what the coordinator keeps of a JoinGroup.
type joinRequest struct {
	version                              int16
	memberID                             string
	instanceID                           *string
	client                               Client
	sessionTimeoutMs, rebalanceTimeoutMs int32
	protocolType                         string
	protocols                            []protocol
	reply                                func(*kmsg.JoinGroupResponse)
}

func (j *joinRequest) fail(code int16, memberID string, out *outbox) {
	resp := kmsg.NewPtrJoinGroupResponse()
	resp.Version, resp.ErrorCode, resp.MemberID = j.version, code, memberID
	reply := j.reply
	out.add(func() { reply(resp) })
}

// joinUnknownMember handles a join without a member id: a static member coming back under a new
// id, a dynamic member told to come back with the id it is given (v4+, KIP-394), or a new member.
func (g *group) joinUnknownMember(j *joinRequest, out *outbox) {
	if len(g.members)+len(g.pending) >= int(g.c.config().GroupMaxSize) && (j.instanceID == nil || g.static[*j.instanceID] == "") {
		j.fail(errGroupMaxSizeReached, "", out)
		return
	}
	if !g.supportsProtocols(j.protocolType, j.protocols) {
		j.fail(errInconsistentGroupProtocol, "", out)
		return
	}
	prefix := j.client.ID
	if j.instanceID != nil {
		prefix = *j.instanceID
	}
	id := g.c.newID(prefix)
	if j.instanceID != nil {
		if old := g.static[*j.instanceID]; old != "" {
			g.replaceStaticMember(g.members[old], id, j, out)
			return
		}
	}
	if j.version >= 4 && j.instanceID == nil {
		// KIP-394: the member must come back with this id, so that a client whose first join
		// timed out does not leave an anonymous member behind. Until then it is pending.
		g.pending[id] = g.c.clock.AfterFunc(msDuration(j.sessionTimeoutMs), func() { g.onPendingExpired(id) })
		j.fail(errMemberIDRequired, id, out)
		return
	}
	g.addMemberAndRebalance(id, j, out)
}

// joinKnownMember handles a join with a member id.
func (g *group) joinKnownMember(j *joinRequest, out *outbox) {
	if !g.supportsProtocols(j.protocolType, j.protocols) {
		j.fail(errInconsistentGroupProtocol, j.memberID, out)
		return
	}
	if t, ok := g.pending[j.memberID]; ok {
		t.Stop()
		delete(g.pending, j.memberID)
		g.addMemberAndRebalance(j.memberID, j, out)
		return
	}
	if j.instanceID != nil {
		if known, ok := g.static[*j.instanceID]; ok && known != j.memberID {
			j.fail(errFencedInstanceID, j.memberID, out)
			return
		} else if !ok {
			j.fail(errUnknownMemberID, j.memberID, out)
			return
		}
	}
	m := g.members[j.memberID]
	if m == nil {
		j.fail(errUnknownMemberID, j.memberID, out)
		return
	}
	switch g.state {
	case statePreparingRebalance:
		g.updateMemberAndRebalance(m, j, out)
	case stateCompletingRebalance:
		if m.sameProtocols(j.protocols) {
			// It lost our answer: answer again for the current generation.
			g.answerCurrentGeneration(m, j, out)
			return
		}
		g.updateMemberAndRebalance(m, j, out)
	case stateStable:
		if m.id == g.leader || !m.sameProtocols(j.protocols) {
			// The leader rejoins to have the group reassigned (e.g. it saw topic metadata change).
			g.updateMemberAndRebalance(m, j, out)
			return
		}
		g.answerCurrentGeneration(m, j, out)
	default: // Empty: members are gone
		j.fail(errUnknownMemberID, j.memberID, out)
	}
}

// answerCurrentGeneration answers a join at once with the current generation.
func (g *group) answerCurrentGeneration(m *member, j *joinRequest, out *outbox) {
	resp := g.joinResponse(m, j.version)
	reply := j.reply
	out.add(func() { reply(resp) })
}

func (g *group) newMember(id string, j *joinRequest) *member {
	return &member{
		id: id, instanceID: j.instanceID, clientID: j.client.ID, clientHost: j.client.Host,
		rebalanceTimeoutMs: j.rebalanceTimeoutMs, sessionTimeoutMs: j.sessionTimeoutMs,
		protocolType: j.protocolType, protocols: j.protocols,
	}
}

// addMemberAndRebalance adds a member, parked in its join, and starts or joins a rebalance.
func (g *group) addMemberAndRebalance(id string, j *joinRequest, out *outbox) {
	m := g.newMember(id, j)
	m.isNew = true
	m.join = &parkedJoin{j.version, j.reply}
	if g.state == statePreparingRebalance && g.prevState == stateEmpty {
		g.newMemberAdded = true // extends the initial delay
	}
	g.addMember(m)
	g.scheduleSession(m, newMemberJoinTimeout)
	g.maybePrepareRebalance(out)
	g.maybeCompleteJoin(out)
}

// updateMemberAndRebalance takes a member's new join (protocols, timeouts) and rebalances.
func (g *group) updateMemberAndRebalance(m *member, j *joinRequest, out *outbox) {
	m.protocols = j.protocols
	m.rebalanceTimeoutMs, m.sessionTimeoutMs = j.rebalanceTimeoutMs, j.sessionTimeoutMs
	m.clientID, m.clientHost = j.client.ID, j.client.Host
	if m.join != nil {
		// Kafka drops the superseded request; every request here is answered exactly once.
		g.answerJoinError(m, errRebalanceInProgress, out)
	}
	m.join = &parkedJoin{j.version, j.reply}
	g.maybePrepareRebalance(out)
	g.maybeCompleteJoin(out)
}

// replaceStaticMember gives a static member that rejoined without its member id a new one,
// fencing the old (its parked requests get FENCED_INSTANCE_ID). A stable group whose protocol
// would not change keeps its assignment and does not rebalance (KIP-345): the member gets the
// current generation — and, if it leads, from v9 the members with SkipAssignment (KIP-814);
// before v9 it is told the old leader id, so that it does not compute an assignment nobody would
// use.
func (g *group) replaceStaticMember(old *member, newID string, j *joinRequest, out *outbox) {
	if old.join != nil {
		g.answerJoinError(old, errFencedInstanceID, out)
	}
	if old.sync != nil {
		g.answerSyncError(old, errFencedInstanceID, out)
	}
	oldLeader, oldID := g.leader, old.id
	delete(g.members, oldID)
	if old.timer != nil {
		old.timer.Stop()
		old.timer = nil
	}
	m := old // the member keeps its place (join order) and assignment under its new id
	m.id = newID
	m.protocols = j.protocols
	m.rebalanceTimeoutMs, m.sessionTimeoutMs = j.rebalanceTimeoutMs, j.sessionTimeoutMs
	m.clientID, m.clientHost = j.client.ID, j.client.Host
	g.members[newID] = m
	g.static[*m.instanceID] = newID
	if g.pendingSync[oldID] {
		delete(g.pendingSync, oldID)
		g.pendingSync[newID] = true
	}
	if g.leader == oldID {
		g.leader = newID
	}
	g.scheduleSession(m, msDuration(m.sessionTimeoutMs))

	switch g.state {
	case stateStable:
		if g.selectProtocol() != g.protocol {
			m.join = &parkedJoin{j.version, j.reply}
			g.prepareRebalance(out)
			g.maybeCompleteJoin(out)
			return
		}
		gen := g.generation
		g.persist(nil, func(err error) {
			var out outbox
			g.mu.Lock()
			defer func() { g.mu.Unlock(); out.flush() }()
			if err != nil {
				j.fail(appendErrorCode(err), "", &out)
				return
			}
			resp := g.joinResponse(m, j.version)
			resp.Generation = gen
			if j.version >= 9 {
				resp.SkipAssignment = resp.LeaderID == m.id
			} else {
				resp.LeaderID = oldLeader
				resp.Members = nil
			}
			reply := j.reply
			out.add(func() { reply(resp) })
		})
	case stateCompletingRebalance:
		// The leader may already be assigning to the old id: rebalance so the new one is included.
		m.join = &parkedJoin{j.version, j.reply}
		g.prepareRebalance(out)
		g.maybeCompleteJoin(out)
	default: // PreparingRebalance
		m.join = &parkedJoin{j.version, j.reply}
		g.maybeCompleteJoin(out)
	}
}

// onPendingExpired drops a MEMBER_ID_REQUIRED member that did not come back in its session
// timeout; a join phase may have been waiting for it.
func (g *group) onPendingExpired(id string) {
	var out outbox
	g.mu.Lock()
	defer func() { g.mu.Unlock(); out.flush() }()
	if _, ok := g.pending[id]; !ok || g.state == stateDead || g.c.closed.Load() {
		return
	}
	delete(g.pending, id)
	g.maybeCompleteJoin(&out)
	g.dropIfUnused()
}

// dropIfUnused removes a group that holds nothing: no members, no pending members, nothing
// stored and nothing being stored (a join that failed on a group it created, an expired
// MEMBER_ID_REQUIRED member). Caller holds g.mu.
func (g *group) dropIfUnused() {
	if g.state == stateEmpty && len(g.members) == 0 && len(g.pending) == 0 && !g.persisted && !g.mayHaveOffsets && g.inflight.Load() == 0 {
		g.c.removeGroupLocked(g)
	}
}

// SyncGroup serves a SyncGroup request: the leader's carries the assignment. reply is called
// once the assignment is known and stored (at once for errors and stable groups).
func (c *Coordinator) SyncGroup(req *kmsg.SyncGroupRequest, reply func(*kmsg.SyncGroupResponse)) {
	fail := func(code int16) {
		resp := kmsg.NewPtrSyncGroupResponse()
		resp.Version, resp.ErrorCode = req.Version, code
		reply(resp)
	}
	if req.Group == "" {
		fail(errInvalidGroupID)
		return
	}
	g, _, code := c.lockGroup(req.Group, false)
	if g == nil {
		if code == errNone {
			code = errUnknownMemberID
		}
		fail(code)
		return
	}
	var out outbox
	defer func() { g.mu.Unlock(); out.flush() }()
	if code := g.validateMember(req.MemberID, req.InstanceID); code != errNone {
		fail(code)
		return
	}
	if req.Generation != g.generation {
		fail(errIllegalGeneration)
		return
	}
	if (req.ProtocolType != nil && *req.ProtocolType != g.protocolType) || (req.Protocol != nil && *req.Protocol != g.protocol) {
		fail(errInconsistentGroupProtocol)
		return
	}
	m := g.members[req.MemberID]
	switch g.state {
	case stateEmpty:
		fail(errUnknownMemberID)
	case statePreparingRebalance:
		fail(errRebalanceInProgress)
	case stateCompletingRebalance:
		delete(g.pendingSync, m.id)
		if m.sync != nil {
			g.answerSyncError(m, errRebalanceInProgress, &out) // superseded
		}
		m.sync = &parkedSync{req.Version, reply}
		if m.id != g.leader {
			return
		}
		assignments := make(map[string][]byte, len(req.GroupAssignment))
		for _, a := range req.GroupAssignment {
			if g.members[a.MemberID] != nil {
				assignments[a.MemberID] = append([]byte(nil), a.MemberAssignment...)
			}
		}
		gen := g.generation
		g.persist(assignments, func(err error) {
			var out outbox
			g.mu.Lock()
			defer func() { g.mu.Unlock(); out.flush() }()
			// A member may have joined or left while the write was in flight: then this
			// generation's assignment is void and the syncs were answered already.
			if g.state != stateCompletingRebalance || g.generation != gen {
				return
			}
			if err != nil {
				g.resetAndPropagateAssignmentError(appendErrorCode(err), &out)
				g.prepareRebalance(&out)
				g.maybeCompleteJoin(&out)
				return
			}
			g.setAndPropagateAssignment(assignments, &out)
			g.transition(stateStable)
		})
	case stateStable:
		delete(g.pendingSync, m.id)
		resp := g.syncResponse(m, req.Version)
		out.add(func() { reply(resp) })
		g.scheduleSession(m, msDuration(m.sessionTimeoutMs))
	}
}

// Heartbeat serves a Heartbeat request: it keeps a member's session alive and tells it whether a
// rebalance is under way.
func (c *Coordinator) Heartbeat(req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	if req.Group == "" {
		resp.ErrorCode = errInvalidGroupID
		return resp
	}
	g, _, code := c.lockGroup(req.Group, false)
	if g == nil {
		if code == errNone {
			code = errUnknownMemberID
		}
		resp.ErrorCode = code
		return resp
	}
	defer g.mu.Unlock()
	if code := g.validateMember(req.MemberID, req.InstanceID); code != errNone {
		resp.ErrorCode = code
		return resp
	}
	if req.Generation != g.generation {
		resp.ErrorCode = errIllegalGeneration
		return resp
	}
	m := g.members[req.MemberID]
	switch g.state {
	case stateEmpty:
		resp.ErrorCode = errUnknownMemberID
	case statePreparingRebalance:
		g.scheduleSession(m, msDuration(m.sessionTimeoutMs))
		resp.ErrorCode = errRebalanceInProgress
	default: // CompletingRebalance (members heartbeat between their join and sync answers), Stable
		g.scheduleSession(m, msDuration(m.sessionTimeoutMs))
	}
	return resp
}

// LeaveGroup serves a LeaveGroup request: one member (v0-2) or a batch (v3+, KIP-345), each
// named by member id or, for static members, by group.instance.id.
func (c *Coordinator) LeaveGroup(req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	leaving := req.Members
	if req.Version < 3 {
		leaving = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	finish := func() *kmsg.LeaveGroupResponse {
		if req.Version < 3 {
			if len(resp.Members) > 0 && resp.ErrorCode == errNone {
				resp.ErrorCode = resp.Members[0].ErrorCode
			}
			resp.Members = nil
		}
		return resp
	}
	if req.Group == "" {
		resp.ErrorCode = errInvalidGroupID
		return finish()
	}
	g, _, code := c.lockGroup(req.Group, false)
	if code != errNone {
		resp.ErrorCode = code
		return finish()
	}
	var out outbox
	for _, lm := range leaving {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID = lm.MemberID, lm.InstanceID
		rm.ErrorCode = errUnknownMemberID
		if g != nil {
			rm.ErrorCode = g.leave(lm.MemberID, lm.InstanceID, &out)
		}
		resp.Members = append(resp.Members, rm)
	}
	if g != nil {
		g.dropIfUnused()
		g.mu.Unlock()
	}
	out.flush()
	return finish()
}

// leave removes one member. Caller holds g.mu.
func (g *group) leave(memberID string, instanceID *string, out *outbox) int16 {
	var m *member
	if instanceID != nil {
		known, ok := g.static[*instanceID]
		switch {
		case ok && memberID != "" && known != memberID:
			return errFencedInstanceID
		case ok:
			m = g.members[known]
		}
	}
	if m == nil {
		if t, ok := g.pending[memberID]; ok {
			t.Stop()
			delete(g.pending, memberID)
			g.maybeCompleteJoin(out)
			return errNone
		}
		m = g.members[memberID]
	}
	if m == nil {
		return errUnknownMemberID
	}
	g.c.logger.Debug("group member left", "group", g.name, "member", m.id)
	g.removeMemberAndUpdate(m, out)
	return errNone
}
