package broker

// LeaveGroup: v0-5 — one member (v0-2) or a batch named by member id or group.instance.id (v3+,
// KIP-345); v5's reason is accepted and not kept. The group rebalances without the leavers at
// once, rather than after their session timeouts.

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/netio"
)

func init() { register(13, 0, 5, simple(handleLeaveGroup)) }

func handleLeaveGroup(b *Broker, req *netio.Request, kreq kmsg.Request) kmsg.Response {
	return b.groups.LeaveGroup(kreq.(*kmsg.LeaveGroupRequest))
}
