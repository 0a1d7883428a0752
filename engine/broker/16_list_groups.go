package broker

// ListGroups: v0-4. Every group this node coordinates — including groups that only hold offsets
// committed without membership (Empty, no protocol type) — by name; v4 filters by state,
// case-insensitively. v5's type filter (classic or KIP-848 consumer groups) is not served. In a
// cluster: the groups of the __consumer_offsets partitions this broker leads, and
// COORDINATOR_LOAD_IN_PROGRESS while one of them loads, as in Kafka.

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/netio"
)

func init() { register(16, 0, 4, simple(handleListGroups)) }

func handleListGroups(b *Broker, req *netio.Request, kreq kmsg.Request) kmsg.Response {
	return b.groups.ListGroups(kreq.(*kmsg.ListGroupsRequest))
}
