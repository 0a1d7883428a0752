package broker

// OffsetDelete: v0. Removes a group's committed offsets for some partitions. The group must be
// empty or use the consumer protocol (else NON_EMPTY_GROUP); partitions of topics its members
// subscribe to get GROUP_SUBSCRIBED_TO_TOPIC, of unknown topics UNKNOWN_TOPIC_OR_PARTITION; an
// unknown group is GROUP_ID_NOT_FOUND. Answered, off the event loop, once the deletion is in the
// group store.

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/netio"
)

func init() { register(47, 0, 0, serveOffsetDelete) }

func serveOffsetDelete(b *Broker, req *netio.Request, kreq kmsg.Request, w netio.ResponseWriter) {
	b.groups.OffsetDelete(kreq.(*kmsg.OffsetDeleteRequest), func(resp *kmsg.OffsetDeleteResponse) { respond(w, resp) })
}
