package replica

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The follower's fetcher (Kafka's ReplicaFetcherThread): one goroutine and one connection per
// source broker, copying every partition this node follows from that leader with one Fetch
// request at a time. Each partition is first Truncating: the fetcher asks the leader
// (OffsetForLeaderEpoch, batched over the truncating partitions) for the end offset of the
// follower's latest epoch and truncates there (DecideTruncation); then Fetching from its log end
// offset. A partition the leader fences (FENCED_LEADER_EPOCH: the follower's assignment is older
// than the leader's) stops until a new assignment re-adds it; other errors back off
// replica.fetch.backoff.ms and retry.

// Kafka's defaults for the fetcher's settings, under their property names.
const (
	DefaultFetchWaitMaxMs        = 500      // replica.fetch.wait.max.ms
	DefaultFetchMinBytes         = 1        // replica.fetch.min.bytes
	DefaultFetchMaxBytes         = 1 << 20  // replica.fetch.max.bytes (per partition)
	DefaultFetchResponseMaxBytes = 10 << 20 // replica.fetch.response.max.bytes
	DefaultFetchBackoffMs        = 1000     // replica.fetch.backoff.ms
	DefaultSocketTimeoutMs       = 30000    // replica.socket.timeout.ms

	// The versions the fetcher speaks: the highest Sluice serves that name topics by name.
	fetchVersion                = 12
	offsetForLeaderEpochVersion = 4
)

// Kafka error codes the fetcher acts on.
const (
	codeNone              int16 = 0
	codeOffsetOutOfRange  int16 = 1
	codeFencedLeaderEpoch int16 = 74
)

// ErrFenced is what a Target returns when the partition no longer follows this leader in the
// leader epoch the fetcher named: a newer assignment arrived, and the fetcher's work for the old
// one must not touch the log.
var ErrFenced = errors.New("replica: partition no longer follows this leader in this epoch")

// Target is one local partition as its fetcher sees it; the broker implements it. The methods
// that change the log name the leader epoch the fetcher follows in and return ErrFenced when the
// partition has moved on; they may take the broker's partition lock and write to disk.
type Target interface {
	TopicPartition() TopicPartition
	LogStartOffset() int64
	LogEndOffset() int64
	LatestEpoch() int32
	EndOffsetForEpoch(epoch int32) (int32, int64)
	// Truncate removes everything from offset on (nothing at or past the log end, but an empty
	// latest epoch is forgotten).
	Truncate(leaderEpoch int32, offset int64) error
	// TruncateFully empties the log and restarts it at offset (the leader's log start moved past
	// everything this follower holds).
	TruncateFully(leaderEpoch int32, offset int64) error
	// Append stores the leader's batches fetched from fetchOffset, as they are (offsets, epochs,
	// CRC checked), skipping any wholly below the log end. batches may end in a partial batch,
	// which is ignored. It must not keep batches after returning.
	Append(leaderEpoch int32, fetchOffset int64, batches []byte) error
	// UpdateFromLeader takes the leader's high watermark (the follower's becomes min(it, its own
	// log end), never lower than before) and log start offset (the follower's moves up to it,
	// within its own high watermark).
	UpdateFromLeader(leaderEpoch int32, highWatermark, logStartOffset int64) error
}

// FetcherConfig configures one fetcher. Zero values take Kafka's defaults.
type FetcherConfig struct {
	NodeID int32 // this broker: the ReplicaID of every request
	Leader int32 // the source broker
	// LeaderAddr returns the leader's host:port now; consulted at every (re)connect.
	LeaderAddr            func() (string, bool)
	FetchWaitMaxMs        int32
	FetchMinBytes         int32
	FetchMaxBytes         int32
	FetchResponseMaxBytes int32
	FetchBackoffMs        int64
	SocketTimeoutMs       int64
	Logger                *slog.Logger
}

func (c FetcherConfig) normalized() FetcherConfig {
	if c.FetchWaitMaxMs <= 0 {
		c.FetchWaitMaxMs = DefaultFetchWaitMaxMs
	}
	if c.FetchMinBytes <= 0 {
		c.FetchMinBytes = DefaultFetchMinBytes
	}
	if c.FetchMaxBytes <= 0 {
		c.FetchMaxBytes = DefaultFetchMaxBytes
	}
	if c.FetchResponseMaxBytes <= 0 {
		c.FetchResponseMaxBytes = DefaultFetchResponseMaxBytes
	}
	if c.FetchBackoffMs <= 0 {
		c.FetchBackoffMs = DefaultFetchBackoffMs
	}
	if c.SocketTimeoutMs <= 0 {
		c.SocketTimeoutMs = DefaultSocketTimeoutMs
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

type fetchState uint8

const (
	stateTruncating fetchState = iota
	stateFetching
	stateFenced
)

type fetchEntry struct {
	target     Target
	epoch      int32 // the leader epoch this node follows in
	state      fetchState
	delayUntil time.Time
}

// Fetcher copies the partitions this node follows from one leader. Create with StartFetcher.
type Fetcher struct {
	cfg FetcherConfig

	mu      sync.Mutex
	parts   map[TopicPartition]*fetchEntry
	conn    *conn // the loop's connection; Stop closes it to interrupt a request
	stopped bool

	wake chan struct{}
	stop chan struct{}
	done chan struct{}
}

// StartFetcher starts the fetcher's goroutine. It idles until partitions are added.
func StartFetcher(cfg FetcherConfig) *Fetcher {
	f := &Fetcher{
		cfg:   cfg.normalized(),
		parts: map[TopicPartition]*fetchEntry{},
		wake:  make(chan struct{}, 1),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	go f.run()
	return f
}

// Leader is the source broker.
func (f *Fetcher) Leader() int32 { return f.cfg.Leader }

// Add starts (or restarts) following t's partition from this leader in leaderEpoch: truncation
// first, then fetching.
func (f *Fetcher) Add(t Target, leaderEpoch int32) {
	f.mu.Lock()
	f.parts[t.TopicPartition()] = &fetchEntry{target: t, epoch: leaderEpoch, state: stateTruncating}
	f.mu.Unlock()
	f.kick()
}

// Remove stops following tp and returns how many partitions remain. Work already under way for tp
// finishes, but its effects are fenced by the Target.
func (f *Fetcher) Remove(tp TopicPartition) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.parts, tp)
	return len(f.parts)
}

// Len is the number of partitions followed.
func (f *Fetcher) Len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.parts)
}

// Stop ends the goroutine, interrupting a request in flight, and waits for it. Do not call it
// holding a lock a Target method takes.
func (f *Fetcher) Stop() {
	f.mu.Lock()
	if !f.stopped {
		f.stopped = true
		close(f.stop)
		if f.conn != nil {
			f.conn.close()
		}
	}
	f.mu.Unlock()
	<-f.done
}

func (f *Fetcher) kick() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *Fetcher) run() {
	defer close(f.done)
	defer func() {
		f.mu.Lock()
		if f.conn != nil {
			f.conn.close()
			f.conn = nil
		}
		f.mu.Unlock()
	}()
	for {
		select {
		case <-f.stop:
			return
		default:
		}
		trunc, fetch, next := f.ready(time.Now())
		if len(trunc) == 0 && len(fetch) == 0 {
			f.sleep(next)
			continue
		}
		c, err := f.connect()
		if err != nil {
			f.cfg.Logger.Debug("replica fetcher: cannot connect to leader", "leader", f.cfg.Leader, "err", err)
			f.delay(append(trunc, fetch...))
			continue
		}
		if len(trunc) > 0 {
			err = f.truncate(c, trunc)
		} else {
			err = f.fetch(c, fetch)
		}
		if err != nil {
			f.cfg.Logger.Debug("replica fetcher: request to leader failed", "leader", f.cfg.Leader, "err", err)
			f.dropConn(c)
			f.delay(append(trunc, fetch...))
		}
	}
}

// ready lists the entries due for work, and when the next delayed one is due (zero: none).
func (f *Fetcher) ready(now time.Time) (trunc, fetch []*fetchEntry, next time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range f.parts {
		switch {
		case e.state == stateFenced:
		case e.delayUntil.After(now):
			if next.IsZero() || e.delayUntil.Before(next) {
				next = e.delayUntil
			}
		case e.state == stateTruncating:
			trunc = append(trunc, e)
		default:
			fetch = append(fetch, e)
		}
	}
	return trunc, fetch, next
}

func (f *Fetcher) sleep(until time.Time) {
	var timer <-chan time.Time
	if !until.IsZero() {
		t := time.NewTimer(time.Until(until))
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-f.stop:
	case <-f.wake:
	case <-timer:
	}
}

func (f *Fetcher) connect() (*conn, error) {
	f.mu.Lock()
	c := f.conn
	f.mu.Unlock()
	if c != nil {
		return c, nil
	}
	addr, ok := f.cfg.LeaderAddr()
	if !ok {
		return nil, fmt.Errorf("no address for broker %d", f.cfg.Leader)
	}
	c, err := dial(addr, time.Duration(f.cfg.SocketTimeoutMs)*time.Millisecond)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		c.close()
		return nil, errors.New("fetcher stopped")
	}
	f.conn = c
	return c, nil
}

func (f *Fetcher) dropConn(c *conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c.close()
	if f.conn == c {
		f.conn = nil
	}
}

// current reports whether e is still the entry for its partition. Caller holds f.mu.
func (f *Fetcher) current(e *fetchEntry) bool {
	return f.parts[e.target.TopicPartition()] == e
}

func (f *Fetcher) delay(es []*fetchEntry) {
	until := time.Now().Add(time.Duration(f.cfg.FetchBackoffMs) * time.Millisecond)
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range es {
		if f.current(e) {
			e.delayUntil = until
		}
	}
}

func (f *Fetcher) setState(e *fetchEntry, s fetchState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.current(e) {
		e.state = s
		e.delayUntil = time.Time{}
	}
}

// failed handles a Target error: fenced partitions stop until re-added, others back off.
func (f *Fetcher) failed(e *fetchEntry, what string, err error) {
	if errors.Is(err, ErrFenced) {
		f.setState(e, stateFenced)
		return
	}
	f.cfg.Logger.Warn("replica fetcher: "+what+" failed", "partition", e.target.TopicPartition().String(), "leader", f.cfg.Leader, "err", err)
	f.delay([]*fetchEntry{e})
}

// onError handles a partition error code from the leader.
func (f *Fetcher) onError(e *fetchEntry, code int16) {
	if code == codeFencedLeaderEpoch {
		f.cfg.Logger.Info("replica fetcher: fenced by the leader; waiting for a new assignment", "partition", e.target.TopicPartition().String(), "leader", f.cfg.Leader, "epoch", e.epoch)
		f.setState(e, stateFenced)
		return
	}
	f.cfg.Logger.Debug("replica fetcher: leader answered an error", "partition", e.target.TopicPartition().String(), "leader", f.cfg.Leader, "code", code)
	f.delay([]*fetchEntry{e})
}

// index groups entries by topic and partition for matching answers.
func index(es []*fetchEntry) map[TopicPartition]*fetchEntry {
	m := make(map[TopicPartition]*fetchEntry, len(es))
	for _, e := range es {
		m[e.target.TopicPartition()] = e
	}
	return m
}

// truncate runs one OffsetForLeaderEpoch round for the truncating entries.
func (f *Fetcher) truncate(c *conn, es []*fetchEntry) error {
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.SetVersion(offsetForLeaderEpochVersion)
	req.ReplicaID = f.cfg.NodeID
	topics := map[string]int{}
	asked := map[TopicPartition]*fetchEntry{}
	for _, e := range es {
		tp := e.target.TopicPartition()
		latest := e.target.LatestEpoch()
		if latest == undefinedEpoch {
			// No batch carries an epoch: the log is empty (every stored batch has one), so
			// there is nothing to truncate.
			f.setState(e, stateFetching)
			continue
		}
		i, ok := topics[tp.Topic]
		if !ok {
			i = len(req.Topics)
			topics[tp.Topic] = i
			rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
			rt.Topic = tp.Topic
			req.Topics = append(req.Topics, rt)
		}
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = tp.Partition, e.epoch, latest
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
		asked[tp] = e
	}
	if len(asked) == 0 {
		return nil
	}
	resp := kmsg.NewPtrOffsetForLeaderEpochResponse()
	if err := c.do(req, resp, time.Duration(f.cfg.SocketTimeoutMs)*time.Millisecond); err != nil {
		return err
	}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			tp := TopicPartition{rt.Topic, rp.Partition}
			e := asked[tp]
			if e == nil {
				continue
			}
			delete(asked, tp)
			if rp.ErrorCode != codeNone {
				f.onError(e, rp.ErrorCode)
				continue
			}
			f.applyTruncation(e, rp.LeaderEpoch, rp.EndOffset)
		}
	}
	for _, e := range asked { // left out of the answer
		f.delay([]*fetchEntry{e})
	}
	return nil
}

func (f *Fetcher) applyTruncation(e *fetchEntry, leaderEpoch int32, leaderEnd int64) {
	t := e.target
	leo := t.LogEndOffset()
	tr := DecideTruncation(leaderEpoch, leaderEnd, t.EndOffsetForEpoch, leo)
	tp := t.TopicPartition().String()
	if tr.Retry {
		f.cfg.Logger.Warn("replica fetcher: leader knows no epoch this old; retrying", "partition", tp, "leader", f.cfg.Leader, "asked", t.LatestEpoch())
		f.delay([]*fetchEntry{e})
		return
	}
	if tr.Offset < leo {
		f.cfg.Logger.Info("replica fetcher: truncating to the leader's end for our epoch", "partition", tp, "leader", f.cfg.Leader,
			"leader_epoch", leaderEpoch, "leader_end", leaderEnd, "from", leo, "to", tr.Offset)
	}
	if err := t.Truncate(e.epoch, tr.Offset); err != nil {
		f.failed(e, "truncate", err)
		return
	}
	if tr.Done {
		f.setState(e, stateFetching)
	}
}

// fetch runs one Fetch for the fetching entries and applies the answer.
func (f *Fetcher) fetch(c *conn, es []*fetchEntry) error {
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(fetchVersion)
	req.ReplicaID = f.cfg.NodeID
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = f.cfg.FetchWaitMaxMs, f.cfg.FetchMinBytes, f.cfg.FetchResponseMaxBytes
	req.SessionID, req.SessionEpoch = 0, -1 // sessionless: the leader keeps no state for us
	topics := map[string]int{}
	offsets := make(map[TopicPartition]int64, len(es))
	for _, e := range es {
		tp := e.target.TopicPartition()
		i, ok := topics[tp.Topic]
		if !ok {
			i = len(req.Topics)
			topics[tp.Topic] = i
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic = tp.Topic
			req.Topics = append(req.Topics, rt)
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch = tp.Partition, e.epoch
		rp.FetchOffset, rp.LogStartOffset = e.target.LogEndOffset(), e.target.LogStartOffset()
		rp.PartitionMaxBytes = f.cfg.FetchMaxBytes
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
		offsets[tp] = rp.FetchOffset
	}
	resp := kmsg.NewPtrFetchResponse()
	timeout := time.Duration(int64(f.cfg.FetchWaitMaxMs)+f.cfg.SocketTimeoutMs) * time.Millisecond
	if err := c.do(req, resp, timeout); err != nil {
		return err
	}
	if resp.ErrorCode != codeNone {
		return fmt.Errorf("fetch: error %d", resp.ErrorCode)
	}
	byTP := index(es)
	for _, rt := range resp.Topics {
		for i := range rt.Partitions {
			rp := &rt.Partitions[i]
			tp := TopicPartition{rt.Topic, rp.Partition}
			e := byTP[tp]
			if e == nil {
				continue
			}
			f.applyFetched(e, offsets[tp], rp)
		}
	}
	return nil
}

func (f *Fetcher) applyFetched(e *fetchEntry, fetchOffset int64, rp *kmsg.FetchResponseTopicPartition) {
	t := e.target
	switch rp.ErrorCode {
	case codeNone:
		if len(rp.RecordBatches) > 0 {
			if err := t.Append(e.epoch, fetchOffset, rp.RecordBatches); err != nil {
				f.failed(e, "append", err)
				if !errors.Is(err, ErrFenced) {
					f.setStateKeepDelay(e, stateTruncating) // find where we stand again
				}
				return
			}
		}
		if err := t.UpdateFromLeader(e.epoch, rp.HighWatermark, rp.LogStartOffset); err != nil {
			f.failed(e, "high watermark update", err)
		}
	case codeOffsetOutOfRange:
		if rp.LogStartOffset > fetchOffset {
			// The leader's log start moved past everything we hold (retention, DeleteRecords):
			// start over there.
			f.cfg.Logger.Info("replica fetcher: behind the leader's log start; restarting there", "partition", t.TopicPartition().String(),
				"leader", f.cfg.Leader, "fetch_offset", fetchOffset, "leader_log_start", rp.LogStartOffset)
			if err := t.TruncateFully(e.epoch, rp.LogStartOffset); err != nil {
				f.failed(e, "truncate fully", err)
			}
			return
		}
		// Ahead of the leader's log end: our tail diverged. Truncate again, after a pause so a
		// leader still catching up on its own assignment is not hammered.
		f.setStateKeepDelay(e, stateTruncating)
		f.delay([]*fetchEntry{e})
	default:
		f.onError(e, rp.ErrorCode)
	}
}

// setStateKeepDelay changes the state without clearing a back-off.
func (f *Fetcher) setStateKeepDelay(e *fetchEntry, s fetchState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.current(e) {
		e.state = s
	}
}
