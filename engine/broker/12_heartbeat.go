package broker

// Heartbeat: v0-4. Keeps a member's session (session.timeout.ms) alive; REBALANCE_IN_PROGRESS
// tells it to rejoin, ILLEGAL_GENERATION that its generation is gone, UNKNOWN_MEMBER_ID that it
// was removed, FENCED_INSTANCE_ID that another process took its group.instance.id. Members may
// heartbeat between their JoinGroup and SyncGroup answers, as Kafka allows.

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/netio"
)

func init() { register(12, 0, 4, simple(handleHeartbeat)) }

func handleHeartbeat(b *Broker, req *netio.Request, kreq kmsg.Request) kmsg.Response {
	return b.groups.Heartbeat(kreq.(*kmsg.HeartbeatRequest))
}
