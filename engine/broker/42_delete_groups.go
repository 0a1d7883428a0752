package broker

// DeleteGroups: v0-2. An empty group is removed with all its committed offsets; one with members
// gets NON_EMPTY_GROUP, an unknown one GROUP_ID_NOT_FOUND. Answered, off the event loop, once the
// deletions are in the group store.

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/netio"
)

func init() { register(42, 0, 2, serveDeleteGroups) }

func serveDeleteGroups(b *Broker, req *netio.Request, kreq kmsg.Request, w netio.ResponseWriter) {
	b.groups.DeleteGroups(kreq.(*kmsg.DeleteGroupsRequest), func(resp *kmsg.DeleteGroupsResponse) { respond(w, resp) })
}
