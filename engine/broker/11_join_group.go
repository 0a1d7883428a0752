package broker

// JoinGroup: v0-9. The classic group protocol of engine/group: v4+ members without a member id
// get MEMBER_ID_REQUIRED and an id to come back with (KIP-394), static members (v5+,
// group.instance.id) rejoin without a rebalance (KIP-345), v9 tells a static leader that rejoined
// to skip the assignment (KIP-814); v0 uses the session timeout as rebalance timeout. The request
// parks, off the event loop, until the join phase ends (every member rejoined, the rebalance
// timeout, or group.initial.rebalance.delay.ms for a group that was empty). One deviation: a
// member's second JoinGroup while its first still waits answers the first with
// REBALANCE_IN_PROGRESS, where Kafka leaves it unanswered.

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/netio"
)

func init() { register(11, 0, 9, serveJoinGroup) }

func serveJoinGroup(b *Broker, req *netio.Request, kreq kmsg.Request, w netio.ResponseWriter) {
	b.groups.JoinGroup(kreq.(*kmsg.JoinGroupRequest), groupClient(req), func(resp *kmsg.JoinGroupResponse) { respond(w, resp) })
}
