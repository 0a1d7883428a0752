package broker

import "github.com/sluicemq/sluice/engine/group"

// The coordinator reads consumer time lag through brokerTopics (engine/group's RecordTimestamps):
// the timestamp of the record at a group's committed offset, read from the partition's log below
// its high watermark. See log.RecordTimestamp for the cost of one read.
var _ group.RecordTimestamps = brokerTopics{}

func (t brokerTopics) RecordTimestamp(topic string, partition int32, offset int64) (int64, bool) {
	p := t.b.lookupPartition(topic, partition)
	if p == nil {
		return 0, false
	}
	ts, ok, err := p.log.RecordTimestamp(offset, p.log.HighWatermark())
	if err != nil {
		t.b.logger.Debug("reading a record timestamp for time lag", "topic", topic, "partition", partition, "offset", offset, "err", err)
		return 0, false
	}
	return ts, ok
}
