package broker

// Fetch sessions (KIP-227). A client opens one with SessionEpoch 0; the broker remembers its
// partitions (fetch offset, max bytes) and what it last told the client about each (high
// watermark, log start offset). Later requests carry the next epoch and only the partitions whose
// fetch offset changed (plus ForgottenTopics to drop); responses carry only partitions with
// records, an error, or a changed high watermark / log start offset. Partitions that returned
// data move to the back of the session's order, so a small MaxBytes cannot starve the others.
// SessionEpoch -1 fetches without a session. The cache holds fetchSessionSlots sessions and
// evicts the least recently used (Kafka's max.incremental.fetch.session.cache.slots).

import (
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	fetchSessionSlots           = 1000 // max.incremental.fetch.session.cache.slots
	errFetchSessionIDNotFound   = 70
	errInvalidFetchSessionEpoch = 71
)

type sessionKey struct {
	topic     string
	partition int32
}

type sessionPartition struct {
	sessionKey
	fetchOffset        int64
	maxBytes           int32
	currentLeaderEpoch int32
	sentHW             int64
	sentLogStart       int64
}

type fetchSession struct {
	id       int32
	mu       sync.Mutex // guards everything below
	epoch    int32      // the epoch the next request must carry
	parts    []*sessionPartition
	index    map[sessionKey]*sessionPartition
	lastUsed time.Time
}

type fetchSessionCache struct {
	mu     sync.Mutex
	nextID int32
	byID   map[int32]*fetchSession
}

// fetchPlan is a Fetch request resolved against its session: what to read, how to answer.
type fetchPlan struct {
	parts       []fetchPart
	incremental bool
	sessionID   int32
	errorCode   int16
	session     *fetchSession
}

// sent records what the client has now been told, and rotates partitions that returned data to
// the back of the session's order.
func (p *fetchPlan) sent(results []partResult) {
	s := p.session
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var gaveData []*sessionPartition
	for i, pr := range results {
		sp := p.parts[i].sess
		if sp == nil || !pr.include {
			continue
		}
		sp.sentHW, sp.sentLogStart = pr.hw, pr.logStart
		if pr.region != nil {
			gaveData = append(gaveData, sp)
		}
	}
	if len(gaveData) == 0 {
		return
	}
	moved := make(map[*sessionPartition]bool, len(gaveData))
	for _, sp := range gaveData {
		moved[sp] = true
	}
	kept := s.parts[:0:0]
	for _, sp := range s.parts {
		if !moved[sp] {
			kept = append(kept, sp)
		}
	}
	s.parts = append(kept, gaveData...)
}

// planFetch resolves a Fetch request: sessionless, opening a session, or incremental.
func (b *Broker) planFetch(r *kmsg.FetchRequest) fetchPlan {
	if r.Version < 7 || r.SessionEpoch == -1 {
		if r.Version >= 7 && r.SessionID != 0 {
			b.sessions.remove(r.SessionID)
		}
		return fetchPlan{parts: requestParts(r)}
	}
	if r.SessionEpoch == 0 {
		if r.SessionID != 0 {
			b.sessions.remove(r.SessionID)
		}
		s := b.sessions.create()
		s.mu.Lock()
		defer s.mu.Unlock()
		s.update(r)
		return s.plan(false)
	}
	s := b.sessions.get(r.SessionID)
	if s == nil {
		return fetchPlan{errorCode: errFetchSessionIDNotFound}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.SessionEpoch != s.epoch {
		return fetchPlan{errorCode: errInvalidFetchSessionEpoch}
	}
	s.update(r)
	return s.plan(true)
}

// currentLeaderEpoch is a Fetch partition's CurrentLeaderEpoch: -1 (no check) before v9.
func currentLeaderEpoch(version int16, e int32) int32 {
	if version < 9 {
		return -1
	}
	return e
}

func requestParts(r *kmsg.FetchRequest) []fetchPart {
	var parts []fetchPart
	for _, rt := range r.Topics {
		for _, rp := range rt.Partitions {
			parts = append(parts, fetchPart{topic: rt.Topic, partition: rp.Partition, offset: rp.FetchOffset, maxBytes: rp.PartitionMaxBytes,
				currentLeaderEpoch: currentLeaderEpoch(r.Version, rp.CurrentLeaderEpoch)})
		}
	}
	return parts
}

// update applies a request to the session and advances its epoch. Caller holds s.mu.
func (s *fetchSession) update(r *kmsg.FetchRequest) {
	for _, rt := range r.Topics {
		for _, rp := range rt.Partitions {
			k := sessionKey{rt.Topic, rp.Partition}
			sp := s.index[k]
			if sp == nil {
				sp = &sessionPartition{sessionKey: k, sentHW: -2, sentLogStart: -2}
				s.index[k] = sp
				s.parts = append(s.parts, sp)
			}
			sp.fetchOffset, sp.maxBytes = rp.FetchOffset, rp.PartitionMaxBytes
			sp.currentLeaderEpoch = currentLeaderEpoch(r.Version, rp.CurrentLeaderEpoch)
		}
	}
	for _, ft := range r.ForgottenTopics {
		for _, p := range ft.Partitions {
			k := sessionKey{ft.Topic, p}
			if sp := s.index[k]; sp != nil {
				delete(s.index, k)
				for i, x := range s.parts {
					if x == sp {
						s.parts = append(s.parts[:i], s.parts[i+1:]...)
						break
					}
				}
			}
		}
	}
	s.epoch++
	if s.epoch <= 0 {
		s.epoch = 1 // wraps like the clients do
	}
	s.lastUsed = time.Now()
}

// plan lists the session's partitions in its current order. Caller holds s.mu.
func (s *fetchSession) plan(incremental bool) fetchPlan {
	p := fetchPlan{incremental: incremental, sessionID: s.id, session: s, parts: make([]fetchPart, len(s.parts))}
	for i, sp := range s.parts {
		p.parts[i] = fetchPart{topic: sp.topic, partition: sp.partition, offset: sp.fetchOffset, maxBytes: sp.maxBytes,
			currentLeaderEpoch: sp.currentLeaderEpoch, sess: sp}
	}
	return p
}

func (c *fetchSessionCache) create() *fetchSession {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byID == nil {
		c.byID = map[int32]*fetchSession{}
	}
	if len(c.byID) >= fetchSessionSlots {
		var oldest *fetchSession
		for _, s := range c.byID {
			if oldest == nil || s.lastUsed.Before(oldest.lastUsed) {
				oldest = s
			}
		}
		delete(c.byID, oldest.id)
	}
	for {
		c.nextID++
		if c.nextID <= 0 {
			c.nextID = 1
		}
		if c.byID[c.nextID] == nil {
			break
		}
	}
	s := &fetchSession{id: c.nextID, index: map[sessionKey]*sessionPartition{}, lastUsed: time.Now()}
	c.byID[s.id] = s
	return s
}

func (c *fetchSessionCache) get(id int32) *fetchSession {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byID[id]
}

func (c *fetchSessionCache) remove(id int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.byID, id)
}
