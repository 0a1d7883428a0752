package main

// Time lag for `sluice group describe`: how old the first record a group has not consumed is —
// now minus the timestamp of the record at its committed offset — as the broker's
// sluice_group_partition_time_lag_seconds reports it. Read as a consumer would: one franz-go
// client fetching, for every partition the group lags on, from its committed offset (from the log
// start when retention deleted it) until each has returned its first record. Partitions that are
// caught up cost nothing; the client decompresses batches, so the timestamp is the record's own.

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// timeLagFetchWaitMax bounds each fetch's long poll: the records are there already.
const timeLagFetchWaitMax = 100 * time.Millisecond

// unconsumedTimestamps returns, for each topic → partition → committed offset in at, the
// timestamp of the first record at or after it. Partitions still unanswered when ctx ends are
// missing from the answer (their time lag is unknown), as are those whose fetch failed.
func (c *cli) unconsumedTimestamps(ctx context.Context, at map[string]map[int32]int64) map[string]map[int32]time.Time {
	out := map[string]map[int32]time.Time{}
	offsets := map[string]map[int32]kgo.Offset{}
	left := 0
	for t, ps := range at {
		offsets[t] = map[int32]kgo.Offset{}
		out[t] = map[int32]time.Time{}
		for p, o := range ps {
			offsets[t][p] = kgo.NewOffset().At(o)
			left++
		}
	}
	if left == 0 {
		return out
	}
	cl, err := c.newClient(kgo.ConsumePartitions(offsets), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(timeLagFetchWaitMax))
	if err != nil {
		return out
	}
	defer cl.Close()
	failed := map[string]map[int32]bool{}
	for left > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return out
		}
		fs.EachError(func(t string, p int32, _ error) {
			if _, done := out[t][p]; done || failed[t][p] {
				return
			}
			if failed[t] == nil {
				failed[t] = map[int32]bool{}
			}
			failed[t][p] = true
			cl.PauseFetchPartitions(map[string][]int32{t: {p}})
			left--
		})
		fs.EachRecord(func(r *kgo.Record) {
			if _, done := out[r.Topic][r.Partition]; done || failed[r.Topic][r.Partition] {
				return
			}
			out[r.Topic][r.Partition] = r.Timestamp
			cl.PauseFetchPartitions(map[string][]int32{r.Topic: {r.Partition}})
			left--
		})
	}
	return out
}

// addTimeLags fills in the time lag of every partition of d: 0 when caught up, -1 when unknown.
// One client per group: two groups on one partition read from their own committed offsets.
func (c *cli) addTimeLags(ctx context.Context, d *groupDescribeJSON) {
	at := map[string]map[int32]int64{}
	for _, p := range d.Partitions {
		if p.Lag > 0 && p.CommittedOffset >= 0 {
			if at[p.Topic] == nil {
				at[p.Topic] = map[int32]int64{}
			}
			at[p.Topic][p.Partition] = p.CommittedOffset
		}
	}
	ts := c.unconsumedTimestamps(ctx, at)
	now := time.Now()
	for i := range d.Partitions {
		p := &d.Partitions[i]
		p.TimeLagMs = -1
		if p.Lag == 0 {
			p.TimeLagMs = 0
		} else if t, ok := ts[p.Topic][p.Partition]; ok {
			p.TimeLagMs = max(now.Sub(t).Milliseconds(), 0)
		}
	}
}
