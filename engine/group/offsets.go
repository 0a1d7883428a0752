package group

import (
	"errors"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetCommit serves an OffsetCommit request (v0-8; topics by name). Partitions of unknown
// topics get UNKNOWN_TOPIC_OR_PARTITION and metadata over offset.metadata.max.bytes
// OFFSET_METADATA_TOO_LARGE, each on its own; the rest are checked against the group as Kafka
// does (a commit with generation -1 needs an empty group; otherwise the member and generation must
// be current) and stored. reply is called once they are applied.
func (c *Coordinator) OffsetCommit(req *kmsg.OffsetCommitRequest, reply func(*kmsg.OffsetCommitResponse)) {
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	type pending struct {
		topic   string
		p       *kmsg.OffsetCommitRequestTopicPartition
		errCode *int16
	}
	var todo []pending
	maxMeta := int(c.config().OffsetMetadataMaxBytes)
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := kmsg.NewOffsetCommitResponseTopic()
		st.Topic = rt.Topic
		n := c.topics.Partitions(rt.Topic)
		st.Partitions = make([]kmsg.OffsetCommitResponseTopicPartition, len(rt.Partitions))
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := &st.Partitions[j]
			sp.Default()
			sp.Partition = rp.Partition
			switch {
			case rp.Partition < 0 || rp.Partition >= n:
				sp.ErrorCode = errUnknownTopicOrPartition
			case rp.Metadata != nil && len(*rp.Metadata) > maxMeta:
				sp.ErrorCode = errOffsetMetadataTooLarge
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	for i := range req.Topics {
		for j := range req.Topics[i].Partitions {
			if sp := &resp.Topics[i].Partitions[j]; sp.ErrorCode == errNone {
				todo = append(todo, pending{req.Topics[i].Topic, &req.Topics[i].Partitions[j], &sp.ErrorCode})
			}
		}
	}
	setAll := func(code int16) {
		for _, p := range todo {
			*p.errCode = code
		}
	}
	if len(todo) == 0 {
		reply(resp)
		return
	}
	g, _, code := c.lockGroup(req.Group, req.Generation < 0)
	if g == nil {
		if code == errNone {
			code = errIllegalGeneration // a generation for a group that does not exist (v9+: GROUP_ID_NOT_FOUND)
		}
		setAll(code)
		reply(resp)
		return
	}
	if code := g.validateOffsetCommit(req.MemberID, req.InstanceID, req.Generation); code != errNone {
		g.mu.Unlock()
		setAll(code)
		reply(resp)
		return
	}
	nowMs := c.now().UnixMilli()
	expireMs := int64(-1)
	if req.Version >= 2 && req.Version <= 4 && req.RetentionTimeMillis >= 0 {
		expireMs = nowMs + req.RetentionTimeMillis
	}
	recs := make([]Record, 0, len(todo))
	for _, p := range todo {
		v := OffsetValue{Offset: p.p.Offset, LeaderEpoch: p.p.LeaderEpoch, CommitTimestampMs: nowMs, ExpireTimestampMs: expireMs}
		if p.p.Metadata != nil {
			v.Metadata = *p.p.Metadata
		}
		if req.Version == 1 && p.p.Timestamp >= 0 {
			v.CommitTimestampMs = p.p.Timestamp // v1's commit timestamp (Kafka honours it)
		}
		recs = append(recs, SetOffsetRecord(req.Group, p.topic, p.p.Partition, v))
	}
	g.mayHaveOffsets = true
	g.append(recs, func(err error) {
		if err != nil {
			setAll(appendErrorCode(err))
		} else {
			c.m.offsetCommits.Add(int64(len(recs)))
		}
		reply(resp)
	})
	g.mu.Unlock()
}

// validateOffsetCommit is Kafka's ClassicGroup.validateOffsetCommit. Caller holds g.mu.
func (g *group) validateOffsetCommit(memberID string, instanceID *string, generation int32) int16 {
	if generation < 0 && g.state == stateEmpty {
		return errNone // a consumer that assigns itself partitions, or an admin tool
	}
	if generation >= 0 || memberID != "" || instanceID != nil {
		if code := g.validateMember(memberID, instanceID); code != errNone {
			return code
		}
		if generation != g.generation {
			return errIllegalGeneration
		}
	} else if g.state != stateEmpty {
		return errUnknownMemberID
	}
	if g.state == stateCompletingRebalance {
		return errRebalanceInProgress
	}
	return errNone
}

// OffsetFetch serves an OffsetFetch request: one group (v0-7) or several (v8), named partitions
// or (v2+, topics null) every committed offset of the group. Reads only the store: point gets,
// or one range read per group. A partition without a committed offset gets offset -1.
func (c *Coordinator) OffsetFetch(req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if req.Version >= 8 {
		for _, rg := range req.Groups {
			sg := kmsg.NewOffsetFetchResponseGroup()
			sg.Group = rg.Group
			var topics []fetchTopic
			if rg.Topics != nil {
				topics = make([]fetchTopic, 0, len(rg.Topics))
				for _, t := range rg.Topics {
					topics = append(topics, fetchTopic{t.Topic, t.Partitions})
				}
			}
			res, code := c.fetchOffsets(rg.Group, topics, rg.Topics == nil)
			sg.ErrorCode = code
			for _, ft := range res {
				st := kmsg.NewOffsetFetchResponseGroupTopic()
				st.Topic = ft.topic
				for _, fp := range ft.partitions {
					sp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
					sp.Partition, sp.Offset, sp.LeaderEpoch, sp.Metadata, sp.ErrorCode = fp.partition, fp.v.Offset, fp.v.LeaderEpoch, strPtr(fp.v.Metadata), fp.code
					st.Partitions = append(st.Partitions, sp)
				}
				sg.Topics = append(sg.Topics, st)
			}
			resp.Groups = append(resp.Groups, sg)
		}
		return resp
	}
	var topics []fetchTopic
	if req.Topics != nil {
		topics = make([]fetchTopic, 0, len(req.Topics))
		for _, t := range req.Topics {
			topics = append(topics, fetchTopic{t.Topic, t.Partitions})
		}
	}
	res, code := c.fetchOffsets(req.Group, topics, req.Topics == nil && req.Version >= 2)
	resp.ErrorCode = code
	for _, ft := range res {
		st := kmsg.NewOffsetFetchResponseTopic()
		st.Topic = ft.topic
		for _, fp := range ft.partitions {
			sp := kmsg.NewOffsetFetchResponseTopicPartition()
			sp.Partition, sp.Offset, sp.LeaderEpoch, sp.Metadata, sp.ErrorCode = fp.partition, fp.v.Offset, fp.v.LeaderEpoch, strPtr(fp.v.Metadata), fp.code
			if req.Version < 2 && code != errNone {
				sp.ErrorCode = code // v0-1 have no top-level error
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

type fetchTopic struct {
	topic      string
	partitions []int32
}

type fetchedTopic struct {
	topic      string
	partitions []fetchedPartition
}

type fetchedPartition struct {
	partition int32
	v         OffsetValue
	code      int16
}

// noOffset is what OffsetFetch answers for a partition without a committed offset.
var noOffset = OffsetValue{Offset: -1, LeaderEpoch: -1}

// fetchOffsets reads a group's offsets: the named partitions, or all of them.
func (c *Coordinator) fetchOffsets(group string, topics []fetchTopic, all bool) ([]fetchedTopic, int16) {
	if c.closed.Load() {
		return errorTopics(topics, errClosed), errClosed
	}
	if code := c.ownerCode(group); code != errNone {
		return errorTopics(topics, code), code
	}
	if all {
		var out []fetchedTopic
		err := c.readStore(func() error {
			return c.store.Offsets(group, func(topic string, p int32, v OffsetValue) bool {
				if len(out) == 0 || out[len(out)-1].topic != topic {
					out = append(out, fetchedTopic{topic: topic})
				}
				ft := &out[len(out)-1]
				ft.partitions = append(ft.partitions, fetchedPartition{p, v, errNone})
				return true
			})
		})
		if errors.Is(err, errClosedStore) {
			return nil, errClosed
		}
		if err != nil {
			c.logger.Error("group store read failed", "group", group, "err", err)
			return nil, errStorage
		}
		return out, errNone
	}
	out := make([]fetchedTopic, 0, len(topics))
	for _, t := range topics {
		ft := fetchedTopic{topic: t.topic, partitions: make([]fetchedPartition, 0, len(t.partitions))}
		for _, p := range t.partitions {
			var v OffsetValue
			var ok bool
			err := c.readStore(func() (err error) {
				v, ok, err = c.store.Offset(group, t.topic, p)
				return err
			})
			switch {
			case errors.Is(err, errClosedStore):
				ft.partitions = append(ft.partitions, fetchedPartition{p, noOffset, errClosed})
			case err != nil:
				c.logger.Error("group store read failed", "group", group, "topic", t.topic, "partition", p, "err", err)
				ft.partitions = append(ft.partitions, fetchedPartition{p, noOffset, errStorage})
			case !ok:
				ft.partitions = append(ft.partitions, fetchedPartition{p, noOffset, errNone})
			default:
				ft.partitions = append(ft.partitions, fetchedPartition{p, v, errNone})
			}
		}
		out = append(out, ft)
	}
	return out, errNone
}

func errorTopics(topics []fetchTopic, code int16) []fetchedTopic {
	out := make([]fetchedTopic, 0, len(topics))
	for _, t := range topics {
		ft := fetchedTopic{topic: t.topic}
		for _, p := range t.partitions {
			ft.partitions = append(ft.partitions, fetchedPartition{p, noOffset, code})
		}
		out = append(out, ft)
	}
	return out
}

// OffsetDelete serves an OffsetDelete request (v0): a group's committed offsets for some
// partitions go, except for topics its members still consume (GROUP_SUBSCRIBED_TO_TOPIC). Only
// an empty group, or one using the consumer protocol, may delete offsets. reply is called once the
// deletion is applied.
func (c *Coordinator) OffsetDelete(req *kmsg.OffsetDeleteRequest, reply func(*kmsg.OffsetDeleteResponse)) {
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	if req.Group == "" {
		resp.ErrorCode = errInvalidGroupID
		reply(resp)
		return
	}
	g, _, code := c.lockGroup(req.Group, false)
	if g == nil {
		if code == errNone {
			code = errGroupIDNotFound
		}
		resp.ErrorCode = code
		reply(resp)
		return
	}
	if g.state != stateEmpty && g.protocolType != "consumer" {
		g.mu.Unlock()
		resp.ErrorCode = errNonEmptyGroup
		reply(resp)
		return
	}
	var recs []Record
	var stored []*int16
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetDeleteResponseTopic()
		st.Topic = rt.Topic
		n := c.topics.Partitions(rt.Topic)
		st.Partitions = make([]kmsg.OffsetDeleteResponseTopicPartition, len(rt.Partitions))
		for j, rp := range rt.Partitions {
			sp := &st.Partitions[j]
			sp.Partition = rp.Partition
			switch {
			case rp.Partition < 0 || rp.Partition >= n:
				sp.ErrorCode = errUnknownTopicOrPartition
			case g.state != stateEmpty && g.isSubscribedTo(rt.Topic):
				sp.ErrorCode = errGroupSubscribedToTopic
			default:
				recs = append(recs, DeleteOffsetRecord(req.Group, rt.Topic, rp.Partition))
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	for i := range resp.Topics {
		for j := range resp.Topics[i].Partitions {
			sp := &resp.Topics[i].Partitions[j]
			if sp.ErrorCode == errNone {
				stored = append(stored, &sp.ErrorCode)
			}
		}
	}
	if len(recs) == 0 {
		g.mu.Unlock()
		reply(resp)
		return
	}
	g.append(recs, func(err error) {
		if err != nil {
			for _, code := range stored {
				*code = appendErrorCode(err)
			}
		}
		reply(resp)
	})
	g.mu.Unlock()
}

// TopicDeleted removes every group's committed offsets for a topic that was deleted, as Kafka
// does, so that a topic created again under the name starts without them. Non-blocking: the
// deletions are queued behind every commit already queued (so none survives) and ahead of any
// commit for the new topic.
func (c *Coordinator) TopicDeleted(topic string) {
	for _, g := range c.sortedGroups() {
		g.mu.Lock()
		if g.state != stateDead && g.mayHaveOffsets {
			g.append([]Record{DeleteTopicOffsetsRecord(g.name, topic)}, nil)
		}
		g.mu.Unlock()
	}
}

// DeleteGroups serves a DeleteGroups request: each empty group is removed with its offsets;
// a group with members gets NON_EMPTY_GROUP, an unknown one GROUP_ID_NOT_FOUND. reply is called
// once every deletion is applied.
func (c *Coordinator) DeleteGroups(req *kmsg.DeleteGroupsRequest, reply func(*kmsg.DeleteGroupsResponse)) {
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	resp.Groups = make([]kmsg.DeleteGroupsResponseGroup, len(req.Groups))
	var waiting atomic.Int32
	waiting.Store(1) // released below, once every deletion is queued
	release := func() {
		if waiting.Add(-1) == 0 {
			reply(resp)
		}
	}
	for i, name := range req.Groups {
		rg := &resp.Groups[i]
		rg.Default()
		rg.Group = name
		g, _, code := c.lockGroup(name, false)
		switch {
		case g == nil && code != errNone:
			rg.ErrorCode = code
			continue
		case g == nil:
			rg.ErrorCode = errGroupIDNotFound
			continue
		case g.state != stateEmpty:
			rg.ErrorCode = errNonEmptyGroup
			g.mu.Unlock()
			continue
		}
		waiting.Add(1)
		g.append([]Record{DeleteGroupOffsetsRecord(name), DeleteGroupRecord(name)}, func(err error) {
			if err != nil {
				rg.ErrorCode = appendErrorCode(err)
			}
			release()
		})
		for id, t := range g.pending {
			t.Stop()
			delete(g.pending, id)
		}
		c.removeGroupLocked(g)
		g.mu.Unlock()
		c.logger.Info("deleted group", "group", name)
	}
	release()
}
