package broker

// OffsetCommit: v0-8, topics by name (v9, KIP-848 member epochs, and v10, topic ids, are not
// served). Kafka's checks, in engine/group: partitions of unknown topics get
// UNKNOWN_TOPIC_OR_PARTITION and oversized metadata OFFSET_METADATA_TOO_LARGE, each on its own; a
// commit with generation -1 needs an empty group (it creates one if needed); otherwise member and
// generation must be current (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, FENCED_INSTANCE_ID, and
// REBALANCE_IN_PROGRESS between a generation's join and sync). The answer waits, off the event
// loop, until the offsets are in the group store; v1's commit timestamp and v2-4's retention
// time are honoured.

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/netio"
)

func init() { register(8, 0, 8, serveOffsetCommit) }

func serveOffsetCommit(b *Broker, req *netio.Request, kreq kmsg.Request, w netio.ResponseWriter) {
	b.groups.OffsetCommit(kreq.(*kmsg.OffsetCommitRequest), func(resp *kmsg.OffsetCommitResponse) { respond(w, resp) })
}
