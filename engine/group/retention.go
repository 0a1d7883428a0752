package group

import (
	"errors"
	"time"
)

// retentionPass expires committed offsets (offsets.retention.minutes) and removes groups that are
// left with neither members nor offsets, as Kafka's periodic cleanup does:
//   - an offset committed with an explicit retention time (OffsetCommit v2-4) expires then;
//   - otherwise, in an Empty group with a protocol type (a consumer group whose members are all
//     gone), every offset expires retention after the group became empty;
//   - in a group without a protocol type (commits only, no membership), each offset expires
//     retention after its commit;
//   - in a Stable consumer-protocol group, offsets of topics no member subscribes to expire
//     retention after their commit; offsets of subscribed topics never do.
//
// The store is read without the group's lock (no I/O under a lock an event loop may want). The
// deletions are queued only if, under the lock again, the group is in the same state and has
// queued nothing since, and none of its writes was still queued before: then the store held
// exactly what the pass read, and the rules applied to it still hold. Otherwise the group waits
// for the next pass.
func (c *Coordinator) retentionPass() {
	if c.closed.Load() {
		return
	}
	nowMs := c.now().UnixMilli()
	retentionMs := int64(max(c.config().OffsetsRetentionMinutes, offsetRetentionMinMinutes)) * int64(time.Minute/time.Millisecond)
	for _, g := range c.sortedGroups() {
		g.mu.Lock()
		if g.state == stateDead || g.inflight.Load() > 0 {
			g.mu.Unlock()
			continue
		}
		seq, state, since, base := g.appends, g.state, g.stateTime, g.expiryBase()
		g.mu.Unlock()

		var recs []Record
		remaining := 0
		err := c.readStore(func() error {
			return c.store.Offsets(g.name, func(topic string, p int32, v OffsetValue) bool {
				expired := false
				switch {
				case v.ExpireTimestampMs >= 0:
					expired = nowMs >= v.ExpireTimestampMs
				case base != nil:
					if b, ok := base(topic, v); ok {
						expired = nowMs >= b+retentionMs
					}
				}
				if expired {
					recs = append(recs, DeleteOffsetRecord(g.name, topic, p))
				} else {
					remaining++
				}
				return true
			})
		})
		if errors.Is(err, errClosedStore) {
			return
		}
		if err != nil {
			c.logger.Error("offset retention: reading the store failed", "group", g.name, "err", err)
			continue
		}

		g.mu.Lock()
		if g.appends != seq || g.state != state || !g.stateTime.Equal(since) || c.closed.Load() {
			g.mu.Unlock()
			continue
		}
		if len(recs) > 0 {
			c.m.offsetsExpired.Add(int64(len(recs)))
			c.logger.Info("expired committed offsets", "group", g.name, "offsets", len(recs))
		}
		if remaining == 0 {
			g.mayHaveOffsets = false
		}
		if g.state == stateEmpty && len(g.members) == 0 && len(g.pending) == 0 && remaining == 0 {
			if g.persisted {
				recs = append(recs, DeleteGroupRecord(g.name))
			}
			c.removeGroupLocked(g)
			c.logger.Debug("removed empty group", "group", g.name)
		}
		if len(recs) > 0 {
			g.append(recs, nil)
		}
		g.mu.Unlock()
	}
}

// expiryBase returns, per Kafka's rules above, the time an offset's retention counts from, or nil
// if no offset of the group may expire by retention now. It captures what it needs of the group,
// so it may run without the lock. Caller holds g.mu.
func (g *group) expiryBase() func(topic string, v OffsetValue) (int64, bool) {
	switch {
	case g.protocolType == "":
		return func(_ string, v OffsetValue) (int64, bool) { return v.CommitTimestampMs, true }
	case g.state == stateEmpty:
		emptySince := g.stateTime.UnixMilli()
		return func(string, OffsetValue) (int64, bool) { return emptySince, true }
	case g.state == stateStable && g.protocolType == "consumer" && g.subscribed != nil:
		subscribed := g.subscribed // replaced, never modified, when it changes
		return func(topic string, v OffsetValue) (int64, bool) {
			if subscribed[topic] {
				return 0, false
			}
			return v.CommitTimestampMs, true
		}
	}
	return nil
}
