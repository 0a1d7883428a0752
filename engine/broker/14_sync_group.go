package broker

// SyncGroup: v0-5. The leader's request carries every member's assignment (computed by the
// client's assignor, eager or cooperative alike); each member's request parks, off the event
// loop, until the leader's assignment is stored in the group store, and is answered with its
// own. v5's protocol type and name must match the group's (INCONSISTENT_GROUP_PROTOCOL). A
// consumer-protocol member the leader assigned nothing gets a valid empty assignment rather than
// zero bytes, which some clients fail to decode.

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/netio"
)

func init() { register(14, 0, 5, serveSyncGroup) }

func serveSyncGroup(b *Broker, req *netio.Request, kreq kmsg.Request, w netio.ResponseWriter) {
	b.groups.SyncGroup(kreq.(*kmsg.SyncGroupRequest), func(resp *kmsg.SyncGroupResponse) { respond(w, resp) })
}
