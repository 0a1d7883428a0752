package group

// The coordinator's Prometheus metrics: a prometheus.Collector (Collector()) that reads the
// groups, the store and the counters only when scraped. Per group: members, generation, state,
// summed offset lag and the largest time lag; per group and committed partition: the committed
// offset, the offset lag and the time lag. The counters are atomics bumped where the work happens.
//
// Time lag is read from the partition's log at scrape time (RecordTimestamps): for each committed
// partition with a positive offset lag, one lookup in the log's offset index and one read of the
// batch holding the committed offset — its 61-byte header when compressed, the batch itself (at
// most message.max.bytes) when not — so a scrape costs at most one small read per (group, lagging
// partition), no scan; groups committed at the same offset share one read, and caught-up
// partitions cost nothing. BenchmarkScrape (engine/broker) measures it.

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// RecordTimestamps is the optional part of Topics that time lag needs.
type RecordTimestamps interface {
	// RecordTimestamp returns the timestamp in ms of the record at offset, or of the log's first
	// record when offset lies below the log start; ok is false when there is no such record below
	// the high watermark or the partition does not exist. Must be bounded in cost (no scan).
	RecordTimestamp(topic string, partition int32, offset int64) (timestampMs int64, ok bool)
}

// timestampMemo holds the record timestamps one scrape has read, by partition and offset (-1: none
// readable), so groups committed at the same offset of a partition cost one read between them.
type timestampMemo map[timestampKey]int64

type timestampKey struct {
	topicPartition
	offset int64
}

// timeLagMs is now minus the timestamp of the record at committed: 0 when lag is 0, -1 when the
// timestamp cannot be read. A record stamped in the future (a producer's clock ahead of ours)
// counts as 0, not as a negative lag. memo may be nil.
func (c *Coordinator) timeLagMs(tp topicPartition, committed, lag int64, memo timestampMemo) int64 {
	if lag == 0 {
		return 0
	}
	rt, ok := c.topics.(RecordTimestamps)
	if !ok {
		return -1
	}
	k := timestampKey{tp, committed}
	ts, seen := memo[k]
	if !seen {
		var ok bool
		if ts, ok = rt.RecordTimestamp(tp.topic, tp.partition, committed); !ok {
			ts = -1
		}
		if memo != nil {
			memo[k] = ts
		}
	}
	if ts < 0 {
		return -1
	}
	return max(c.clock.Now().UnixMilli()-ts, 0)
}

var (
	descGroupMembers = prometheus.NewDesc("sluice_group_members",
		"Members of a consumer group.", []string{"group"}, nil)
	descGroupGeneration = prometheus.NewDesc("sluice_group_generation",
		"Generation of a consumer group.", []string{"group"}, nil)
	descGroupState = prometheus.NewDesc("sluice_group_state",
		"State of a consumer group: 1 for the state it is in.", []string{"group", "state"}, nil)
	descGroupLag = prometheus.NewDesc("sluice_group_lag",
		"Sum over a group's committed partitions of high watermark minus committed offset.", []string{"group"}, nil)
	descGroupMaxTimeLag = prometheus.NewDesc("sluice_group_max_time_lag_seconds",
		"Largest time lag over a group's committed partitions: how old its oldest unconsumed record is.", []string{"group"}, nil)
	descGroupCommitted = prometheus.NewDesc("sluice_group_committed_offset",
		"Committed offset, per group and partition.", []string{"group", "topic", "partition"}, nil)
	descGroupPartitionLag = prometheus.NewDesc("sluice_group_partition_lag",
		"High watermark minus committed offset, per group and partition (-1: the partition is gone).", []string{"group", "topic", "partition"}, nil)
	descGroupPartitionTimeLag = prometheus.NewDesc("sluice_group_partition_time_lag_seconds",
		"Now minus the timestamp of the record at the committed offset, per group and partition (0: caught up; -1: unknown).", []string{"group", "topic", "partition"}, nil)
	descGroupRebalances = prometheus.NewDesc("sluice_group_rebalances_total",
		"Join phases completed (generations started).", nil, nil)
	descGroupOffsetCommits = prometheus.NewDesc("sluice_group_offset_commits_total",
		"Partition offsets committed.", nil, nil)
	descGroupOffsetsExpired = prometheus.NewDesc("sluice_group_offsets_expired_total",
		"Committed offsets removed by offsets.retention.minutes.", nil, nil)
	descGroupGroupsRemoved = prometheus.NewDesc("sluice_group_groups_removed_total",
		"Groups removed (deleted, or empty with no offsets left).", nil, nil)
	descGroupJournalBatches = prometheus.NewDesc("sluice_group_journal_batches_total",
		"Batches of coordinator records applied to the store (one pebble commit each).", nil, nil)
	descGroupJournalRecords = prometheus.NewDesc("sluice_group_journal_records_total",
		"Coordinator records applied to the store.", nil, nil)
	descGroupJournalApply = prometheus.NewDesc("sluice_group_journal_apply_seconds_total",
		"Time spent applying batches to the store (with fsync when enabled).", nil, nil)
)

// Collector returns the coordinator's metrics as a prometheus.Collector.
func (c *Coordinator) Collector() prometheus.Collector { return collector{c} }

type collector struct{ c *Coordinator }

// Describe sends the descriptors of the coordinator's metrics.
func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descGroupMembers, descGroupGeneration, descGroupState, descGroupLag,
		descGroupMaxTimeLag, descGroupCommitted, descGroupPartitionLag, descGroupPartitionTimeLag,
		descGroupRebalances, descGroupOffsetCommits, descGroupOffsetsExpired, descGroupGroupsRemoved,
		descGroupJournalBatches, descGroupJournalRecords, descGroupJournalApply} {
		ch <- d
	}
}

// Collect sends the coordinator's metrics. Safe on any goroutine: it takes each group's lock for a
// few field reads and reads every group's offsets from the store (one range read per group), plus
// the time-lag reads described at the top of this file.
func (m collector) Collect(ch chan<- prometheus.Metric) {
	c := m.c
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	memo := timestampMemo{}
	for _, g := range c.sortedGroups() {
		g.mu.Lock()
		name, state, members, generation := g.name, g.state.String(), len(g.members), g.generation
		dead := g.state == stateDead
		g.mu.Unlock()
		if dead {
			continue
		}
		var lagSum, maxTimeLagMs int64
		_ = c.readStore(func() error {
			return c.store.Offsets(name, func(topic string, p int32, v OffsetValue) bool {
				pl := c.partitionLag(topicPartition{topic, p}, v, "", "", "", memo)
				part := strconv.Itoa(int(p))
				gauge(descGroupCommitted, float64(pl.CommittedOffset), name, topic, part)
				gauge(descGroupPartitionLag, float64(pl.Lag), name, topic, part)
				timeLag := float64(pl.TimeLagMs) // -1: unknown
				if pl.TimeLagMs > 0 {
					timeLag /= 1000
				}
				gauge(descGroupPartitionTimeLag, timeLag, name, topic, part)
				lagSum += max(pl.Lag, 0)
				maxTimeLagMs = max(maxTimeLagMs, pl.TimeLagMs)
				return true
			})
		})
		gauge(descGroupMembers, float64(members), name)
		gauge(descGroupGeneration, float64(generation), name)
		gauge(descGroupState, 1, name, state)
		gauge(descGroupLag, float64(lagSum), name)
		gauge(descGroupMaxTimeLag, float64(maxTimeLagMs)/1000, name)
	}
	counter(descGroupRebalances, float64(c.m.rebalances.Load()))
	counter(descGroupOffsetCommits, float64(c.m.offsetCommits.Load()))
	counter(descGroupOffsetsExpired, float64(c.m.offsetsExpired.Load()))
	counter(descGroupGroupsRemoved, float64(c.m.groupsRemoved.Load()))
	counter(descGroupJournalBatches, float64(c.journal.batches.Load()))
	counter(descGroupJournalRecords, float64(c.journal.records.Load()))
	counter(descGroupJournalApply, float64(c.journal.applyNsSum.Load())/1e9)
}
